package server_test

// MQTT 5.0 sections 3.3 to 3.7 (PUBLISH and its acknowledgements), 4.3 and
// 4.4 (QoS flows and redelivery), 4.9 (flow control), the PUBLISH
// properties (3.3.2.3: expiry, topic aliases, request/response) and the
// client's Maximum Packet Size (3.1.2.11.4).

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
)

func TestSpec4_3_QoSLevelsAndDowngrade(t *testing.T) {
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

func TestSpec4_3_3_QoS2V5(t *testing.T) {
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
func TestSpec4_3_3_QoS2DuplicateNotDeliveredTwice(t *testing.T) {
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
func TestSpec4_9_InflightWindow(t *testing.T) {
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

// MQTT 5.0 section 3.1.2.11.4: never send a client a packet larger than its
// Maximum Packet Size; the message is dropped for that client.
func TestSpec3_1_2_11_4_ClientMaximumPacketSize(t *testing.T) {
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
	if n := b.srv.Traffic().DroppedTooLarge; n != 1 {
		t.Fatalf("DroppedTooLarge = %d, want 1", n)
	}
}

// MQTT 5.0 section 3.3.4: more unreleased QoS 2 publishes than our
// Receive Maximum is DISCONNECT 0x93.
func TestSpec3_3_4_ReceiveMaximumExceeded(t *testing.T) {
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

func TestSpec3_3_2_3_PropertiesEndToEnd(t *testing.T) {
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

func TestSpec3_3_2_3_3_MessageExpiryWhileQueued(t *testing.T) {
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
	// The QoS 1 message expired in the queue (the QoS 0 one was never
	// kept for the offline session).
	if n := b.core.Stats().Expired; n != 1 {
		t.Fatalf("core Expired = %d, want 1", n)
	}
}

func TestSpec3_3_2_3_4_TopicAliasInbound(t *testing.T) {
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

// MQTT 5.0 section 3.3.2.3.4: topic aliases from the server. A client that
// allows N aliases (Topic Alias Maximum in CONNECT) gets the first N
// topics with an alias, each later message on them with the alias alone;
// no alias above N, and none for a client that allows none.
func TestSpec3_3_2_3_4_TopicAliasOutbound(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	pub := paho3(t, "tcp://"+b.tcp, "oap", 4, true, nil, nil)
	topics := []string{"oa/1", "oa/2", "oa/1", "oa/3", "oa/2", "oa/3", "oa/1"}

	// Exact packets: alias maximum 2.
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "oar", CleanStart: true, Props: pk.Properties{TopicAliasMaximum: pk.Some[uint16](2)}})
	r.subscribe(1, pk.Subscription{Filter: "oa/#"})
	// No aliases for a client without a Topic Alias Maximum.
	none := dialRaw(t, b, pk.V5)
	none.mustConnect(&pk.Connect{ClientID: "oan", CleanStart: true})
	none.subscribe(1, pk.Subscription{Filter: "oa/#"})
	// paho.golang's router resolves the aliases it receives.
	var mu sync.Mutex
	routed := map[string][]string{}
	router := paho.NewStandardRouter()
	for _, topic := range []string{"oa/1", "oa/2", "oa/3"} {
		router.RegisterHandler(topic, func(p *paho.Publish) {
			mu.Lock()
			routed[topic] = append(routed[topic], string(p.Payload))
			mu.Unlock()
		})
	}
	pc, err := paho5Routed(t, b, &paho.Connect{ClientID: "oapaho", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{TopicAliasMaximum: paho.Uint16(2)}}, nil, router)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "oa/#"}}}); err != nil {
		t.Fatal(err)
	}

	for i, topic := range topics {
		tok(t, pub.Publish(topic, 0, false, fmt.Sprint(i)))
	}
	want := []struct {
		topic string
		alias uint16 // 0: none
	}{{"oa/1", 1}, {"oa/2", 2}, {"", 1}, {"oa/3", 0}, {"", 2}, {"oa/3", 0}, {"", 1}}
	for i, w := range want {
		m := r.publish()
		if m.Topic != w.topic || m.Props.TopicAlias.Val != w.alias || m.Props.TopicAlias.Set != (w.alias != 0) ||
			string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: topic %q alias %+v payload %q, want topic %q alias %d", i, m.Topic, m.Props.TopicAlias,
				m.Payload, w.topic, w.alias)
		}
		if m := none.publish(); m.Topic != topics[i] || m.Props.TopicAlias.Set {
			t.Fatalf("client without aliases got topic %q alias %+v", m.Topic, m.Props.TopicAlias)
		}
	}
	r.nothing()
	deadline := time.Now().Add(wait)
	wantRouted := map[string][]string{"oa/1": {"0", "2", "6"}, "oa/2": {"1", "4"}, "oa/3": {"3", "5"}}
	for {
		mu.Lock()
		got := fmt.Sprint(routed)
		mu.Unlock()
		if got == fmt.Sprint(wantRouted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("paho.golang routed %s, want %s", got, fmt.Sprint(wantRouted))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Our own maximum (here 1) caps a client that allows more.
	b1 := startBroker(t, func(c *server.Config) { c.OutboundTopicAliasMaximum = 1 })
	r = dialRaw(t, b1, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "oa1", CleanStart: true, Props: pk.Properties{TopicAliasMaximum: pk.Some[uint16](10)}})
	r.subscribe(1, pk.Subscription{Filter: "oa/#"})
	pub1 := paho3(t, "tcp://"+b1.tcp, "oap1", 4, true, nil, nil)
	for _, topic := range []string{"oa/1", "oa/2", "oa/1"} {
		tok(t, pub1.Publish(topic, 0, false, "x"))
	}
	for _, w := range []string{"oa/1 1", "oa/2 0", " 1"} {
		if m := r.publish(); fmt.Sprintf("%s %d", m.Topic, m.Props.TopicAlias.Val) != w {
			t.Fatalf("got %q alias %+v, want %s", m.Topic, m.Props.TopicAlias, w)
		}
	}
}

