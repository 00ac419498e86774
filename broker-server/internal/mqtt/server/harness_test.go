package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
	"github.com/robustmq/robustmq-go/broker-server/internal/transport"
)

// wait bounds every wait for something a client should (not) receive.
const wait = 5 * time.Second

// quiet is how long a test listens to assert that nothing arrives.
const quiet = 300 * time.Millisecond

type broker struct {
	core *core.Broker
	srv  *server.Server
	tcp  string // host:port
	ws   string // ws://host:port/mqtt
}

// startBroker runs a broker core and the MQTT front end on loopback TCP and
// WebSocket listeners until the test ends.
func startBroker(t *testing.T, mod func(*server.Config)) *broker {
	t.Helper()
	return startBrokerCore(t, mod, core.Options{MaxQueued: 100})
}

// startBrokerCore is startBroker over a core with the given options.
func startBrokerCore(t *testing.T, mod func(*server.Config), opts core.Options) *broker {
	t.Helper()
	cfg := server.Config{ConnectTimeout: 2 * time.Second, MaxPacketSize: 1 << 20, ReceiveMaximum: 128,
		TopicAliasMaximum: 8, MaxTopicLevels: 16, MaxInflight: 32, OutboundTopicAliasMaximum: 8,
		ResponseInformation: "response/"}
	if mod != nil {
		mod(&cfg)
	}
	log := zerolog.Nop()
	if os.Getenv("MQTT_TEST_LOG") != "" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	}
	opts.Logger = log
	b := core.New(opts)
	srv := server.New(b, cfg, log)
	ts, err := transport.New(transport.Options{
		Listeners: []transport.Listener{
			{Name: "mqtt", Kind: transport.TCP, Addr: "127.0.0.1:0"},
			{Name: "mqtt-ws", Kind: transport.WS, Addr: "127.0.0.1:0"},
		},
		Handler:         srv,
		ShutdownTimeout: 2 * time.Second,
		Logger:          log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("transport did not stop")
		}
	})
	return &broker{core: b, srv: srv, tcp: ts.Addr("mqtt").String(), ws: "ws://" + ts.Addr("mqtt-ws").String() + "/mqtt"}
}

// ---- raw client: exact packets, for what client libraries hide

type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
	v pk.Version
}

func dialRaw(t *testing.T, b *broker, v pk.Version) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.tcp, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, c: c, r: bufio.NewReader(c), v: v}
}

func (r *raw) send(ps ...pk.Packet) {
	r.t.Helper()
	for _, p := range ps {
		b, err := pk.Encode(p, r.v)
		if err != nil {
			r.t.Fatalf("encode %T: %v", p, err)
		}
		r.sendBytes(b)
	}
}

