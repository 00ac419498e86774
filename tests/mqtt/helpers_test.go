package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// wait bounds one client operation or one expected message.
const wait = 15 * time.Second

// cluster is one placement member, one journal node and two brokers.
type cluster struct {
	placement *harness.PlacementCluster
	journal   *harness.JournalCluster
	brokers   *harness.BrokerCluster
}

func startCluster(t *testing.T, brokers int) *cluster {
	t.Helper()
	pc := harness.StartPlacement(t, harness.PlacementOptions{Members: 1})
	jc := harness.StartJournal(t, harness.JournalOptions{Nodes: 1, Placement: pc.Addrs()})
	bc := harness.StartBroker(t, harness.BrokerOptions{Brokers: brokers, Placement: pc.Addrs(),
		Env: []string{"ROBUSTMQ_BROKER_CLUSTER_COMMIT_INTERVAL=100ms", "ROBUSTMQ_BROKER_CLUSTER_SWEEP_INTERVAL=500ms"}})
	return &cluster{placement: pc, journal: jc, brokers: bc}
}

func (c *cluster) url(i int) string { return "tcp://" + c.brokers.Broker(i).MQTT }

// ---- paho.mqtt.golang (MQTT 3.1.1)

type msg struct {
	topic   string
	payload string
	qos     byte
	retain  bool
}

// sink collects the messages a client receives.
type sink struct{ ch chan msg }

func newSink() *sink { return &sink{ch: make(chan msg, 10000)} }

func (s *sink) handler(_ mqtt3.Client, m mqtt3.Message) {
	s.ch <- msg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
}

func (s *sink) next(t *testing.T) msg {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return msg{}
}

// none checks that nothing arrives for d.
func (s *sink) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.ch:
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(d):
	}
}

// collect reads until n distinct payloads arrived or timeout, and returns
// how often each payload arrived.
func (s *sink) collect(n int, timeout time.Duration) map[string]int {
	return s.collectInto(map[string]int{}, n, timeout)
}

// collectInto is collect adding to what got holds already.
func (s *sink) collectInto(got map[string]int, n int, timeout time.Duration) map[string]int {
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case m := <-s.ch:
			got[m.payload]++
		case <-deadline:
			return got
		}
	}
	return got
}

func connect3(t *testing.T, url, id string, clean bool, s *sink, mod func(*mqtt3.ClientOptions)) mqtt3.Client {
	t.Helper()
	return harness.ConnectPaho(t, url, id, func(o *mqtt3.ClientOptions) {
		// In order: with OrderMatters(false) Paho runs every handler in a
		// goroutine of its own, so a sink could see m-1 before m-0 and the
		// tests that check order would fail at random. Handlers here only
		// send to a buffered channel, so they never hold Paho's loop up.
		o.SetCleanSession(clean).SetOrderMatters(true)
		if s != nil {
			o.SetDefaultPublishHandler(s.handler)
		}
		if mod != nil {
			mod(o)
		}
	})
}

func tok(t *testing.T, k mqtt3.Token) {
	t.Helper()
	harness.WaitToken(t, "token", k)
}

// routed waits until a publish on pub reaches the subscriber sink on topic
// (the subscriber's broker route has spread to the publisher's broker):
// it publishes QoS 0 probes until one arrives, then drains the probes.
func routed(t *testing.T, pub mqtt3.Client, topic string, s *sink) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		tok(t, pub.Publish(topic, 0, false, "probe"))
		select {
		case m := <-s.ch:
			if m.payload != "probe" {
				t.Fatalf("got %+v while probing the route", m)
			}
			// Later probes may still be on their way.
			for {
				select {
				case <-s.ch:
				case <-time.After(300 * time.Millisecond):
					return
				}
			}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no route to the subscriber of %s", topic)
		}
	}
}

// ---- paho.golang (MQTT 5)

type client5 struct {
	*paho.Client
	msgs        chan *paho.Publish
	disconnects chan *paho.Disconnect
	connack     *paho.Connack
}

func connect5(t *testing.T, addr string, cp *paho.Connect) *client5 {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	c := &client5{msgs: make(chan *paho.Publish, 1000), disconnects: make(chan *paho.Disconnect, 4)}
	var mu sync.Mutex
	c.Client = paho.NewClient(paho.ClientConfig{ClientID: cp.ClientID, Conn: nc, PacketTimeout: wait,
		OnServerDisconnect: func(d *paho.Disconnect) { c.disconnects <- d },
		OnClientError:      func(error) {},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			c.msgs <- pr.Packet
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		nc.Close()
		t.Fatalf("connect %s: %v", cp.ClientID, err)
	}
	c.connack = ca
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		nc.Close()
	})
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// publishN publishes n QoS q messages "<prefix>-<i>" to topic and fails
// unless every one is acknowledged.
func publishN(t *testing.T, c mqtt3.Client, topic, prefix string, q byte, n int) {
	t.Helper()
	for i := range n {
		tok(t, c.Publish(topic, q, false, fmt.Sprintf("%s-%d", prefix, i)))
	}
}

// missing lists the payloads "<prefix>-<i>", i < n, that got lacks.
func missing(got map[string]int, prefix string, n int) []string {
	var out []string
	for i := range n {
		if p := fmt.Sprintf("%s-%d", prefix, i); got[p] == 0 {
			out = append(out, p)
		}
	}
	return out
}

var errTimeout = errors.New("timed out")

// recv5 waits for one message on c.
func (c *client5) recv5() (*paho.Publish, error) {
	select {
	case m := <-c.msgs:
		return m, nil
	case <-time.After(wait):
		return nil, errTimeout
	}
}
