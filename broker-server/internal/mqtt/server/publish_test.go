package server_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
)

// MQTT 3.1.1 sections 3.3-3.7 and 4.3 / 5.0 same sections: PUBLISH with
// QoS 0, 1 and 2, delivered at min(publish QoS, subscription QoS).

func TestPubSubQoSDowngrade(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	for _, v := range []uint{3, 4} {
		t.Run(fmt.Sprintf("level%d", v), func(t *testing.T) {
			subs := make([]*sink3, 3)
			for sq := range 3 {
				subs[sq] = newSink3()
				c := paho3(t, "tcp://"+b.tcp, fmt.Sprintf("sub%d-%d", v, sq), v, true, subs[sq], nil)
				tok(t, c.Subscribe(fmt.Sprintf("q%d/t", v), byte(sq), nil))
			}
			pub := paho3(t, "tcp://"+b.tcp, fmt.Sprintf("pub%d", v), v, true, nil, nil)
			for pq := range 3 {
				tok(t, pub.Publish(fmt.Sprintf("q%d/t", v), byte(pq), false, fmt.Sprintf("m%d", pq)))
			}
			for sq := range 3 {
				for pq := range 3 {
					m := subs[sq].next(t)
					if m.payload != fmt.Sprintf("m%d", pq) || m.qos != byte(min(sq, pq)) || m.retained || m.dup {
						t.Fatalf("sub QoS %d got %+v for publish QoS %d", sq, m, pq)
					}
				}
				subs[sq].nothing(t)
			}
		})
	}
}

func TestPubSubV5QoS2(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	sink := newSink5()
	sub := paho5(t, b, &paho.Connect{ClientID: "s5", CleanStart: true, KeepAlive: 30}, sink)
	if _, err := sub.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "v5/#", QoS: 2}}}); err != nil {
		t.Fatal(err)
	}
	pub := paho5(t, b, &paho.Connect{ClientID: "p5", CleanStart: true, KeepAlive: 30}, nil)
	for q := range 3 {
		if _, err := pub.Publish(ctxT(t), &paho.Publish{Topic: "v5/a", QoS: byte(q), Payload: []byte{byte(q)}}); err != nil {
			t.Fatal(err)
		}
	}
	for q := range 3 {
		if m := sink.next(t); m.QoS != byte(q) || m.Payload[0] != byte(q) {
			t.Fatalf("got QoS %d payload %v, want %d", m.QoS, m.Payload, q)
		}
	}
	sink.nothing(t)
}

// A QoS 2 PUBLISH sent again (DUP) before PUBREL is not delivered twice.
func TestQoS2DuplicateNotDeliveredTwice(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	sub := dialRaw(t, b, pk.V311)
	sub.mustConnect(&pk.Connect{ClientID: "sub", CleanStart: true, KeepAlive: 30})
	sub.subscribe(1, pk.Subscription{Filter: "d/q2", QoS: 2})
	pub := dialRaw(t, b, pk.V311)
	pub.mustConnect(&pk.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30})
	p := &pk.Publish{Topic: "d/q2", QoS: 2, PacketID: 7, Payload: []byte("once")}
	pub.send(p)
	if a, ok := pub.recv().(*pk.Pubrec); !ok || a.PacketID != 7 {
		t.Fatalf("want PUBREC 7, got %+v", a)
	}
	p.Dup = true
	pub.send(p)
	if a, ok := pub.recv().(*pk.Pubrec); !ok || a.PacketID != 7 {
		t.Fatalf("want PUBREC 7 again, got %+v", a)
	}
	pub.send(&pk.Pubrel{PacketID: 7})
	if a, ok := pub.recv().(*pk.Pubcomp); !ok || a.PacketID != 7 {
		t.Fatalf("want PUBCOMP 7, got %+v", a)
	}
	got := sub.publish()
	if string(got.Payload) != "once" || got.QoS != 2 {
		t.Fatalf("got %+v", got)
	}
	sub.send(&pk.Pubrec{PacketID: got.PacketID})
	if rel, ok := sub.recv().(*pk.Pubrel); !ok || rel.PacketID != got.PacketID {
		t.Fatalf("want PUBREL, got %+v", rel)
	}
	sub.send(&pk.Pubcomp{PacketID: got.PacketID})
	sub.nothing()
	// After PUBREL the same packet id is a new message.
	p.Dup = false
	pub.send(p)
	pub.recv()
	if got := sub.publish(); string(got.Payload) != "once" {
		t.Fatalf("got %+v", got)
	}
}

