package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/testcert"
)

// echo copies everything back until the client goes away.
var echo = HandlerFunc(func(_ context.Context, conn net.Conn, _ ConnInfo) { _, _ = io.Copy(conn, conn) })

type running struct {
	s    *Server
	stop context.CancelFunc
	done chan error
}

func start(t *testing.T, opts Options) *running {
	t.Helper()
	if testing.Verbose() {
		opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return r
}

func (r *running) addr(name string) string { return r.s.Addr(name).String() }

// shutdown stops the server and returns Serve's result and how long it took.
func (r *running) shutdown(t *testing.T) (time.Duration, error) {
	t.Helper()
	begin := time.Now()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err // for Cleanup
		return time.Since(begin), err
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
		return 0, nil
	}
}

func tcp(name string) Listener { return Listener{Name: name, Kind: TCP, Addr: "127.0.0.1:0"} }

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != msg {
		t.Fatalf("echo %q, want %q", got, msg)
	}
}

// infoRecorder echoes and reports each connection's ConnInfo.
func infoRecorder() (Handler, chan ConnInfo) {
	ch := make(chan ConnInfo, 16)
	return HandlerFunc(func(ctx context.Context, conn net.Conn, info ConnInfo) {
		ch <- info
		echo(ctx, conn, info)
	}), ch
}

func TestTCPEcho(t *testing.T) {
	h, infos := infoRecorder()
	r := start(t, Options{Listeners: []Listener{tcp("mqtt")}, Handler: h})
	c, err := net.Dial("tcp", r.addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "\x10\x0chello world!")
	info := <-infos
	if info.Listener != "mqtt" || info.Transport != TCP || info.TLS != nil || info.Remote.String() != c.LocalAddr().String() || info.Local.String() != r.addr("mqtt") {
		t.Fatalf("info %+v", info)
	}
}

// testCert writes a self-signed certificate for 127.0.0.1 and its key.
func testCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	return testcert.Files(t)
}

func TestTLSEcho(t *testing.T) {
	certFile, keyFile, pool := testCert(t)
	cfg, err := LoadTLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTLSConfig(certFile, certFile); err == nil {
		t.Fatal("certificate as key accepted")
	}
	h, infos := infoRecorder()
	r := start(t, Options{Listeners: []Listener{{Name: "mqtt-tls", Kind: TLS, Addr: "127.0.0.1:0", TLSConfig: cfg}}, Handler: h})
	c, err := tls.Dial("tcp", r.addr("mqtt-tls"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "\x10\x02\x00\x00secure")
	info := <-infos
	if info.Transport != TLS || info.TLS == nil || !info.TLS.HandshakeComplete || info.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("info %+v", info)
	}

	// A plain-TCP client on the TLS port fails the handshake: the
	// handler never sees it and the connection is closed.
	raw, err := net.Dial("tcp", r.addr("mqtt-tls"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, _ = raw.Write([]byte("\x10\x0c\x00\x04MQTT\x05\x02\x00\x3c\x00\x00"))
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, raw) // returns at EOF once the server gives up
	select {
	case info := <-infos:
		t.Fatalf("handler called for a failed handshake: %+v", info)
	default:
	}
}

func wsURL(r *running, name, scheme, path string) string {
	return scheme + "://" + r.addr(name) + path
}

func dialWS(t *testing.T, url string, protos []string, tlsCfg *tls.Config) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protos, HandshakeTimeout: 5 * time.Second, TLSClientConfig: tlsCfg, WriteBufferSize: 64}
	return d.Dial(url, nil)
}

func wsRoundTrip(t *testing.T, ws *websocket.Conn, msg []byte) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < len(msg) {
		typ, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if typ != websocket.BinaryMessage {
			t.Fatalf("message type %d", typ)
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, want %q", got, msg)
	}
}

