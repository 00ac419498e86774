package server_test

// MQTT 5.0 sections 3.1 and 3.2 (CONNECT, CONNACK; the same sections of
// MQTT 3.1.1), 3.1.2.10 keep alive, 3.1.4 session takeover, 4.12
// authentication, 4.10 request/response information.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
)

func TestSpec3_1_ConnectEachVersion(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	for _, v := range []uint{3, 4} {
		c := paho3(t, "tcp://"+b.tcp, fmt.Sprintf("v%d", v), v, true, nil, nil)
		if !c.IsConnectionOpen() {
			t.Fatalf("level %d not connected", v)
		}
	}
	c := paho5(t, b, &paho.Connect{ClientID: "v5", CleanStart: true, KeepAlive: 30}, nil)
	p := c.connack.Properties
	if c.connack.ReasonCode != 0 || p == nil || p.ReceiveMaximum == nil || *p.ReceiveMaximum != 128 ||
		p.TopicAliasMaximum == nil || *p.TopicAliasMaximum != 8 || p.MaximumPacketSize == nil || *p.MaximumPacketSize != 1<<20 {
		t.Fatalf("CONNACK %+v props %+v", c.connack, p)
	}
	if p.ServerKeepAlive != nil || p.AssignedClientID != "" {
		t.Fatalf("unexpected server keep alive / assigned id: %+v", p)
	}
}

func TestSpec3_1_2_2_UnsupportedProtocolLevel(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	// "MQTT" with level 6: MQTT 3.1.1 CONNACK return code 0x01, then close.
	r := dialRaw(t, b, pk.V311)
	r.sendBytes([]byte{0x10, 0x0C, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 60, 0, 0})
	r.closed(&pk.Connack{ReasonCode: pk.V3UnacceptableProtocolVersion})
	// "MQIsdp" with level 5: an MQTT 5 CONNACK 0x84.
	r = dialRaw(t, b, pk.V5)
	r.sendBytes([]byte{0x10, 0x0F, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 5, 0x02, 0, 60, 0, 0, 0})
	r.closed(&pk.Connack{ReasonCode: pk.ReasonUnsupportedProtocolVersion})
	// paho.mqtt.golang sees the refusal.
	_, err := paho3Try(t, "tcp://"+b.tcp, "x", 4, true, nil, nil)
	if err != nil {
		t.Fatalf("valid 3.1.1 connect failed: %v", err)
	}
}

func TestSpec3_1_FirstPacketMustBeConnect(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	r := dialRaw(t, b, pk.V311)
	r.send(&pk.Pingreq{})
	r.closed(nil)
}

func TestSpec3_1_ConnectTimeout(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *server.Config) { c.ConnectTimeout = 200 * time.Millisecond })
	r := dialRaw(t, b, pk.V311)
	start := time.Now()
	r.closed(nil)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

func TestSpec3_1_3_1_EmptyClientID(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	// 3.1.1, clean session: accepted with an assigned id.
	if _, err := paho3Try(t, "tcp://"+b.tcp, "", 4, true, nil, nil); err != nil {
		t.Fatalf("3.1.1 empty id with clean session: %v", err)
	}
	// 3.1.1 without clean session: identifier rejected (0x02).
	r := dialRaw(t, b, pk.V311)
	r.send(&pk.Connect{Level: pk.V311, KeepAlive: 30})
	r.closed(&pk.Connack{ReasonCode: pk.V3IdentifierRejected})
	_, err := paho3Try(t, "tcp://"+b.tcp, "", 4, false, nil, nil)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "identifier") {
		t.Fatalf("paho 3.1.1 empty id without clean session: %v, want identifier rejected", err)
	}
	// 3.1: identifier rejected.
	r = dialRaw(t, b, pk.V31)
	r.send(&pk.Connect{Level: pk.V31, CleanStart: true, KeepAlive: 30})
	r.closed(&pk.Connack{ReasonCode: pk.V3IdentifierRejected})
	// 5.0: an Assigned Client Identifier, with or without clean start.
	for _, clean := range []bool{true, false} {
		c := paho5(t, b, &paho.Connect{CleanStart: clean, KeepAlive: 30}, nil)
		if id := c.connack.Properties.AssignedClientID; id == "" {
			t.Fatalf("clean %v: no assigned client identifier", clean)
		}
	}
}

