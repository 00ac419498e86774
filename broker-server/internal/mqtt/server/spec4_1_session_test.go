package server_test

// MQTT 5.0 section 4.1 (session state: persistent sessions, offline
// queues, redelivery) and will messages (3.1.2.5, 3.1.3.2).

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
)

func willSub(t *testing.T, b *broker, id string) *sink3 {
	s := newSink3()
	c := paho3(t, "tcp://"+b.tcp, id, 4, true, s, nil)
	tok(t, c.Subscribe("will/#", 1, nil))
	return s
}

func TestSpec3_1_2_5_WillOnAbnormalDisconnect(t *testing.T) {
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

func TestSpec3_1_2_5_WillOnKeepAliveExpiry(t *testing.T) {
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

func TestSpec3_1_3_2_WillDelayInterval(t *testing.T) {
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

func TestSpec4_1_PersistentSessionOfflineQueue(t *testing.T) {
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

func TestSpec4_4_RedeliveryWithDupOnResume(t *testing.T) {
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

// MQTT 5.0 section 3.14.2.2.2: DISCONNECT may change the session expiry
// interval (to 0: the session ends now), but not from 0 on CONNECT to
// anything else (protocol error).
func TestSpec3_14_2_2_2_SessionExpiryOnDisconnect(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	connect := func(id string) *client5 {
		return paho5(t, b, &paho.Connect{ClientID: id, KeepAlive: 30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(60)}}, nil)
	}
	for _, c := range []struct {
		id      string
		expiry  *uint32 // on DISCONNECT; nil: not set
		present bool
	}{{"sed-keep", nil, true}, {"sed-zero", u32(0), false}, {"sed-longer", u32(120), true}} {
		cl := connect(c.id)
		if err := cl.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: c.expiry}}); err != nil {
			t.Fatal(err)
		}
		waitGone := time.Now().Add(wait)
		for c.expiry != nil && *c.expiry == 0 && time.Now().Before(waitGone) {
			if _, ok := b.core.Session(c.id); !ok {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !c.present {
			if _, ok := b.core.Session(c.id); ok {
				t.Fatalf("%s: session kept after DISCONNECT with expiry 0", c.id)
			}
		} else {
			waitOffline(t, b, c.id)
		}
		if cl = connect(c.id); cl.connack.SessionPresent != c.present {
			t.Fatalf("%s: session present %v, want %v", c.id, cl.connack.SessionPresent, c.present)
		}
		if s, _ := b.core.Session(c.id); c.expiry != nil && *c.expiry == 120 && s.Expiry() != 60 {
			t.Fatalf("%s: expiry %d after reconnecting with 60", c.id, s.Expiry())
		}
	}
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "sed-bad", CleanStart: true})
	r.send(&pk.Disconnect{Props: pk.Properties{SessionExpiryInterval: pk.Some[uint32](30)}})
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonProtocolError})
}

// MQTT 5.0 section 3.1.3.2.2: the will is published when the will delay
// ends or when the session ends, whichever is first.
func TestSpec3_1_3_2_2_WillAtSessionEnd(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	s := willSub(t, b, "wse-sub")
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "wse", CleanStart: true, KeepAlive: 30,
		Props: pk.Properties{SessionExpiryInterval: pk.Some[uint32](1)},
		Will:  &pk.Will{Topic: "will/wse", Payload: []byte("ended"), Props: pk.Properties{WillDelayInterval: pk.Some[uint32](300)}}})
	r.c.Close()
	if m := s.next(t); m.topic != "will/wse" || m.payload != "ended" {
		t.Fatalf("got %+v", m)
	}
	s.nothing(t)
}
