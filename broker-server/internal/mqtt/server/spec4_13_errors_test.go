package server_test

// MQTT 5.0 section 4.13 (handling errors): a malformed packet or protocol
// error closes that connection, with DISCONNECT and a reason code in MQTT
// 5, and never affects another client.

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
)

// Section 4.13: a protocol error closes that connection only.
func TestSpec4_13_MalformedPacketAffectsOnlyItsClient(t *testing.T) {
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

// MQTT 5.0 section 3.2.2.3.6: a packet larger than the Maximum Packet Size
// in our CONNACK is DISCONNECT 0x95 with a reason string (3.1.1: the
// connection is closed).
func TestSpec3_2_2_3_6_PacketTooLarge(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *server.Config) { c.MaxPacketSize = 64 })
	r := dialRaw(t, b, pk.V5)
	if ca := r.mustConnect(&pk.Connect{ClientID: "big", CleanStart: true}); ca.Props.MaximumPacketSize.Val != 64 {
		t.Fatalf("CONNACK maximum packet size %+v", ca.Props.MaximumPacketSize)
	}
	r.send(&pk.Publish{Topic: "big", Payload: make([]byte, 60)}) // fits in 64
	r.send(&pk.Publish{Topic: "big", Payload: make([]byte, 100)})
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonPacketTooLarge})
	r3 := dialRaw(t, b, pk.V311)
	r3.mustConnect(&pk.Connect{ClientID: "big3", CleanStart: true})
	r3.send(&pk.Publish{Topic: "big", Payload: make([]byte, 100)})
	r3.closed(nil)
	c := paho5(t, b, &paho.Connect{ClientID: "bigpaho", CleanStart: true, KeepAlive: 30}, nil)
	// No PUBACK comes (the connection is closed); the DISCONNECT below is
	// what counts, so the publish need not wait long.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "big", QoS: 1, Payload: make([]byte, 100)}); err == nil {
		t.Fatal("a publish above the server's maximum was acknowledged")
	}
	select {
	case d := <-c.disconnects:
		if d.ReasonCode != byte(pk.ReasonPacketTooLarge) || d.Properties == nil || d.Properties.ReasonString == "" {
			t.Fatalf("DISCONNECT %+v", d)
		}
	case <-time.After(wait):
		t.Fatal("paho.golang got no DISCONNECT")
	}
}