func TestSpec3_1_2_4_CleanStartSessionPresent(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	r := dialRaw(t, b, pk.V311)
	if ca := r.mustConnect(&pk.Connect{ClientID: "sp", KeepAlive: 30}); ca.SessionPresent {
		t.Fatal("session present on a new session")
	}
	r.send(&pk.Disconnect{})
	r.closed(nil)
	r = dialRaw(t, b, pk.V311)
	if ca := r.mustConnect(&pk.Connect{ClientID: "sp", KeepAlive: 30}); !ca.SessionPresent {
		t.Fatal("session not present after a persistent session")
	}
	r.send(&pk.Disconnect{})
	r.closed(nil)
	r = dialRaw(t, b, pk.V311)
	if ca := r.mustConnect(&pk.Connect{ClientID: "sp", CleanStart: true, KeepAlive: 30}); ca.SessionPresent {
		t.Fatal("session present with clean session")
	}
	r.send(&pk.Disconnect{})
	r.closed(nil)
	// A clean session ends with its connection.
	deadline := time.Now().Add(wait)
	for b.core.Sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := b.core.Sessions(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

func TestSpec3_1_2_11_2_SessionExpiry(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "exp", KeepAlive: 30, Props: pk.Properties{SessionExpiryInterval: pk.Some[uint32](1)}})
	r.send(&pk.Disconnect{})
	r.closed(nil)
	if _, ok := b.core.Session("exp"); !ok {
		t.Fatal("session with expiry 1s gone at once")
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if _, ok := b.core.Session("exp"); !ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("session did not expire")
}

func TestSpec3_2_2_3_14_ServerKeepAlive(t *testing.T) {
	t.Parallel()
	b := startBroker(t, func(c *server.Config) { c.ServerKeepAlive = 20 * time.Second })
	c := paho5(t, b, &paho.Connect{ClientID: "ka", CleanStart: true, KeepAlive: 60}, nil)
	if ka := c.connack.Properties.ServerKeepAlive; ka == nil || *ka != 20 {
		t.Fatalf("server keep alive %v, want 20", ka)
	}
	c = paho5(t, b, &paho.Connect{ClientID: "ka2", CleanStart: true, KeepAlive: 10}, nil)
	if ka := c.connack.Properties.ServerKeepAlive; ka != nil {
		t.Fatalf("server keep alive %d returned for a lower client value", *ka)
	}
}

func TestSpec4_12_AuthenticationMethodRefused(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	r := dialRaw(t, b, pk.V5)
	r.send(&pk.Connect{Level: pk.V5, ClientID: "auth", Props: pk.Properties{AuthenticationMethod: pk.Some("SCRAM-SHA-1")}})
	r.closed(&pk.Connack{ReasonCode: pk.ReasonBadAuthenticationMethod})
	// An AUTH after a CONNECT without a method is a protocol error.
	r = dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "auth2", CleanStart: true})
	r.send(&pk.Auth{ReasonCode: pk.ReasonReAuthenticate, Props: pk.Properties{AuthenticationMethod: pk.Some("x")}})
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonProtocolError})
}

func TestSpec3_1_SecondConnectIsProtocolError(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "twice", CleanStart: true})
	r.send(&pk.Connect{Level: pk.V5, ClientID: "twice", CleanStart: true})
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonProtocolError})
	r = dialRaw(t, b, pk.V311)
	r.mustConnect(&pk.Connect{ClientID: "twice3", CleanStart: true})
	r.send(&pk.Connect{Level: pk.V311, ClientID: "twice3", CleanStart: true})
	r.closed(nil)
}

func TestSpec3_1_2_10_KeepAlive(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "ka", CleanStart: true, KeepAlive: 1})
	r.send(&pk.Pingreq{})
	if p := r.recv(); p.Type() != pk.TypePingresp {
		t.Fatalf("got %s, want PINGRESP", p.Type())
	}
	start := time.Now()
	r.closed(&pk.Disconnect{ReasonCode: pk.ReasonKeepAliveTimeout})
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Fatalf("closed after %v, want about 1.5s", d)
	}
}

func TestSpec3_1_4_TakeoverV5(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	old := paho5(t, b, &paho.Connect{ClientID: "dup", CleanStart: true, KeepAlive: 30}, nil)
	paho5(t, b, &paho.Connect{ClientID: "dup", CleanStart: false, KeepAlive: 30}, nil)
	select {
	case d := <-old.disconnects:
		if d.ReasonCode != byte(pk.ReasonSessionTakenOver) {
			t.Fatalf("old connection got DISCONNECT 0x%02X, want 0x8E", d.ReasonCode)
		}
	case <-time.After(wait):
		t.Fatal("old connection got no DISCONNECT")
	}
	select {
	case <-old.Done():
	case <-time.After(wait):
		t.Fatal("old connection not closed")
	}
}