func (r *raw) sendBytes(b []byte) {
	r.t.Helper()
	_ = r.c.SetWriteDeadline(time.Now().Add(wait))
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// next reads the next packet within d; nil and the error when none came.
func (r *raw) next(d time.Duration) (pk.Packet, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	return pk.ReadPacket(r.r, r.v, pk.Limits{})
}

func (r *raw) recv() pk.Packet {
	r.t.Helper()
	p, err := r.next(wait)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return p
}

// nothing asserts that no packet arrives for a while.
func (r *raw) nothing() {
	r.t.Helper()
	if p, err := r.next(quiet); err == nil {
		r.t.Fatalf("unexpected %s: %+v", p.Type(), p)
	}
}

// closed asserts the server closes the connection, after sending want
// (nil: nothing) first; the reason string of a CONNACK or DISCONNECT is not
// compared (see reasonString). It returns what came before the close.
func (r *raw) closed(want pk.Packet) pk.Packet {
	r.t.Helper()
	var got pk.Packet
	if want != nil {
		got = r.recv()
		if fmt.Sprintf("%+v", withoutReasonString(got)) != fmt.Sprintf("%+v", want) {
			r.t.Fatalf("got %T %+v, want %T %+v", got, got, want, want)
		}
	}
	p, err := r.next(wait)
	if err == nil {
		r.t.Fatalf("unexpected %s before close: %+v", p.Type(), p)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		r.t.Fatalf("connection not closed: %v", err)
	}
	return got
}

// withoutReasonString is a copy of a CONNACK or DISCONNECT without its
// reason string (other packets unchanged).
func withoutReasonString(p pk.Packet) pk.Packet {
	switch p := p.(type) {
	case *pk.Disconnect:
		c := *p
		c.Props.ReasonString = pk.Option[string]{}
		return &c
	case *pk.Connack:
		c := *p
		c.Props.ReasonString = pk.Option[string]{}
		return &c
	}
	return p
}

// reasonString is the reason string of an ack, CONNACK or DISCONNECT.
func reasonString(p pk.Packet) (string, bool) {
	switch p := p.(type) {
	case *pk.Disconnect:
		return p.Props.ReasonString.Get()
	case *pk.Connack:
		return p.Props.ReasonString.Get()
	case *pk.Suback:
		return p.Props.ReasonString.Get()
	case *pk.Unsuback:
		return p.Props.ReasonString.Get()
	case *pk.Pubrel:
		return p.Props.ReasonString.Get()
	case *pk.Pubcomp:
		return p.Props.ReasonString.Get()
	case *pk.Puback:
		return p.Props.ReasonString.Get()
	case *pk.Pubrec:
		return p.Props.ReasonString.Get()
	}
	return "", false
}

func (r *raw) connect(cp *pk.Connect) *pk.Connack {
	r.t.Helper()
	cp.Level = r.v
	r.send(cp)
	p := r.recv()
	ca, ok := p.(*pk.Connack)
	if !ok {
		r.t.Fatalf("got %T, want CONNACK", p)
	}
	return ca
}

func (r *raw) mustConnect(cp *pk.Connect) *pk.Connack {
	r.t.Helper()
	ca := r.connect(cp)
	if ca.ReasonCode != 0 {
		r.t.Fatalf("CONNACK %s", ca.ReasonCode)
	}
	return ca
}

func (r *raw) subscribe(id uint16, subs ...pk.Subscription) *pk.Suback {
	r.t.Helper()
	r.send(&pk.Subscribe{PacketID: id, Subscriptions: subs})
	p := r.recv()
	sa, ok := p.(*pk.Suback)
	if !ok || sa.PacketID != id {
		r.t.Fatalf("got %T %+v, want SUBACK %d", p, p, id)
	}
	return sa
}

// publish reads the next packet as a PUBLISH.
func (r *raw) publish() *pk.Publish {
	r.t.Helper()
	p := r.recv()
	pub, ok := p.(*pk.Publish)
	if !ok {
		r.t.Fatalf("got %T %+v, want PUBLISH", p, p)
	}
	return pub
}

// ---- paho.mqtt.golang (MQTT 3.1 and 3.1.1)

type msg3 struct {
	topic    string
	payload  string
	qos      byte
	retained bool
	dup      bool
}

type sink3 struct {
	ch chan msg3
}

func newSink3() *sink3 { return &sink3{ch: make(chan msg3, 1000)} }

func (s *sink3) handler(_ mqtt3.Client, m mqtt3.Message) {
	s.ch <- msg3{m.Topic(), string(m.Payload()), m.Qos(), m.Retained(), m.Duplicate()}
}

func (s *sink3) next(t *testing.T) msg3 {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return msg3{}
}

func (s *sink3) nothing(t *testing.T) {
	t.Helper()
	select {
	case m := <-s.ch:
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(quiet):
	}
}

// paho3 connects a paho.mqtt.golang client; version 3 or 4.
func paho3(t *testing.T, url, id string, version uint, clean bool, sink *sink3, mod func(*mqtt3.ClientOptions)) mqtt3.Client {
	t.Helper()
	c, err := paho3Try(t, url, id, version, clean, sink, mod)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

func paho3Try(t *testing.T, url, id string, version uint, clean bool, sink *sink3, mod func(*mqtt3.ClientOptions)) (mqtt3.Client, error) {
	t.Helper()
	o := mqtt3.NewClientOptions().AddBroker(url).SetClientID(id).SetProtocolVersion(version).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).
		SetWriteTimeout(wait).SetOrderMatters(true)
	if sink != nil {
		o.SetDefaultPublishHandler(sink.handler)
	}
	if mod != nil {
		mod(o)
	}
	c := mqtt3.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func tok(t *testing.T, k mqtt3.Token) {
	t.Helper()
	if !k.WaitTimeout(wait) {
		t.Fatal("token timed out")
	}
	if err := k.Error(); err != nil {
		t.Fatal(err)
	}
}

// ---- paho.golang (MQTT 5)

type sink5 struct {
	ch chan *paho.Publish
}

func newSink5() *sink5 { return &sink5{ch: make(chan *paho.Publish, 1000)} }

func (s *sink5) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return nil
}

func (s *sink5) nothing(t *testing.T) {
	t.Helper()
	select {
	case m := <-s.ch:
		t.Fatalf("unexpected message %s %q", m.Topic, m.Payload)
	case <-time.After(quiet):
	}
}

type client5 struct {
	*paho.Client
	disconnects chan *paho.Disconnect
	connack     *paho.Connack
}

func paho5(t *testing.T, b *broker, cp *paho.Connect, sink *sink5) *client5 {
	t.Helper()
	c, err := paho5Try(t, b, cp, sink)
	if err != nil {
		t.Fatalf("connect %s: %v", cp.ClientID, err)
	}
	return c
}

func paho5Try(t *testing.T, b *broker, cp *paho.Connect, sink *sink5) (*client5, error) {
	t.Helper()
	return paho5Routed(t, b, cp, sink, nil)
}

// paho5Routed is paho5Try with paho's own router (it resolves topic
// aliases and dispatches by topic filter) besides the sink.
func paho5Routed(t *testing.T, b *broker, cp *paho.Connect, sink *sink5, router paho.Router) (*client5, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.tcp, wait)
	if err != nil {
		t.Fatal(err)
	}
	cc := &client5{disconnects: make(chan *paho.Disconnect, 4)}
	cfg := paho.ClientConfig{ClientID: cp.ClientID, Conn: nc, PacketTimeout: wait,
		OnServerDisconnect: func(d *paho.Disconnect) { cc.disconnects <- d },
		OnClientError:      func(error) {}, Router: router}
	if sink != nil {
		var mu sync.Mutex
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			sink.ch <- pr.Packet
			return true, nil
		}}
	}
	cc.Client = paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ca, err := cc.Connect(ctx, cp)
	cc.connack = ca
	if err != nil {
		nc.Close()
		return cc, err
	}
	t.Cleanup(func() {
		_ = cc.Disconnect(&paho.Disconnect{})
		nc.Close()
	})
	return cc, nil
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func u32(v uint32) *uint32 { return &v }

// waitSubscribed waits until client id has n subscriptions.
func waitSubscribed(t *testing.T, b *broker, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if s, ok := b.core.Session(id); ok && len(s.Subscriptions()) == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not subscribe", id)
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
