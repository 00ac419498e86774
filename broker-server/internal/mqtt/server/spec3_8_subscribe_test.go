package server_test

// MQTT 5.0 sections 3.8 to 3.11 (SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK)
// with the subscription options (3.8.3.1), 4.7 (topic names, filters,
// wildcards, $-topics), 4.8.2 (shared subscriptions) and retained messages
// (3.3.1.3).

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/sys"
)

func TestSpec4_7_WildcardsAndDollarTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	filters := []string{"#", "+/b/#", "a/+/c", "a/#", "$app/#", "+/x", "$app/+"}
	sinks := map[string]*sink3{}
	for i, f := range filters {
		s := newSink3()
		c := paho3(t, "tcp://"+b.tcp, fmt.Sprint("w", i), 4, true, s, nil)
		tok(t, c.Subscribe(f, 0, nil))
		sinks[f] = s
	}
	pub := paho3(t, "tcp://"+b.tcp, "wpub", 4, true, nil, nil)
	want := map[string][]string{
		"a/b/c":     {"#", "+/b/#", "a/+/c", "a/#"},
		"a":         {"#", "a/#"},
		"x/b":       {"#", "+/b/#"},
		"$app/x":    {"$app/#", "$app/+"},
		"$app/a/b":  {"$app/#"},
		"$other/x":  {},
		"a/b/c/d/e": {"#", "+/b/#", "a/#"},
	}
	topics := make([]string, 0, len(want))
	for tp := range want {
		topics = append(topics, tp)
	}
	sort.Strings(topics)
	expect := map[string][]string{}
	for _, tp := range topics {
		tok(t, pub.Publish(tp, 1, false, tp))
		for _, f := range want[tp] {
			expect[f] = append(expect[f], tp)
		}
	}
	for _, f := range filters {
		var got []string
		for range expect[f] {
			got = append(got, sinks[f].next(t).topic)
		}
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(expect[f]) {
			t.Fatalf("filter %s got %v, want %v", f, got, expect[f])
		}
	}
	time.Sleep(quiet)
	for f, s := range sinks {
		if len(s.ch) != 0 {
			t.Fatalf("filter %s got more: %+v", f, <-s.ch)
		}
	}
}

func TestSpec4_8_2_SharedSubscriptionSpreads(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	a, c := newSink5(), newSink5()
	for i, s := range []*sink5{a, c} {
		cl := paho5(t, b, &paho.Connect{ClientID: fmt.Sprint("sh", i), CleanStart: true, KeepAlive: 30}, s)
		if _, err := cl.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$share/g/s/+", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	// A 3.1.1 client can use a shared subscription as a plain filter name.
	o := newSink3()
	oc := paho3(t, "tcp://"+b.tcp, "sh3", 4, true, o, nil)
	tok(t, oc.Subscribe("$share/g/s/+", 1, nil))
	pub := paho3(t, "tcp://"+b.tcp, "shpub", 4, true, nil, nil)
	const n = 30
	for i := range n {
		tok(t, pub.Publish("s/x", 1, false, fmt.Sprint(i)))
	}
	seen := map[string]int{}
	counts := [3]int{}
	deadline := time.After(wait)
	for len(seen) < n {
		select {
		case m := <-a.ch:
			seen[string(m.Payload)]++
			counts[0]++
		case m := <-c.ch:
			seen[string(m.Payload)]++
			counts[1]++
		case m := <-o.ch:
			seen[m.payload]++
			counts[2]++
		case <-deadline:
			t.Fatalf("got %d of %d messages", len(seen), n)
		}
	}
	a.nothing(t)
	c.nothing(t)
	o.nothing(t)
	for k, v := range seen {
		if v != 1 {
			t.Fatalf("message %s delivered %d times", k, v)
		}
	}
	if counts != [3]int{10, 10, 10} {
		t.Fatalf("spread %v, want 10 each", counts)
	}
}

func TestSpec3_9_3_SubackReasonCodes(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *server.Config) { c.MaxTopicLevels = 3 })
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "sa", CleanStart: true})
	sa := r.subscribe(1, pk.Subscription{Filter: "a", QoS: 0}, pk.Subscription{Filter: "a/b/c/d", QoS: 1},
		pk.Subscription{Filter: "a/+", QoS: 2})
	if fmt.Sprint(sa.ReasonCodes) != fmt.Sprint([]pk.ReasonCode{0, pk.ReasonTopicFilterInvalid, 2}) {
		t.Fatalf("SUBACK %v", sa.ReasonCodes)
	}
	r3 := dialRaw(t, b, pk.V311)
	r3.mustConnect(&pk.Connect{ClientID: "sa3", CleanStart: true})
	sa = r3.subscribe(1, pk.Subscription{Filter: "a/b/c/d", QoS: 1}, pk.Subscription{Filter: "a", QoS: 1})
	if fmt.Sprint(sa.ReasonCodes) != fmt.Sprint([]pk.ReasonCode{pk.V3SubackFailure, 1}) {
		t.Fatalf("SUBACK %v", sa.ReasonCodes)
	}
	r.send(&pk.Unsubscribe{PacketID: 2, Filters: []string{"a", "nope"}})
	if ua, ok := r.recv().(*pk.Unsuback); !ok || fmt.Sprint(ua.ReasonCodes) != fmt.Sprint([]pk.ReasonCode{0, pk.ReasonNoSubscriptionExisted}) {
		t.Fatalf("UNSUBACK %+v", ua)
	}
}

