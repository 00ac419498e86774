package server_test

// MQTT 5.0 section 4.13 (handling errors): a malformed packet or protocol
// error closes that connection, with DISCONNECT and a reason code in MQTT
// 5, and never affects another client.

import (
	"testing"

	"github.com/eclipse/paho.golang/paho"

	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
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