// The outbound in-flight window: at most MaxInflight unacknowledged.
func TestInflightWindow(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *server.Config) { c.MaxInflight = 2 })
	sub := dialRaw(t, b, pk.V311)
	sub.mustConnect(&pk.Connect{ClientID: "win", CleanStart: true, KeepAlive: 30})
	sub.subscribe(1, pk.Subscription{Filter: "w", QoS: 1})
	pub := paho3(t, "tcp://"+b.tcp, "wpub", 4, true, nil, nil)
	for i := range 4 {
		tok(t, pub.Publish("w", 1, false, fmt.Sprint(i)))
	}
	a, c := sub.publish(), sub.publish()
	sub.nothing()
	sub.send(&pk.Puback{PacketID: a.PacketID})
	d := sub.publish()
	sub.nothing()
	sub.send(&pk.Puback{PacketID: c.PacketID}, &pk.Puback{PacketID: d.PacketID})
	e := sub.publish()
	if string(a.Payload)+string(c.Payload)+string(d.Payload)+string(e.Payload) != "0123" {
		t.Fatalf("order %q %q %q %q", a.Payload, c.Payload, d.Payload, e.Payload)
	}
}

// Section 4.7: topic names and filters, wildcards, $-topics.

func TestWildcardsAndDollarTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	filters := []string{"#", "+/b/#", "a/+/c", "a/#", "$SYS/#", "+/x", "$SYS/+"}
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
		"$SYS/x":    {"$SYS/#", "$SYS/+"},
		"$SYS/a/b":  {"$SYS/#"},
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

// Section 4.8: shared subscriptions, one member per message.

func TestSharedSubscriptionSpreads(t *testing.T) {
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

// Section 3.8/3.9: SUBACK reason codes.

func TestSubackReasonCodes(t *testing.T) {
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

func TestUnsubscribeStopsDelivery(t *testing.T) {
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

// MQTT 5.0 section 3.1.2.11.4: never send a client a packet larger than its
// Maximum Packet Size; the message is dropped for that client.
func TestClientMaximumPacketSize(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "small", CleanStart: true, Props: pk.Properties{MaximumPacketSize: pk.Some[uint32](32)}})
	r.subscribe(1, pk.Subscription{Filter: "mp", QoS: 1})
	pub := paho3(t, "tcp://"+b.tcp, "mppub", 4, true, nil, nil)
	tok(t, pub.Publish("mp", 1, false, strings.Repeat("x", 100)))
	tok(t, pub.Publish("mp", 1, false, "fits"))
	if m := r.publish(); string(m.Payload) != "fits" {
		t.Fatalf("got %q", m.Payload)
	}
}

// MQTT 5.0 section 3.3.4: more unreleased QoS 2 publishes than our
// Receive Maximum is DISCONNECT 0x93.
func TestReceiveMaximumExceeded(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *server.Config) { c.ReceiveMaximum = 2 })
	r := dialRaw(t, b, pk.V5)
	if ca := r.mustConnect(&pk.Connect{ClientID: "rm", CleanStart: true}); ca.Props.ReceiveMaximum.Val != 2 {
		t.Fatalf("CONNACK receive maximum %+v", ca.Props.ReceiveMaximum)
	}
	for id := uint16(1); id <= 2; id++ {
		r.send(&pk.Publish{Topic: "rm", QoS: 2, PacketID: id})
		if p, ok := r.recv().(*pk.Pubrec); !ok || p.PacketID != id {
			t.Fatalf("got %+v", p)
		}
	}
	r.send(&pk.Publish{Topic: "rm", QoS: 2, PacketID: 3})
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonReceiveMaximumExceeded})
}