func TestSpec3_10_UnsubscribeStopsDelivery(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	s := newSink3()
	c := paho3(t, "tcp://"+b.tcp, "un", 4, true, s, nil)
	tok(t, c.Subscribe("u/#", 1, nil))
	tok(t, c.Publish("u/1", 1, false, "before"))
	if m := s.next(t); m.payload != "before" {
		t.Fatalf("got %+v", m)
	}
	tok(t, c.Unsubscribe("u/#"))
	tok(t, c.Publish("u/1", 1, false, "after"))
	s.nothing(t)
}

func TestSpec3_3_1_3_RetainedSetReplaceDelete(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	pub := paho3(t, "tcp://"+b.tcp, "rpub", 4, true, nil, nil)
	live := newSink3()
	lc := paho3(t, "tcp://"+b.tcp, "rlive", 4, true, live, nil)
	tok(t, lc.Subscribe("r/#", 1, nil))

	tok(t, pub.Publish("r/a", 1, true, "one"))
	// An existing subscriber gets it with the retain flag clear (3.1.1).
	if m := live.next(t); m.payload != "one" || m.retained {
		t.Fatalf("live got %+v", m)
	}
	check := func(id string, want ...string) {
		t.Helper()
		s := newSink3()
		c := paho3(t, "tcp://"+b.tcp, id, 4, true, s, nil)
		tok(t, c.Subscribe("r/+", 2, nil))
		for _, w := range want {
			if m := s.next(t); m.payload != w || !m.retained || m.qos != 1 {
				t.Fatalf("%s got %+v, want retained %q at QoS 1", id, m, w)
			}
		}
		s.nothing(t)
	}
	check("r1", "one")
	tok(t, pub.Publish("r/a", 1, true, "two"))
	check("r2", "two")
	tok(t, pub.Publish("r/a", 1, true, ""))
	check("r3")
	if m := live.next(t); m.payload != "two" {
		t.Fatalf("live got %+v", m)
	}
	if m := live.next(t); m.payload != "" {
		t.Fatalf("live got %+v", m)
	}
}

