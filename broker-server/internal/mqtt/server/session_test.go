package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
)

// MQTT 3.1.1 section 3.3.1.3 / 5.0 section 3.3.1.3: retained messages.

func TestRetainedSetReplaceDelete(t *testing.T) {
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

func TestRetainHandlingAndRetainAsPublished(t *testing.T) {
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
func TestNoLocal(t *testing.T) {
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

// Section 3.1.2.5 (3.1.1) / 3.1.3.2 (5.0): will messages.

func willSub(t *testing.T, b *broker, id string) *sink3 {
	s := newSink3()
	c := paho3(t, "tcp://"+b.tcp, id, 4, true, s, nil)
	tok(t, c.Subscribe("will/#", 1, nil))
	return s
}

func TestWillOnAbnormalDisconnect(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	s := willSub(t, b, "ws")
	for _, v := range []pk.Version{pk.V31, pk.V311, pk.V5} {
		r := dialRaw(t, b, v)
		r.mustConnect(&pk.Connect{ClientID: fmt.Sprint("w", v), CleanStart: true, KeepAlive: 30,
			Will: &pk.Will{Topic: "will/" + v.String(), Payload: []byte("gone"), QoS: 1}})
		r.c.Close()
		if m := s.next(t); m.topic != "will/"+v.String() || m.payload != "gone" {
			t.Fatalf("got %+v", m)
		}
	}
	// A normal DISCONNECT discards the will.
	r := dialRaw(t, b, pk.V311)
	r.mustConnect(&pk.Connect{ClientID: "wn", CleanStart: true, Will: &pk.Will{Topic: "will/n", Payload: []byte("x")}})
	r.send(&pk.Disconnect{})
	r.closed(nil)
	s.nothing(t)
	// MQTT 5 DISCONNECT 0x04 keeps it.
	r = dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "w4", CleanStart: true, Will: &pk.Will{Topic: "will/4", Payload: []byte("x")}})
	r.send(&pk.Disconnect{ReasonCode: pk.ReasonDisconnectWithWillMessage})
	r.closed(nil)
	if m := s.next(t); m.topic != "will/4" {
		t.Fatalf("got %+v", m)
	}
}

func TestWillOnKeepAliveExpiry(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	s := willSub(t, b, "wks")
	r := dialRaw(t, b, pk.V311)
	r.mustConnect(&pk.Connect{ClientID: "wk", CleanStart: true, KeepAlive: 1,
		Will: &pk.Will{Topic: "will/ka", Payload: []byte("silent"), Retain: true}})
	start := time.Now()
	if m := s.next(t); m.topic != "will/ka" || m.payload != "silent" {
		t.Fatalf("got %+v", m)
	}
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Fatalf("will after %v, want about 1.5s", d)
	}
	// The will was retained.
	s2 := newSink3()
	c := paho3(t, "tcp://"+b.tcp, "wk2", 4, true, s2, nil)
	tok(t, c.Subscribe("will/ka", 0, nil))
	if m := s2.next(t); !m.retained || m.payload != "silent" {
		t.Fatalf("got %+v", m)
	}
}

func TestWillDelayInterval(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	s := willSub(t, b, "wds")
	conn := func(id string) *raw {
		r := dialRaw(t, b, pk.V5)
		r.mustConnect(&pk.Connect{ClientID: id, CleanStart: false, KeepAlive: 30,
			Props: pk.Properties{SessionExpiryInterval: pk.Some[uint32](60)},
			Will: &pk.Will{Topic: "will/" + id, Payload: []byte("late"),
				Props: pk.Properties{WillDelayInterval: pk.Some[uint32](1)}}})
		return r
	}
	r := conn("wd")
	start := time.Now()
	r.c.Close()
	if m := s.next(t); m.topic != "will/wd" || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("got %+v after %v", m, time.Since(start))
	}
	// Reconnecting within the delay cancels the will.
	r = conn("wc")
	r.c.Close()
	time.Sleep(200 * time.Millisecond)
	conn("wc")
	select {
	case m := <-s.ch:
		t.Fatalf("cancelled will published: %+v", m)
	case <-time.After(1500 * time.Millisecond):
	}
}

// Section 4.4: persistent sessions, offline queueing, redelivery.

func TestPersistentSessionOfflineQueue(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	s := newSink3()
	c := paho3(t, "tcp://"+b.tcp, "ps", 4, false, s, nil)
	tok(t, c.Subscribe("ps/#", 1, nil))
	c.Disconnect(100)
	waitOffline(t, b, "ps")
	pub := paho3(t, "tcp://"+b.tcp, "pspub", 4, true, nil, nil)
	tok(t, pub.Publish("ps/x", 0, false, "qos0 is not queued"))
	for i := range 3 { // acknowledged in order: the QoS 0 message was routed
		tok(t, pub.Publish("ps/x", 1, false, fmt.Sprint("q", i)))
	}
	paho3(t, "tcp://"+b.tcp, "ps", 4, false, s, nil)
	for i := range 3 {
		if m := s.next(t); m.payload != fmt.Sprint("q", i) || m.qos != 1 {
			t.Fatalf("got %+v", m)
		}
	}
	s.nothing(t)
}

