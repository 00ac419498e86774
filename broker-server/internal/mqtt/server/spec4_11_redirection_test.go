package server_test

import (
	"testing"

	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
)

// 4.11 Server redirection: a drained broker sends MQTT 5 clients to another
// server (DISCONNECT 0x9C with a Server Reference), disconnects 3.1.1
// clients, and refuses new connections until it is undrained.
func TestSpec4_11_DrainRedirects(t *testing.T) {
	b := startBroker(t, nil)
	c5 := dialRaw(t, b, pk.V5)
	c5.mustConnect(&pk.Connect{Level: pk.V5, ClientID: "d5", CleanStart: true, KeepAlive: 30})
	c3 := dialRaw(t, b, pk.V311)
	c3.mustConnect(&pk.Connect{Level: pk.V311, ClientID: "d3", CleanStart: true, KeepAlive: 30})

	b.srv.Drain("127.0.0.1:2883")
	c5.closed(&pk.Disconnect{ReasonCode: pk.ReasonUseAnotherServer, Props: pk.Properties{ServerReference: pk.Some("127.0.0.1:2883")}})
	c3.closed(nil)

	n5 := dialRaw(t, b, pk.V5)
	ca := n5.connect(&pk.Connect{Level: pk.V5, ClientID: "n5", CleanStart: true, KeepAlive: 30})
	if ca.ReasonCode != pk.ReasonUseAnotherServer || ca.Props.ServerReference.Val != "127.0.0.1:2883" {
		t.Fatalf("new MQTT 5 client got CONNACK %+v", ca)
	}
	n3 := dialRaw(t, b, pk.V311)
	if ca := n3.connect(&pk.Connect{Level: pk.V311, ClientID: "n3", CleanStart: true, KeepAlive: 30}); ca.ReasonCode != pk.V3ServerUnavailable {
		t.Fatalf("new 3.1.1 client got CONNACK %+v", ca)
	}

	b.srv.Undrain()
	again := dialRaw(t, b, pk.V5)
	again.mustConnect(&pk.Connect{Level: pk.V5, ClientID: "again", CleanStart: true, KeepAlive: 30})
}