func TestSpec3_8_3_1_RetainHandlingAndRetainAsPublished(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	pub := paho5(t, b, &paho.Connect{ClientID: "rhp", CleanStart: true}, nil)
	if _, err := pub.Publish(ctxT(t), &paho.Publish{Topic: "rh/a", QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	for rh, want := range []int{2, 1, 0} { // retained deliveries over two identical SUBSCRIBEs
		s := newSink5()
		c := paho5(t, b, &paho.Connect{ClientID: fmt.Sprint("rh", rh), CleanStart: true}, s)
		for range 2 {
			if _, err := c.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
				{Topic: "rh/#", QoS: 1, RetainHandling: byte(rh)}}}); err != nil {
				t.Fatal(err)
			}
		}
		for range want {
			if m := s.next(t); string(m.Payload) != "kept" || !m.Retain {
				t.Fatalf("retain handling %d: got %+v", rh, m)
			}
		}
		s.nothing(t)
	}
	// Retain as published keeps the flag on live messages.
	rap, plain := newSink5(), newSink5()
	for i, s := range []*sink5{rap, plain} {
		c := paho5(t, b, &paho.Connect{ClientID: fmt.Sprint("rap", i), CleanStart: true}, s)
		if _, err := c.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
			{Topic: "rap/x", QoS: 1, RetainHandling: 2, RetainAsPublished: i == 0}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Publish(ctxT(t), &paho.Publish{Topic: "rap/x", QoS: 1, Retain: true, Payload: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	if m := rap.next(t); !m.Retain {
		t.Fatal("retain as published: flag cleared")
	}
	if m := plain.next(t); m.Retain {
		t.Fatal("without retain as published: flag kept")
	}
}

// MQTT 5.0 section 3.8.3.1: no local.
func TestSpec3_8_3_1_NoLocal(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	self, other := newSink5(), newSink5()
	sc := paho5(t, b, &paho.Connect{ClientID: "nl", CleanStart: true}, self)
	oc := paho5(t, b, &paho.Connect{ClientID: "nlo", CleanStart: true}, other)
	if _, err := sc.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "nl/x", QoS: 1, NoLocal: true}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := oc.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "nl/x", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Publish(ctxT(t), &paho.Publish{Topic: "nl/x", QoS: 1, Payload: []byte("mine")}); err != nil {
		t.Fatal(err)
	}
	if m := other.next(t); string(m.Payload) != "mine" {
		t.Fatalf("other got %q", m.Payload)
	}
	self.nothing(t)
}

// MQTT 5.0 section 3.8.4 (3.1.1 the same): a SUBSCRIBE with several
// filters is handled as a sequence of one-filter SUBSCRIBEs. A filter that
// breaks the topic filter rules (section 4.7.1, 4.8.2) fails alone with
// 0x8F Topic Filter invalid (3.1.1: 0x80 Failure), the others are granted
// and the connection stays up. What the packet rules make a malformed
// packet or a protocol error (reserved option bits, no local on a shared
// subscription) still closes the connection.
func TestSpec3_8_4_SubscribePerFilterFailure(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	pub := paho3(t, "tcp://"+b.tcp, "pfp", 4, true, nil, nil)

	// MQTT 5 with paho.golang: 0x8F for the broken filters, with a reason
	// string naming them.
	s := newSink5()
	c := paho5(t, b, &paho.Connect{ClientID: "pf5", CleanStart: true, KeepAlive: 30}, s)
	sa, err := c.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "pf/ok", QoS: 1}, {Topic: "pf/a#", QoS: 1}, {Topic: "$share//pf", QoS: 1}, {Topic: "pf/+/ok", QoS: 2}}})
	if sa == nil || !bytes.Equal(sa.Reasons, []byte{1, 0x8F, 0x8F, 2}) {
		t.Fatalf("SUBACK %+v (%v), want reasons 01 8F 8F 02", sa, err)
	}
	if err == nil {
		t.Fatal("paho.golang did not report the failed subscriptions")
	}
	if sa.Properties == nil || !strings.Contains(sa.Properties.ReasonString, "filter 2") ||
		!strings.Contains(sa.Properties.ReasonString, "filter 3") || strings.Contains(sa.Properties.ReasonString, "filter 4") {
		t.Fatalf("SUBACK reason string %+v", sa.Properties)
	}
	for _, topic := range []string{"pf/ab", "pf/ok", "pf/x/ok", "pf/a"} {
		tok(t, pub.Publish(topic, 1, false, topic))
	}
	for _, want := range []string{"pf/ok", "pf/x/ok"} {
		if m := s.next(t); m.Topic != want {
			t.Fatalf("got %s, want %s", m.Topic, want)
		}
	}
	s.nothing(t)
	select {
	case d := <-c.disconnects:
		t.Fatalf("client disconnected: %+v", d)
	default:
	}

	// MQTT 3.1.1 with paho.mqtt.golang: 0x80 for the broken filters.
	s3 := newSink3()
	c3 := paho3(t, "tcp://"+b.tcp, "pf3", 4, true, s3, nil)
	k := c3.SubscribeMultiple(map[string]byte{"pf3/ok": 1, "pf3/a+b": 1, "pf3/x#": 2}, nil)
	tok(t, k)
	if got := k.(*mqtt3.SubscribeToken).Result(); fmt.Sprint(got) != fmt.Sprint(map[string]byte{"pf3/a+b": 0x80, "pf3/ok": 1, "pf3/x#": 0x80}) {
		t.Fatalf("SUBACK %v", got)
	}
	tok(t, pub.Publish("pf3/ok", 1, false, "3"))
	if m := s3.next(t); m.topic != "pf3/ok" || m.qos != 1 {
		t.Fatalf("got %+v", m)
	}
	s3.nothing(t)
	if !c3.IsConnectionOpen() {
		t.Fatal("3.1.1 client disconnected")
	}

	// UNSUBSCRIBE: 0x8F for a broken filter, the others handled.
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "pfu", CleanStart: true})
	r.subscribe(1, pk.Subscription{Filter: "pfu/a", QoS: 1})
	r.send(&pk.Unsubscribe{PacketID: 2, Filters: []string{"pfu/a", "pfu/#/x", "pfu/b"}})
	ua, ok := r.recv().(*pk.Unsuback)
	if !ok || fmt.Sprint(ua.ReasonCodes) != fmt.Sprint([]pk.ReasonCode{0, pk.ReasonTopicFilterInvalid, pk.ReasonNoSubscriptionExisted}) {
		t.Fatalf("UNSUBACK %+v", ua)
	}
	if rs, _ := reasonString(ua); !strings.Contains(rs, "filter 2") {
		t.Fatalf("UNSUBACK reason string %q", rs)
	}
	r.nothing()

	// Packet-level errors close the connection: no local on a shared
	// subscription is a protocol error (section 3.8.3.1, hand-encoded: the
	// codec refuses to write it) ...
	r = dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "pfe", CleanStart: true})
	f := "$share/g/pf"
	r.sendBytes(append([]byte{0x82, byte(6 + len(f)), 0, 1, 0, 0, byte(len(f))}, append([]byte(f), 0x04)...))
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonProtocolError})
	// ... and reserved subscription option bits make a malformed packet.
	r = dialRaw(t, b, pk.V311)
	r.mustConnect(&pk.Connect{ClientID: "pfe3", CleanStart: true})
	r.sendBytes([]byte{0x82, 0x0B, 0, 1, 0, 2, 'o', 'k', 0x01, 0, 2, 'n', 0x04})
	r.closed(nil)
}

