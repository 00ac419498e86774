package mqtt

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

// Two brokers over one placement center and one journal node: what a
// client does on one broker reaches clients of the other.
func TestIntegrationTwoBrokers(t *testing.T) {
	c := startCluster(t, 2)

	// A publish on broker 1 reaches a subscriber on broker 2, at every
	// QoS, through wildcards; the subscription's QoS caps the delivery.
	t.Run("PublishOnOneReceiveOnOther", func(t *testing.T) {
		for q := byte(0); q <= 2; q++ {
			s := newSink()
			sub := connect3(t, c.url(1), fmt.Sprint("x-sub-", q), true, s, nil)
			tok(t, sub.Subscribe(fmt.Sprintf("x%d/+/#", q), q, nil))
			pub := connect3(t, c.url(0), fmt.Sprint("x-pub-", q), true, nil, nil)
			routed(t, pub, fmt.Sprintf("x%d/probe/p", q), s)
			publishN(t, pub, fmt.Sprintf("x%d/a/b", q), "m", 2, 5)
			tok(t, pub.Publish(fmt.Sprintf("x%d", q), 1, false, "not matched"))
			for i := 0; i < 5; {
				m := s.next(t)
				if m.payload == "probe" {
					continue // a late route probe
				}
				if m.topic != fmt.Sprintf("x%d/a/b", q) || m.payload != fmt.Sprintf("m-%d", i) || m.qos != q {
					t.Fatalf("QoS %d: message %d is %+v", q, i, m)
				}
				i++
			}
			for end := time.After(300 * time.Millisecond); ; {
				select {
				case m := <-s.ch:
					if m.payload != "probe" {
						t.Fatalf("unexpected %+v", m)
					}
					continue
				case <-end:
				}
				break
			}
		}
	})

	// The brokers count what they did: broker 1 accepted the QoS 1/2
	// publishes above, stored them in the log and forwarded them; broker 2
	// received them.
	t.Run("Metrics", func(t *testing.T) {
		m1, m2 := scrape(t, c.brokers.Broker(0).HTTPAddr), scrape(t, c.brokers.Broker(1).HTTPAddr)
		for name, min := range map[string]float64{
			`robustmq_broker_mqtt_published_total{qos="1"}`: 1, `robustmq_broker_mqtt_published_total{qos="2"}`: 5,
			"robustmq_broker_cluster_log_appends_total": 6, "robustmq_broker_cluster_forwarded_total": 15,
		} {
			if m1[name] < min {
				t.Errorf("broker 1 %s = %v, want at least %v", name, m1[name], min)
			}
		}
		if m2["robustmq_broker_cluster_received_total"] < 15 || m2["robustmq_broker_mqtt_delivered_total"] < 15 {
			t.Errorf("broker 2 received %v, delivered %v", m2["robustmq_broker_cluster_received_total"], m2["robustmq_broker_mqtt_delivered_total"])
		}
	})

	// A shared subscription with one member on each broker: every message
	// reaches exactly one member, and both members get some.
	t.Run("SharedSubscriptionAcrossBrokers", func(t *testing.T) {
		s1, s2 := newSink(), newSink()
		m1 := connect3(t, c.url(0), "share-1", true, s1, nil)
		m2 := connect3(t, c.url(1), "share-2", true, s2, nil)
		tok(t, m1.Subscribe("$share/g/sh/#", 1, nil))
		tok(t, m2.Subscribe("$share/g/sh/#", 1, nil))
		// Each member also has a plain subscription to a probe topic so
		// the test can wait until both brokers see each other's routes.
		p1, p2 := newSink(), newSink()
		tok(t, m1.Subscribe("probe1/#", 0, func(_ mqtt3.Client, m mqtt3.Message) { p1.ch <- msg{payload: string(m.Payload())} }))
		tok(t, m2.Subscribe("probe2/#", 0, func(_ mqtt3.Client, m mqtt3.Message) { p2.ch <- msg{payload: string(m.Payload())} }))
		pub := connect3(t, c.url(0), "share-pub", true, nil, nil)
		pub2 := connect3(t, c.url(1), "share-pub2", true, nil, nil)
		routed(t, pub, "probe2/x", p2)
		routed(t, pub2, "probe1/x", p1)
		const n = 40
		publishN(t, pub, "sh/t", "s", 1, n)
		got := map[string]int{}
		from := [2]int{}
		deadline := time.After(wait)
		for len(got) < n {
			select {
			case m := <-s1.ch:
				got[m.payload]++
				from[0]++
			case m := <-s2.ch:
				got[m.payload]++
				from[1]++
			case <-deadline:
				t.Fatalf("got %d of %d; missing %v", len(got), n, missing(got, "s", n))
			}
		}
		time.Sleep(300 * time.Millisecond)
		for p, k := range got {
			if k != 1 {
				t.Errorf("%s delivered %d times", p, k)
			}
		}
		if len(s1.ch)+len(s2.ch) != 0 {
			t.Errorf("%d extra deliveries", len(s1.ch)+len(s2.ch))
		}
		if from[0] == 0 || from[1] == 0 {
			t.Fatalf("not split between the brokers: %v", from)
		}
		t.Logf("split %d on broker 1, %d on broker 2", from[0], from[1])
	})

	// A retained message set through broker 1 is delivered by broker 2 on
	// subscribe; an empty retained publish on broker 2 deletes it for both.
	t.Run("RetainedAcrossBrokers", func(t *testing.T) {
		pub := connect3(t, c.url(0), "ret-pub", true, nil, nil)
		tok(t, pub.Publish("ret/a", 1, true, "kept"))
		s := newSink()
		sub := connect3(t, c.url(1), "ret-sub", true, s, nil)
		var m msg
		for deadline := time.Now().Add(wait); ; {
			// The retained store reaches broker 2 through the watch; a
			// subscription made before it arrives sees nothing, so try
			// again.
			tok(t, sub.Subscribe("ret/#", 1, nil))
			select {
			case m = <-s.ch:
			case <-time.After(200 * time.Millisecond):
				tok(t, sub.Unsubscribe("ret/#"))
				if time.Now().After(deadline) {
					t.Fatal("retained message never reached broker 2")
				}
				continue
			}
			break
		}
		if m.payload != "kept" || !m.retain || m.qos != 1 {
			t.Fatalf("retained %+v", m)
		}
		pub2 := connect3(t, c.url(1), "ret-pub2", true, nil, nil)
		tok(t, pub2.Publish("ret/a", 1, true, ""))
		s.next(t) // the delete itself is delivered live to ret/#
		time.Sleep(300 * time.Millisecond)
		s3 := newSink()
		sub3 := connect3(t, c.url(0), "ret-sub3", true, s3, nil)
		tok(t, sub3.Subscribe("ret/#", 1, nil))
		s3.none(t, 500*time.Millisecond)
	})

	// The same client id connecting to the other broker takes the session
	// over: the first connection gets DISCONNECT 0x8E, the session (its
	// subscription) continues on the new broker.
	t.Run("TakeoverAcrossBrokers", func(t *testing.T) {
		expiry := uint32(300)
		first := connect5(t, c.brokers.Broker(0).MQTT, &paho.Connect{ClientID: "takeover", CleanStart: true,
			KeepAlive: 30, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		if _, err := first.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "to/#", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
		second := connect5(t, c.brokers.Broker(1).MQTT, &paho.Connect{ClientID: "takeover", CleanStart: false,
			KeepAlive: 30, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
		if !second.connack.SessionPresent {
			t.Fatal("session not present on the other broker")
		}
		select {
		case d := <-first.disconnects:
			if d.ReasonCode != 0x8E {
				t.Fatalf("first connection got DISCONNECT 0x%02x, want 0x8E", d.ReasonCode)
			}
		case <-time.After(wait):
			t.Fatal("first connection not told it was taken over")
		}
		pub := connect3(t, c.url(0), "to-pub", true, nil, nil)
		tok(t, pub.Publish("to/x", 1, false, "after takeover"))
		m, err := second.recv5()
		if err != nil || string(m.Payload) != "after takeover" {
			t.Fatalf("resumed session got %v %v", m, err)
		}
	})

	// kill -9 of the broker holding persistent sessions with queued QoS 1
	// messages: the clients reconnect to the other broker, resume their
	// sessions and receive every message that was acknowledged to the
	// publisher.
	t.Run("KillBrokerWithQueuedSessions", func(t *testing.T) {
		const clients, n = 4, 50
		for i := range clients {
			sub := connect3(t, c.url(1), fmt.Sprint("durable-", i), false, nil, nil)
			tok(t, sub.Subscribe(fmt.Sprintf("dq/%d", i), 1, nil))
			sub.Disconnect(100)
		}
		// One client stays online on broker 2 and receives part of its
		// messages before the kill.
		// It is slow (20 ms per message, acknowledged after its handler
		// returns), so the kill finds messages in flight to it.
		online := newSink()
		on := connect3(t, c.url(1), "durable-online", false, nil, func(o *mqtt3.ClientOptions) {
			o.SetOrderMatters(true)
			o.SetDefaultPublishHandler(func(cl mqtt3.Client, m mqtt3.Message) {
				time.Sleep(20 * time.Millisecond)
				online.handler(cl, m)
			})
		})
		tok(t, on.Subscribe("dq/online", 1, nil))

		pub := connect3(t, c.url(0), "dq-pub", true, nil, nil)
		for i := range clients {
			publishN(t, pub, fmt.Sprintf("dq/%d", i), fmt.Sprint("c", i), 1, n)
		}
		publishN(t, pub, "dq/online", "on", 1, n)
		before := online.collect(5, wait)
		if len(before) < 5 {
			t.Fatalf("online client got %d before the kill", len(before))
		}

		c.brokers.Broker(1).Kill9()
		defer c.brokers.Broker(1).Restart()
		// What the online client received before the kill counts too.
		for drained := false; !drained; {
			select {
			case m := <-online.ch:
				before[m.payload]++
			default:
				drained = true
			}
		}
		for i := range clients {
			s := newSink()
			connect3(t, c.url(0), fmt.Sprint("durable-", i), false, s, nil)
			got := s.collect(n, wait)
			if miss := missing(got, fmt.Sprint("c", i), n); len(miss) > 0 {
				t.Fatalf("client %d lost %d of %d acknowledged messages: %v", i, len(miss), n, miss)
			}
		}
		s := newSink()
		connect3(t, c.url(0), "durable-online", false, s, nil)
		got := s.collectInto(maps.Clone(before), n, wait)
		again := 0
		for p, k := range got {
			again += k - before[p]
		}
		again -= len(got) - len(before)
		if miss := missing(got, "on", n); len(miss) > 0 {
			t.Fatalf("online client lost %d: %v", len(miss), miss)
		}
		t.Logf("online client: %d received before the kill, %d after the resume, %d of them again", len(before), len(got)-len(before)+again, again)
	})

	// A will message fires when the broker holding its client dies.
	t.Run("WillWhenBrokerDies", func(t *testing.T) {
		s := newSink()
		sub := connect3(t, c.url(0), "will-watcher", true, s, nil)
		tok(t, sub.Subscribe("wills/#", 1, nil))
		connect3(t, c.url(1), "will-owner", true, nil, func(o *mqtt3.ClientOptions) {
			o.SetWill("wills/owner", "owner gone", 1, false)
		})
		s.none(t, 300*time.Millisecond)
		killed := time.Now()
		c.brokers.Broker(1).Kill9()
		defer c.brokers.Broker(1).Restart()
		m := s.next(t)
		if m.topic != "wills/owner" || m.payload != "owner gone" {
			t.Fatalf("got %+v", m)
		}
		t.Logf("will published %v after the kill", time.Since(killed).Round(time.Millisecond))
		s.none(t, 2*time.Second) // once
	})
}

// Debian's mosquitto clients against two brokers: mosquitto_sub on broker 2
// receives what mosquitto_pub sends to broker 1 (MQTT 5, 3.1.1 and 3.1),
// and an MQTT 5 persistent session (clean start off, session expiry set)
// gets the QoS 2 messages published while it was away exactly once when
// it comes back on the other broker.
func TestIntegrationTwoBrokersMosquittoAndQoS2Resume(t *testing.T) {
	c := startCluster(t, 2)
	b1, b2 := c.brokers.Broker(0), c.brokers.Broker(1)
	if _, err := exec.LookPath("mosquitto_sub"); err != nil {
		t.Fatal("mosquitto_sub not installed (apt-get install mosquitto-clients; .ci/run does)")
	}
	for _, v := range []string{"mqttv5", "mqttv311", "mqttv31"} {
		t.Run("mosquitto-"+v, func(t *testing.T) {
			topic := "mq/" + v
			host, port := splitAddr(t, b2.MQTT)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			sub := exec.CommandContext(ctx, "mosquitto_sub", "-h", host, "-p", port, "-V", v, "-q", "2",
				"-t", topic+"/#", "-v", "-i", "msub-"+v)
			lines := mosquittoLines(t, sub)
			// Probe from broker 1 until mosquitto_sub prints a probe: then
			// it is subscribed and broker 1 has its route.
			pub := connect3(t, "tcp://"+b1.MQTT, "mpub-probe-"+v, true, nil, nil)
			for seen := false; !seen; {
				tok(t, pub.Publish(topic+"/probe", 0, false, "probe"))
				select {
				case l := <-lines:
					seen = l == topic+"/probe probe"
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
					t.Fatal("mosquitto_sub never received a probe")
				}
			}
			host1, port1 := splitAddr(t, b1.MQTT)
			want := map[string]bool{}
			for q := range 3 {
				msgArg := fmt.Sprintf("hello-%d", q)
				cmd := exec.CommandContext(ctx, "mosquitto_pub", "-h", host1, "-p", port1, "-V", v, "-q", fmt.Sprint(q),
					"-t", fmt.Sprintf("%s/m%d", topic, q), "-m", msgArg, "-i", fmt.Sprintf("mpub-%s-%d", v, q))
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("mosquitto_pub: %v %s", err, b)
				}
				want[fmt.Sprintf("%s/m%d %s", topic, q, msgArg)] = true
			}
			for len(want) > 0 {
				select {
				case l := <-lines:
					delete(want, l)
				case <-ctx.Done():
					t.Fatalf("mosquitto_sub did not print %v", want)
				}
			}
		})
	}

	t.Run("QoS2ResumeOnOtherBroker", func(t *testing.T) {
		expiry := uint32(600)
		cp := &paho.Connect{ClientID: "q2-durable", CleanStart: true, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
		first := connect5(t, b2.MQTT, cp)
		if _, err := first.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "q2/#", QoS: 2}}}); err != nil {
			t.Fatal(err)
		}
		if err := first.Disconnect(&paho.Disconnect{}); err != nil {
			t.Fatal(err)
		}
		pub := connect5(t, b1.MQTT, &paho.Connect{ClientID: "q2-pub", CleanStart: true, KeepAlive: 30})
		const n = 20
		for i := range n {
			if _, err := pub.Publish(ctxT(t), &paho.Publish{Topic: fmt.Sprintf("q2/%d", i%3), QoS: 2,
				Payload: []byte(fmt.Sprint("x-", i))}); err != nil {
				t.Fatal(err)
			}
		}
		cp.CleanStart = false
		back := connect5(t, b1.MQTT, cp)
		if !back.connack.SessionPresent {
			t.Fatal("session not present")
		}
		got := map[string]int{}
		for len(got) < n {
			m, err := back.recv5()
			if err != nil {
				t.Fatalf("got %d of %d: %v", len(got), n, err)
			}
			if m.QoS != 2 {
				t.Fatalf("QoS %d", m.QoS)
			}
			got[string(m.Payload)]++
		}
		select {
		case m := <-back.msgs:
			t.Fatalf("extra delivery %q", m.Payload)
		case <-time.After(500 * time.Millisecond):
		}
		for p, k := range got {
			if k != 1 {
				t.Fatalf("%s delivered %d times", p, k)
			}
		}
	})
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// mosquittoLines starts cmd and returns its output lines; the process is
// killed when the test ends.
func mosquittoLines(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// scrape reads a broker's /metrics into name{labels} → value.
func scrape(t *testing.T, httpAddr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