// MQTT 5.0 section 4.10: request/response. A client that sets Request
// Response Information gets Response Information in CONNACK (the
// configured prefix and its client id; a client that does not ask gets
// none), and Response Topic and Correlation Data reach the responder
// unchanged and come back with the response.
func TestSpec4_10_RequestResponse(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	reqSink, respSink := newSink5(), newSink5()
	req := paho5(t, b, &paho.Connect{ClientID: "requester", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{RequestResponseInfo: true}}, reqSink)
	ri := req.connack.Properties.ResponseInfo
	if ri != "response/requester" {
		t.Fatalf("response information %q, want response/requester", ri)
	}
	resp := paho5(t, b, &paho.Connect{ClientID: "responder", CleanStart: true, KeepAlive: 30}, respSink)
	if got := resp.connack.Properties.ResponseInfo; got != "" {
		t.Fatalf("response information %q for a client that did not ask", got)
	}
	for c, f := range map[*client5]string{req: ri + "/#", resp: "svc/echo"} {
		if _, err := c.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: f, QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	corr := []byte{0, 1, 0xFE, 0xFF}
	if _, err := req.Publish(ctxT(t), &paho.Publish{Topic: "svc/echo", QoS: 1, Payload: []byte("ping"),
		Properties: &paho.PublishProperties{ResponseTopic: ri + "/echo", CorrelationData: corr}}); err != nil {
		t.Fatal(err)
	}
	in := respSink.next(t)
	if in.Properties == nil || in.Properties.ResponseTopic != ri+"/echo" || !bytes.Equal(in.Properties.CorrelationData, corr) {
		t.Fatalf("request properties %+v", in.Properties)
	}
	if _, err := resp.Publish(ctxT(t), &paho.Publish{Topic: in.Properties.ResponseTopic, QoS: 1, Payload: []byte("pong"),
		Properties: &paho.PublishProperties{CorrelationData: in.Properties.CorrelationData}}); err != nil {
		t.Fatal(err)
	}
	out := reqSink.next(t)
	if out.Topic != ri+"/echo" || string(out.Payload) != "pong" || out.Properties == nil ||
		!bytes.Equal(out.Properties.CorrelationData, corr) || out.Properties.ResponseTopic != "" {
		t.Fatalf("response %s %q %+v", out.Topic, out.Payload, out.Properties)
	}
	reqSink.nothing(t)
	respSink.nothing(t)

	// A client id that would make an invalid topic gets no Response
	// Information; with the prefix unset nobody gets any.
	r := dialRaw(t, b, pk.V5)
	if ca := r.mustConnect(&pk.Connect{ClientID: "a+b", CleanStart: true,
		Props: pk.Properties{RequestResponseInformation: pk.Some[byte](1)}}); ca.Props.ResponseInformation.Set {
		t.Fatalf("response information %q for client id a+b", ca.Props.ResponseInformation.Val)
	}
	b0 := startBroker(t, func(c *server.Config) { c.ResponseInformation = "" })
	r = dialRaw(t, b0, pk.V5)
	if ca := r.mustConnect(&pk.Connect{ClientID: "x", CleanStart: true,
		Props: pk.Properties{RequestResponseInformation: pk.Some[byte](1)}}); ca.Props.ResponseInformation.Set {
		t.Fatalf("response information %q with no prefix configured", ca.Props.ResponseInformation.Val)
	}
}

// MQTT 5.0 section 3.3.4: a message matching several subscriptions of one
// client goes once, at the highest granted QoS, with the Subscription
// Identifiers of every matching subscription that has one.
func TestSpec3_3_4_SeveralSubscriptionIdentifiers(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "sids", CleanStart: true})
	for i, s := range []struct {
		filter string
		id     uint32
		qos    byte
	}{{"si/#", 1, 0}, {"si/+", 2, 1}, {"si/x", 0, 0}} {
		sp := &pk.Subscribe{PacketID: uint16(i + 1), Subscriptions: []pk.Subscription{{Filter: s.filter, QoS: s.qos}}}
		if s.id != 0 {
			sp.Props.SubscriptionIdentifiers = []uint32{s.id}
		}
		r.send(sp)
		if sa, ok := r.recv().(*pk.Suback); !ok || sa.ReasonCodes[0] != pk.ReasonCode(s.qos) {
			t.Fatalf("SUBACK %+v", sa)
		}
	}
	pub := paho5(t, b, &paho.Connect{ClientID: "sidp", CleanStart: true, KeepAlive: 30}, nil)
	if _, err := pub.Publish(ctxT(t), &paho.Publish{Topic: "si/x", QoS: 1, Payload: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	m := r.publish()
	ids := append([]uint32(nil), m.Props.SubscriptionIdentifiers...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if m.QoS != 1 || fmt.Sprint(ids) != "[1 2]" {
		t.Fatalf("PUBLISH QoS %d subscription identifiers %v, want QoS 1 and [1 2]", m.QoS, m.Props.SubscriptionIdentifiers)
	}
	r.send(&pk.Puback{PacketID: m.PacketID})
	r.nothing()
	// paho.golang reads one of them.
	s := newSink5()
	pc := paho5(t, b, &paho.Connect{ClientID: "sidpaho", CleanStart: true, KeepAlive: 30}, s)
	for id, f := range map[int]string{3: "si/#", 4: "si/x"} {
		if _, err := pc.Subscribe(ctxT(t), &paho.Subscribe{Properties: &paho.SubscribeProperties{SubscriptionIdentifier: ptr(id)},
			Subscriptions: []paho.SubscribeOptions{{Topic: f, QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Publish(ctxT(t), &paho.Publish{Topic: "si/x", QoS: 1, Payload: []byte("n")}); err != nil {
		t.Fatal(err)
	}
	if got := s.next(t); got.Properties == nil || got.Properties.SubscriptionIdentifier == nil ||
		(*got.Properties.SubscriptionIdentifier != 3 && *got.Properties.SubscriptionIdentifier != 4) {
		t.Fatalf("paho got %+v", got.Properties)
	}
	s.nothing(t)
}

// MQTT 5.0 sections 3.1.2.11.3 and 4.9: the client's Receive Maximum bounds
// the QoS 1 and 2 messages the server has in flight towards it.
func TestSpec4_9_ClientReceiveMaximum(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil) // MaxInflight 32
	r := dialRaw(t, b, pk.V5)
	r.mustConnect(&pk.Connect{ClientID: "crm", CleanStart: true, Props: pk.Properties{ReceiveMaximum: pk.Some[uint16](1)}})
	r.subscribe(1, pk.Subscription{Filter: "crm", QoS: 2})
	pub := paho3(t, "tcp://"+b.tcp, "crmp", 4, true, nil, nil)
	for i := range 3 {
		tok(t, pub.Publish("crm", byte(1+i%2), false, fmt.Sprint(i)))
	}
	var got string
	for range 3 {
		m := r.publish()
		got += string(m.Payload)
		r.nothing() // one at a time
		if m.QoS == 2 {
			r.send(&pk.Pubrec{PacketID: m.PacketID})
			if rel, ok := r.recv().(*pk.Pubrel); !ok || rel.PacketID != m.PacketID {
				t.Fatalf("got %+v, want PUBREL", rel)
			}
			r.nothing() // still in flight until PUBCOMP
			r.send(&pk.Pubcomp{PacketID: m.PacketID})
		} else {
			r.send(&pk.Puback{PacketID: m.PacketID})
		}
	}
	if got != "012" {
		t.Fatalf("order %q", got)
	}
}