// MQTT 5.0 section 4.7.2: topics beginning with $. The broker's statistics
// (package sys) are retained messages under $SYS/brokers/{node}/; a
// subscription to $SYS/... gets them, filters starting with a wildcard
// ('#', '+/brokers/#') do not, clients cannot publish there, and
// mosquitto_sub reads one.
func TestSpec4_7_2_SysTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	rep := sys.New(b.srv, sys.PublisherFunc(func(ctx context.Context, m *core.Message) error {
		_, err := b.core.Publish(ctx, m)
		return err
	}),
		sys.Options{Interval: 50 * time.Millisecond, Node: "n1"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	all := newSink3()
	ac := paho3(t, "tcp://"+b.tcp, "sys-all", 4, true, all, nil)
	tok(t, ac.SubscribeMultiple(map[string]byte{"#": 0, "+/brokers/#": 0}, nil))
	ss := newSink3()
	sc := paho3(t, "tcp://"+b.tcp, "sys-sub", 4, true, ss, nil)
	tok(t, sc.Subscribe("$SYS/brokers/n1/#", 0, nil))
	pub := paho3(t, "tcp://"+b.tcp, "sys-pub", 4, true, nil, nil)
	tok(t, pub.Publish("app/x", 1, false, "hello"))

	if m := all.next(t); m.topic != "app/x" {
		t.Fatalf("wildcard subscriber got %+v", m)
	}
	all.nothing(t) // several readings were published meanwhile

	// Every statistic arrives; the connected clients settle at 3, and the
	// publish above is counted.
	seen := map[string]string{}
	for seen["clients/connected"] != "3" || seen["subscriptions/count"] != "3" || len(seen) < 9 ||
		seen["messages/received"] == "0" || seen["messages/received"] == "" {
		m := ss.next(t)
		if !strings.HasPrefix(m.topic, "$SYS/brokers/n1/") {
			t.Fatalf("got %+v", m)
		}
		seen[strings.TrimPrefix(m.topic, "$SYS/brokers/n1/")] = m.payload
	}
	for _, k := range []string{"version", "uptime", "sessions/count", "messages/sent", "bytes/received", "bytes/sent"} {
		if seen[k] == "" {
			t.Fatalf("no %s in %v", k, seen)
		}
	}

	// Clients cannot publish there: MQTT 5 QoS 1 and 2 get 0x87 Not
	// authorized, 3.1.1 a plain PUBACK; nothing is delivered or retained.
	p5 := paho5(t, b, &paho.Connect{ClientID: "sys-spoof", CleanStart: true, KeepAlive: 30}, nil)
	for qos := byte(1); qos <= 2; qos++ {
		pr, err := p5.Publish(ctxT(t), &paho.Publish{Topic: "$SYS/brokers/n1/version", QoS: qos, Retain: true, Payload: []byte("spoof")})
		if pr == nil || pr.ReasonCode != byte(pk.ReasonNotAuthorized) || pr.Properties == nil || pr.Properties.ReasonString == "" {
			t.Fatalf("QoS %d: publish to $SYS answered %+v, %v", qos, pr, err)
		}
	}
	tok(t, pub.Publish("$SYS/brokers/n1/version", 1, true, "spoof"))
	tok(t, pub.Publish("$SYS/brokers/n1/version", 2, true, "spoof"))
	// Nor through a will: CONNACK 0x87 (3.1.1: 0x05 not authorized).
	for v, want := range map[pk.Version]pk.ReasonCode{pk.V5: pk.ReasonNotAuthorized, pk.V311: pk.V3NotAuthorized} {
		r := dialRaw(t, b, v)
		r.send(&pk.Connect{Level: v, ClientID: "sys-will", CleanStart: true, Will: &pk.Will{Topic: "$SYS/brokers/n1/version", Payload: []byte("spoof")}})
		r.closed(&pk.Connack{ReasonCode: want})
	}
	late := newSink3()
	tok(t, paho3(t, "tcp://"+b.tcp, "sys-late", 4, true, late, nil).Subscribe("$SYS/brokers/n1/version", 0, nil))
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		select {
		case m := <-ss.ch:
			if m.payload == "spoof" {
				t.Fatalf("spoofed statistic delivered: %+v", m)
			}
		case m := <-late.ch:
			if m.payload == "spoof" {
				t.Fatalf("spoofed statistic retained: %+v", m)
			}
		case <-time.After(10 * time.Millisecond):
		}
	}

	mosquittoSub := mosquitto(t, "mosquitto_sub")
	out, err := runCmd(t, 10*time.Second, mosquittoSub, "-h", "127.0.0.1", "-p", port(b), "-V", "mqttv311",
		"-t", "$SYS/brokers/+/uptime", "-v", "-C", "1", "-W", "5")
	if err != nil || !strings.HasPrefix(out, "$SYS/brokers/n1/uptime ") {
		t.Fatalf("mosquitto_sub: %q, %v", out, err)
	}
}