func TestWebSocket(t *testing.T) {
	h, infos := infoRecorder()
	r := start(t, Options{Listeners: []Listener{{Name: "mqtt-ws", Kind: WS, Addr: "127.0.0.1:0"}}, Handler: h})

	ws, resp, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ws.Subprotocol() != "mqtt" || resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt" {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	wsRoundTrip(t, ws, []byte("\x10\x0chello world!"))
	info := <-infos
	if info.Transport != WS || info.Subprotocol != "mqtt" || info.TLS != nil || info.Remote.String() != ws.LocalAddr().String() {
		t.Fatalf("info %+v", info)
	}

	// MQTT 3.1 clients offer mqttv3.1; "mqtt" wins when both are offered.
	ws31, _, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqttv3.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws31.Close()
	if ws31.Subprotocol() != "mqttv3.1" {
		t.Fatalf("subprotocol %q", ws31.Subprotocol())
	}
	both, _, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqttv3.1", "mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer both.Close()
	if both.Subprotocol() != "mqtt" {
		t.Fatalf("subprotocol %q", both.Subprotocol())
	}
}

func TestWebSocketRefusals(t *testing.T) {
	r := start(t, Options{Listeners: []Listener{{Name: "mqtt-ws", Kind: WS, Addr: "127.0.0.1:0"}}, Handler: echo})
	cases := []struct {
		name   string
		path   string
		protos []string
		status int
	}{
		{"wrong path", "/other", []string{"mqtt"}, http.StatusNotFound},
		{"path prefix", "/mqtt/x", []string{"mqtt"}, http.StatusNotFound},
		{"no subprotocol", "/mqtt", nil, http.StatusBadRequest},
		{"other subprotocol", "/mqtt", []string{"chat"}, http.StatusBadRequest},
	}
	for _, c := range cases {
		ws, resp, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", c.path), c.protos, nil)
		if err == nil {
			ws.Close()
			t.Errorf("%s: connected", c.name)
			continue
		}
		if resp == nil || resp.StatusCode != c.status {
			t.Errorf("%s: response %v, want status %d (err %v)", c.name, resp, c.status, err)
		}
	}
	// A plain HTTP GET on the path is not an upgrade.
	resp, err := http.Get(wsURL(r, "mqtt-ws", "http", "/mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain GET: %d", resp.StatusCode)
	}
	if n := r.s.Connections(); n != 0 {
		t.Fatalf("%d connections admitted", n)
	}
}