func TestSpec3_1_4_TakeoverV311(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	lost := make(chan error, 1)
	paho3(t, "tcp://"+b.tcp, "dup3", 4, false, nil, func(o *mqtt3.ClientOptions) {
		o.SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err })
	})
	sink := newSink3()
	c := paho3(t, "tcp://"+b.tcp, "dup3", 4, false, sink, nil)
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("old connection not closed")
	}
	// The new connection works.
	tok(t, c.Subscribe("t/takeover", 1, nil))
	tok(t, c.Publish("t/takeover", 1, false, "x"))
	if m := sink.next(t); m.payload != "x" {
		t.Fatalf("got %+v", m)
	}
}

// MQTT 5.0 section 3.1.2.11.7: Request Problem Information. With the
// default (1) error acks carry a reason string; with 0 only CONNACK,
// DISCONNECT (and PUBLISH) may, so SUBACK, UNSUBACK and PUBCOMP come
// without one while DISCONNECT still says why. A reason string that would
// make an ack larger than the client's Maximum Packet Size is left out.
func TestSpec3_1_2_11_7_RequestProblemInformation(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	errorAcks := func(r *raw) []pk.Packet {
		r.t.Helper()
		r.send(&pk.Subscribe{PacketID: 1, Subscriptions: []pk.Subscription{{Filter: "rp/a#"}}})
		sa := r.recv()
		r.send(&pk.Unsubscribe{PacketID: 2, Filters: []string{"rp/#/x"}})
		ua := r.recv()
		r.send(&pk.Pubrel{PacketID: 9}) // no QoS 2 message 9: PUBCOMP 0x92
		pc := r.recv()
		if sa.(*pk.Suback).ReasonCodes[0] != pk.ReasonTopicFilterInvalid ||
			ua.(*pk.Unsuback).ReasonCodes[0] != pk.ReasonTopicFilterInvalid ||
			pc.(*pk.Pubcomp).ReasonCode != pk.ReasonPacketIdentifierNotFound {
			r.t.Fatalf("acks %+v %+v %+v", sa, ua, pc)
		}
		return []pk.Packet{sa, ua, pc}
	}

	// Default: every error ack says why.
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "rp1", CleanStart: true})
	for _, p := range errorAcks(r) {
		if rs, ok := reasonString(p); !ok || rs == "" {
			t.Fatalf("%s without a reason string", p.Type())
		}
	}
	// paho.golang shows it to the application.
	c := paho5(t, b, &paho.Connect{ClientID: "rp-paho", CleanStart: true, KeepAlive: 30}, nil)
	sa, err := c.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "rp/+x"}}})
	if err == nil || sa == nil || sa.Properties == nil || !strings.Contains(sa.Properties.ReasonString, "rp/+x") ||
		!strings.Contains(err.Error(), sa.Properties.ReasonString) {
		t.Fatalf("paho SUBACK %+v, %v", sa, err)
	}

	// Request Problem Information 0: no reason string on the acks ...
	r = dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "rp0", CleanStart: true, Props: pk.Properties{RequestProblemInformation: pk.Some[byte](0)}})
	for _, p := range errorAcks(r) {
		if rs, ok := reasonString(p); ok {
			t.Fatalf("%s with reason string %q", p.Type(), rs)
		}
	}
	// ... but DISCONNECT still has one.
	r.send(&pk.Connect{Level: pk.V5, ClientID: "rp0"})
	if rs, _ := reasonString(r.closed(&pk.Disconnect{ReasonCode: pk.ReasonProtocolError})); rs != "second CONNECT" {
		t.Fatalf("DISCONNECT reason string %q", rs)
	}

	// A small Maximum Packet Size: the acks fit without their reason string.
	r = dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "rps", CleanStart: true, Props: pk.Properties{MaximumPacketSize: pk.Some[uint32](16)}})
	for _, p := range errorAcks(r) {
		if rs, ok := reasonString(p); ok {
			t.Fatalf("%s with reason string %q beyond the maximum packet size", p.Type(), rs)
		}
	}
}