func TestRedeliveryWithDupOnResume(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	connect := func() (*raw, *pk.Connack) {
		r := dialRaw(t, b, pk.V311)
		return r, r.mustConnect(&pk.Connect{ClientID: "dup", KeepAlive: 30})
	}
	r, _ := connect()
	r.subscribe(1, pk.Subscription{Filter: "dup/#", QoS: 2})
	pub := paho3(t, "tcp://"+b.tcp, "duppub", 4, true, nil, nil)
	tok(t, pub.Publish("dup/1", 1, false, "one"))
	tok(t, pub.Publish("dup/2", 2, false, "two"))
	p1, p2 := r.publish(), r.publish()
	if p1.Dup || p2.Dup || p1.QoS != 1 || p2.QoS != 2 {
		t.Fatalf("first delivery %+v %+v", p1, p2)
	}
	r.c.Close() // neither acknowledged
	r, ca := connect()
	if !ca.SessionPresent {
		t.Fatal("session not present")
	}
	d1, d2 := r.publish(), r.publish()
	if !d1.Dup || !d2.Dup || d1.PacketID != p1.PacketID || d2.PacketID != p2.PacketID || string(d2.Payload) != "two" {
		t.Fatalf("redelivery %+v %+v", d1, d2)
	}
	r.send(&pk.Puback{PacketID: d1.PacketID}, &pk.Pubrec{PacketID: d2.PacketID})
	if rel, ok := r.recv().(*pk.Pubrel); !ok || rel.PacketID != d2.PacketID {
		t.Fatalf("want PUBREL, got %+v", rel)
	}
	r.c.Close() // PUBREL not completed: it is resent, not the PUBLISH
	r, _ = connect()
	if rel, ok := r.recv().(*pk.Pubrel); !ok || rel.PacketID != d2.PacketID {
		t.Fatalf("want PUBREL again, got %+v", rel)
	}
	r.send(&pk.Pubcomp{PacketID: d2.PacketID})
	r.nothing()
}

// MQTT 5.0 section 3.3.2.3: properties carried end to end, message expiry
// counted down while queued.