// A packet split across WebSocket messages, and across the frames of one
// fragmented message, reaches the handler as one byte stream.
func TestWebSocketStream(t *testing.T) {
	got := make(chan []byte, 1)
	h := HandlerFunc(func(_ context.Context, conn net.Conn, _ ConnInfo) {
		buf := make([]byte, 2+300+4)
		_, err := io.ReadFull(conn, buf)
		if err != nil {
			got <- []byte("error: " + err.Error())
			return
		}
		got <- buf
		// Two packets back in one Write: one message.
		_, _ = conn.Write([]byte("\x40\x02\x00\x01\xd0\x00"))
		_, _ = io.Copy(io.Discard, conn)
	})
	r := start(t, Options{Listeners: []Listener{{Name: "mqtt-ws", Kind: WS, Addr: "127.0.0.1:0"}}, Handler: h})
	ws, _, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	payload := bytes.Repeat([]byte("p"), 300)
	want := append(append([]byte{0x30, 0xac}, payload...), 0xc0, 0x00, 0xc0, 0x00)
	// Message 1: the first byte of the fixed header only.
	if err := ws.WriteMessage(websocket.BinaryMessage, want[:1]); err != nil {
		t.Fatal(err)
	}
	// Message 2: the rest, sent fragmented (the dialer's 64-byte write
	// buffer makes several continuation frames), plus the next two packets.
	w, err := ws.NextWriter(websocket.BinaryMessage)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range [][]byte{want[1:100], want[100:]} {
		if _, err := w.Write(part); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want) {
			t.Fatalf("handler read %q, want %q", b, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler read nothing")
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, p, err := ws.ReadMessage()
	if err != nil || typ != websocket.BinaryMessage || string(p) != "\x40\x02\x00\x01\xd0\x00" {
		t.Fatalf("reply type %d %q %v", typ, p, err)
	}
}

// MQTT 5.0 [MQTT-6.0.0-1]: a text message closes the connection.
func TestWebSocketTextClosed(t *testing.T) {
	readErr := make(chan error, 1)
	h := HandlerFunc(func(_ context.Context, conn net.Conn, _ ConnInfo) {
		_, err := conn.Read(make([]byte, 10))
		readErr <- err
	})
	r := start(t, Options{Listeners: []Listener{{Name: "mqtt-ws", Kind: WS, Addr: "127.0.0.1:0"}}, Handler: h})
	ws, _, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("\x10\x00")); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; !errors.Is(err, errTextMessage) {
		t.Fatalf("handler read error %v", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Fatalf("client got %v, want close 1003", err)
	}
}

func TestWebSocketPeerCloseIsEOF(t *testing.T) {
	readErr := make(chan error, 1)
	h := HandlerFunc(func(_ context.Context, conn net.Conn, _ ConnInfo) {
		_, err := io.ReadAll(conn)
		readErr <- err
	})
	r := start(t, Options{Listeners: []Listener{{Name: "mqtt-ws", Kind: WS, Addr: "127.0.0.1:0"}}, Handler: h})
	ws, _, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte{0xe0, 0x00})
	_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	defer ws.Close()
	select {
	case err := <-readErr:
		if err != nil { // ReadAll turns io.EOF into nil
			t.Fatalf("read error %v, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler still reading after the close frame")
	}
}

func TestSecureWebSocket(t *testing.T) {
	certFile, keyFile, pool := testCert(t)
	cfg, err := LoadTLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	h, infos := infoRecorder()
	r := start(t, Options{Listeners: []Listener{{Name: "mqtt-wss", Kind: WSS, Addr: "127.0.0.1:0", TLSConfig: cfg}}, Handler: h})
	ws, _, err := dialWS(t, wsURL(r, "mqtt-wss", "wss", "/mqtt"), []string{"mqtt"}, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsRoundTrip(t, ws, []byte("\xc0\x00"))
	info := <-infos
	if info.Transport != WSS || info.TLS == nil || info.Subprotocol != "mqtt" {
		t.Fatalf("info %+v", info)
	}
	// Plain ws:// on the wss port fails.
	if ws, _, err := dialWS(t, wsURL(r, "mqtt-wss", "ws", "/mqtt"), []string{"mqtt"}, nil); err == nil {
		ws.Close()
		t.Fatal("plain WebSocket accepted on the secure port")
	}
}

// blockUntilShutdown holds its connection until the server stops.
var blockUntilShutdown = HandlerFunc(func(ctx context.Context, _ net.Conn, _ ConnInfo) { <-ctx.Done() })

func waitConns(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Connections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", s.Connections(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectClosed asserts the server closes c without sending anything.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if n != 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("read %d, %v: want the connection closed", n, err)
	}
}

func TestMaxConnections(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := start(t, Options{
		Listeners:      []Listener{tcp("mqtt"), {Name: "mqtt-ws", Kind: WS, Addr: "127.0.0.1:0"}},
		Handler:        HandlerFunc(func(ctx context.Context, c net.Conn, i ConnInfo) { echo(ctx, c, i) }),
		MaxConnections: 2, Registerer: reg,
	})
	a, err := net.Dial("tcp", r.addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ws, _, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitConns(t, r.s, 2)
	roundTrip(t, a, "a")

	// The limit counts every listener: a third TCP connection is closed
	// and a third WebSocket refused with 503.
	c, err := net.Dial("tcp", r.addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectClosed(t, c)
	if _, resp, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqtt"}, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third WebSocket: %v %v", resp, err)
	}
	if got := testutil.ToFloat64(r.s.metrics.rejected.WithLabelValues("mqtt", reasonLimit)); got != 1 {
		t.Fatalf("rejected{mqtt} = %v", got)
	}
	// The gauge counts handlers running: the server increments it after
	// writing the 101 response the client has already read, so a busy
	// machine may show it a moment later.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got := testutil.ToFloat64(r.s.metrics.open.WithLabelValues("mqtt-ws"))
		if got == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("open{mqtt-ws} = %v", got)
		}
	}

	// A slot freed is a slot taken.
	ws.Close()
	waitConns(t, r.s, 1)
	d, err := net.Dial("tcp", r.addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	roundTrip(t, d, "d")
}

func TestShutdownHandlersThatReturn(t *testing.T) {
	r := start(t, Options{Listeners: []Listener{tcp("mqtt"), {Name: "mqtt-ws", Kind: WS, Addr: "127.0.0.1:0"}},
		Handler: blockUntilShutdown, ShutdownTimeout: 5 * time.Second})
	c, err := net.Dial("tcp", r.addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ws, _, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	waitConns(t, r.s, 2)
	took, err := r.shutdown(t)
	if err != nil || took > 2*time.Second {
		t.Fatalf("shutdown: %v after %v", err, took)
	}
	expectClosed(t, c)
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("WebSocket after shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", r.addr("mqtt"), time.Second); err == nil {
		t.Fatal("listener still open")
	}
	if _, err := net.DialTimeout("tcp", r.addr("mqtt-ws"), time.Second); err == nil {
		t.Fatal("WebSocket listener still open")
	}
}

// Handlers that ignore the shutdown get their connections cut at the
// deadline; Serve returns cleanly once they then return.
func TestShutdownCutsAtDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	r := start(t, Options{Listeners: []Listener{tcp("mqtt"), {Name: "mqtt-ws", Kind: WS, Addr: "127.0.0.1:0"}},
		Handler: echo, ShutdownTimeout: timeout})
	c, err := net.Dial("tcp", r.addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "x")
	ws, _, err := dialWS(t, wsURL(r, "mqtt-ws", "ws", "/mqtt"), []string{"mqtt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsRoundTrip(t, ws, []byte("y"))
	took, err := r.shutdown(t)
	if err != nil || took < timeout || took > timeout+2*time.Second {
		t.Fatalf("shutdown: %v after %v (timeout %v)", err, took, timeout)
	}
	expectClosed(t, c)
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Fatal("WebSocket still open")
	}
}

// A handler stuck even after its connection is cut is reported, within a
// bound.
func TestShutdownReportsStuckHandler(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	r := start(t, Options{Listeners: []Listener{tcp("mqtt")}, ShutdownTimeout: 100 * time.Millisecond,
		Handler: HandlerFunc(func(context.Context, net.Conn, ConnInfo) { <-release })})
	c, err := net.Dial("tcp", r.addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitConns(t, r.s, 1)
	took, err := r.shutdown(t)
	if err == nil || took > 3*time.Second {
		t.Fatalf("shutdown: %v after %v", err, took)
	}
	expectClosed(t, c)
}

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	h := HandlerFunc(func(ctx context.Context, conn net.Conn, info ConnInfo) {
		b := make([]byte, 1)
		if _, err := io.ReadFull(conn, b); err == nil && b[0] == '!' {
			panic("boom")
		}
		_, _ = conn.Write(b)
		echo(ctx, conn, info)
	})
	r := start(t, Options{Listeners: []Listener{tcp("mqtt")}, Handler: h})
	good, err := net.Dial("tcp", r.addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	roundTrip(t, good, "a")
	bad, err := net.Dial("tcp", r.addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, _ = bad.Write([]byte("!"))
	expectClosed(t, bad)
	roundTrip(t, good, "still here")
}

func TestNewRejects(t *testing.T) {
	cases := map[string]Options{
		"no handler":   {Listeners: []Listener{tcp("a")}},
		"no listeners": {Handler: echo},
		"dup name":     {Handler: echo, Listeners: []Listener{tcp("a"), tcp("a")}},
		"tls no cfg":   {Handler: echo, Listeners: []Listener{{Name: "t", Kind: TLS, Addr: "127.0.0.1:0"}}},
		"kind":         {Handler: echo, Listeners: []Listener{{Name: "t", Kind: "quic", Addr: "127.0.0.1:0"}}},
		"tcp path":     {Handler: echo, Listeners: []Listener{{Name: "t", Kind: TCP, Addr: "127.0.0.1:0", Path: "/mqtt"}}},
		"bad addr":     {Handler: echo, Listeners: []Listener{{Name: "t", Kind: TCP, Addr: "nope"}}},
	}
	for name, o := range cases {
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("%s: accepted", name)
		}
	}
	// A port clash fails New and releases the listeners bound before it.
	s, err := New(Options{Handler: echo, Listeners: []Listener{tcp("a")}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := first.Addr().String()
	first.Close()
	if _, err := New(Options{Handler: echo, Listeners: []Listener{{Name: "b", Kind: TCP, Addr: free}, {Name: "c", Kind: TCP, Addr: s.Addr("a").String()}}}); err == nil {
		t.Fatal("port clash accepted")
	}
	again, err := net.Listen("tcp", free)
	if err != nil {
		t.Fatalf("listener of a failed New not released: %v", err)
	}
	again.Close()
}