func TestV5PropertiesEndToEnd(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	s := newSink5()
	sc := paho5(t, b, &paho.Connect{ClientID: "props", CleanStart: true}, s)
	if _, err := sc.Subscribe(ctxT(t), &paho.Subscribe{Properties: &paho.SubscribeProperties{SubscriptionIdentifier: ptr(7)},
		Subscriptions: []paho.SubscribeOptions{{Topic: "pr/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pc := paho5(t, b, &paho.Connect{ClientID: "propp", CleanStart: true}, nil)
	pf := byte(1)
	if _, err := pc.Publish(ctxT(t), &paho.Publish{Topic: "pr/a", QoS: 1, Payload: []byte("{}"), Properties: &paho.PublishProperties{
		ContentType: "application/json", ResponseTopic: "pr/reply", CorrelationData: []byte{1, 2, 3},
		PayloadFormat: &pf, MessageExpiry: u32(100),
		User: paho.UserProperties{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}}}}); err != nil {
		t.Fatal(err)
	}
	m := s.next(t)
	p := m.Properties
	if p == nil || p.ContentType != "application/json" || p.ResponseTopic != "pr/reply" || string(p.CorrelationData) != "\x01\x02\x03" ||
		p.PayloadFormat == nil || *p.PayloadFormat != 1 || p.MessageExpiry == nil || *p.MessageExpiry > 100 || *p.MessageExpiry < 98 ||
		len(p.User) != 2 || p.User[0] != (paho.UserProperty{Key: "k", Value: "v1"}) || p.User[1].Value != "v2" ||
		p.SubscriptionIdentifier == nil || *p.SubscriptionIdentifier != 7 {
		t.Fatalf("properties %+v", p)
	}
}

func TestMessageExpiryWhileQueued(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	connect := func() *raw {
		r := dialRaw(t, b, pk.V5)
		r.mustConnect(&pk.Connect{ClientID: "mx", KeepAlive: 30, Props: pk.Properties{SessionExpiryInterval: pk.Some[uint32](60)}})
		return r
	}
	r := connect()
	r.subscribe(1, pk.Subscription{Filter: "mx/#", QoS: 1})
	r.send(&pk.Disconnect{})
	r.closed(nil)
	pub := dialRaw(t, b, pk.V5)
	pub.mustConnect(&pk.Connect{ClientID: "mxp", CleanStart: true})
	pub.send(&pk.Publish{Topic: "mx/short", QoS: 0, Payload: []byte("s"), Props: pk.Properties{MessageExpiryInterval: pk.Some[uint32](1)}})
	pub.send(&pk.Publish{Topic: "mx/short", QoS: 1, PacketID: 1, Payload: []byte("s"), Props: pk.Properties{MessageExpiryInterval: pk.Some[uint32](1)}})
	pub.send(&pk.Publish{Topic: "mx/long", QoS: 1, PacketID: 2, Payload: []byte("l"), Props: pk.Properties{MessageExpiryInterval: pk.Some[uint32](10)}})
	pub.recv()
	pub.recv()
	time.Sleep(2100 * time.Millisecond)
	r = connect()
	m := r.publish()
	if m.Topic != "mx/long" || !m.Props.MessageExpiryInterval.Set || m.Props.MessageExpiryInterval.Val > 8 || m.Props.MessageExpiryInterval.Val < 6 {
		t.Fatalf("got %s expiry %+v", m.Topic, m.Props.MessageExpiryInterval)
	}
	r.send(&pk.Puback{PacketID: m.PacketID})
	r.nothing()
}

// MQTT 5.0 section 3.3.2.3.4: topic aliases from the client.

func TestTopicAliasInbound(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	s := newSink3()
	c := paho3(t, "tcp://"+b.tcp, "tas", 4, true, s, nil)
	tok(t, c.Subscribe("ta/#", 0, nil))
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "ta", CleanStart: true})
	r.send(&pk.Publish{Topic: "ta/x", Payload: []byte("1"), Props: pk.Properties{TopicAlias: pk.Some[uint16](1)}})
	r.send(&pk.Publish{Topic: "", Payload: []byte("2"), Props: pk.Properties{TopicAlias: pk.Some[uint16](1)}})
	r.send(&pk.Publish{Topic: "ta/y", Payload: []byte("3"), Props: pk.Properties{TopicAlias: pk.Some[uint16](1)}})
	r.send(&pk.Publish{Topic: "", Payload: []byte("4"), Props: pk.Properties{TopicAlias: pk.Some[uint16](1)}})
	for _, w := range []string{"ta/x 1", "ta/x 2", "ta/y 3", "ta/y 4"} {
		if m := s.next(t); m.topic+" "+m.payload != w {
			t.Fatalf("got %+v, want %s", m, w)
		}
	}
	// Above the maximum (8): DISCONNECT 0x94.
	r.send(&pk.Publish{Topic: "ta/z", Props: pk.Properties{TopicAlias: pk.Some[uint16](9)}})
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonTopicAliasInvalid})
	// Alias 0 (hand-encoded: the codec refuses to write it): DISCONNECT 0x94.
	r = dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "ta0", CleanStart: true})
	r.sendBytes([]byte{0x30, 0x09, 0, 3, 't', 'a', '/', 3, 0x23, 0, 0})
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonTopicAliasInvalid})
	// An unknown alias with an empty topic: protocol error.
	r = dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "ta2", CleanStart: true})
	r.send(&pk.Publish{Topic: "", Props: pk.Properties{TopicAlias: pk.Some[uint16](2)}})
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonProtocolError})
	s.nothing(t)
}

// Section 4.13: a protocol error closes that connection only.
func TestMalformedPacketAffectsOnlyItsClient(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	s := newSink5()
	good := paho5(t, b, &paho.Connect{ClientID: "good", CleanStart: true, KeepAlive: 30}, s)
	if _, err := good.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "m/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	bad := dialRaw(t, b, pk.V5)
	bad.mustConnect(&pk.Connect{ClientID: "bad", CleanStart: true})
	bad.send(&pk.Publish{Topic: "m/1", QoS: 1, PacketID: 1, Payload: []byte("before")})
	bad.recv()
	bad.sendBytes([]byte{0x36, 0x05, 0, 3, 'm', '/', '2'}) // QoS 3
	bad.closed(&pk.Disconnect{ReasonCode: pk.ReasonMalformedPacket})
	bad3 := dialRaw(t, b, pk.V311)
	bad3.mustConnect(&pk.Connect{ClientID: "bad3", CleanStart: true})
	bad3.sendBytes([]byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}) // remaining length of five bytes
	bad3.closed(nil)
	bad3 = dialRaw(t, b, pk.V311)
	bad3.mustConnect(&pk.Connect{ClientID: "bad4", CleanStart: true})
	bad3.sendBytes([]byte{0x30, 0x05, 0, 3, 'm', '/', '+'}) // wildcard in a topic name
	bad3.closed(nil)
	if _, err := good.Publish(ctxT(t), &paho.Publish{Topic: "m/3", QoS: 1, Payload: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"before", "after"} {
		if m := s.next(t); string(m.Payload) != w {
			t.Fatalf("got %q, want %q", m.Payload, w)
		}
	}
	s.nothing(t)
	select {
	case d := <-good.disconnects:
		t.Fatalf("good client disconnected: %+v", d)
	default:
	}
}

func ptr(v int) *int { return &v }

// waitOffline waits until the client's session has no connection.
func waitOffline(t *testing.T, b *broker, id string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if s, ok := b.core.Session(id); ok && !s.Online() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("session %s still online", id)
}
