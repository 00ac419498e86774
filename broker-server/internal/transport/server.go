package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Kind is how a listener frames its connections.
type Kind string

// The transports a listener can speak.
const (
	TCP Kind = "tcp"
	TLS Kind = "tls"
	WS  Kind = "ws"
	WSS Kind = "wss"
)

// DefaultPath is the HTTP path WebSocket listeners serve when none is set.
const DefaultPath = "/mqtt"

// Subprotocols are the WebSocket subprotocols accepted, in order of
// preference: "mqtt" (MQTT 3.1.1 and 5.0) and "mqttv3.1" (MQTT 3.1).
var Subprotocols = []string{"mqtt", "mqttv3.1"}

// Defaults applied by New to zero Options fields.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultShutdownTimeout  = 10 * time.Second
)

// Listener describes one listening socket.
type Listener struct {
	// Name identifies the listener in logs, metrics and ConnInfo, e.g.
	// "mqtt" or "mqtt-ws". Names must be unique.
	Name string
	Kind Kind
	// Addr is host:port; port 0 picks a free port (see Server.Addr).
	Addr string
	// TLSConfig is required for TLS and WSS and ignored otherwise.
	TLSConfig *tls.Config
	// Path is the WebSocket path (DefaultPath when empty); WS and WSS only.
	Path string
}

// ConnInfo says where a connection came from.
type ConnInfo struct {
	Listener  string
	Transport Kind
	Remote    net.Addr
	Local     net.Addr
	// TLS is the handshake's result on TLS and WSS connections, nil on
	// plain ones.
	TLS *tls.ConnectionState
	// Subprotocol is the negotiated WebSocket subprotocol (WS and WSS).
	Subprotocol string
}

// Handler serves one connection. ServeConn owns conn until it returns;
// the transport closes conn afterwards. ctx ends when the server starts
// shutting down: the handler should then finish (e.g. tell the client)
// and return within the shutdown timeout, after which conn is cut.
type Handler interface {
	ServeConn(ctx context.Context, conn net.Conn, info ConnInfo)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, conn net.Conn, info ConnInfo)

// ServeConn calls f.
func (f HandlerFunc) ServeConn(ctx context.Context, conn net.Conn, info ConnInfo) { f(ctx, conn, info) }

// Options configures a Server.
type Options struct {
	Listeners []Listener
	Handler   Handler
	// MaxConnections bounds the connections over all listeners (0: no
	// limit); one more is closed at once (WebSocket: HTTP 503).
	MaxConnections int
	// HandshakeTimeout bounds a TLS handshake and a WebSocket upgrade.
	HandshakeTimeout time.Duration
	// ShutdownTimeout is how long handlers get to return once shutdown
	// starts before their connections are cut.
	ShutdownTimeout time.Duration
	// Registerer receives the transport metrics; nil disables them.
	Registerer prometheus.Registerer
	Logger     zerolog.Logger
}

// Server accepts connections on its listeners and runs the Handler on
// each. Its goroutines (one accept loop or HTTP server per listener, one
// per connection) are owned by Serve, which waits for them, within the
// shutdown timeout, before it returns.
type Server struct {
	opts      Options
	listeners []*boundListener
	metrics   *metrics

	// connCtx is the context handlers get; cancelled when shutdown starts.
	connCtx    context.Context
	cancelConn context.CancelFunc

	mu       sync.Mutex
	slots    map[*slot]struct{}
	closing  bool // no new connections
	cut      bool // remaining connections were cut
	handlers sync.WaitGroup

	closeOnce    sync.Once
	lastRejectNs atomic.Int64
}

// slot is one admitted connection; conn (the innermost TCP connection,
// closed to cut it) is set once it is known.
type slot struct {
	conn net.Conn
}

type boundListener struct {
	cfg  Listener
	ln   net.Listener
	http *http.Server // WS and WSS
}

// New binds every listener (so a port clash fails start-up at once) and
// builds the server. Nothing is accepted until Serve.
func New(opts Options) (*Server, error) {
	if opts.Handler == nil {
		return nil, errors.New("transport: nil handler")
	}
	if len(opts.Listeners) == 0 {
		return nil, errors.New("transport: no listeners")
	}
	if opts.MaxConnections < 0 {
		return nil, errors.New("transport: negative MaxConnections")
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, metrics: m, slots: make(map[*slot]struct{})}
	s.connCtx, s.cancelConn = context.WithCancel(context.Background())
	names := map[string]bool{}
	for _, l := range opts.Listeners {
		if err := checkListener(l, names); err != nil {
			s.Close()
			return nil, err
		}
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("transport: listener %s: listen %s: %w", l.Name, l.Addr, err)
		}
		bl := &boundListener{cfg: l, ln: ln}
		if l.Kind == WS || l.Kind == WSS {
			if bl.cfg.Path == "" {
				bl.cfg.Path = DefaultPath
			}
			bl.http = s.newWSServer(bl)
		}
		s.listeners = append(s.listeners, bl)
		m.init(l.Name)
	}
	return s, nil
}

func checkListener(l Listener, names map[string]bool) error {
	if l.Name == "" || names[l.Name] {
		return fmt.Errorf("transport: listener name %q empty or used twice", l.Name)
	}
	names[l.Name] = true
	switch l.Kind {
	case TCP, WS:
	case TLS, WSS:
		if l.TLSConfig == nil {
			return fmt.Errorf("transport: listener %s (%s) needs a TLS config", l.Name, l.Kind)
		}
	default:
		return fmt.Errorf("transport: listener %s: unknown kind %q", l.Name, l.Kind)
	}
	if (l.Kind == TCP || l.Kind == TLS) && l.Path != "" {
		return fmt.Errorf("transport: listener %s: a path is for WebSocket listeners only", l.Name)
	}
	return nil
}

// Addr returns the bound address of the named listener (nil if none).
func (s *Server) Addr(name string) net.Addr {
	for _, bl := range s.listeners {
		if bl.cfg.Name == name {
			return bl.ln.Addr()
		}
	}
	return nil
}

// Connections returns the number of connections admitted and not yet
// finished (including WebSocket upgrades in progress).
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.slots)
}

// Close closes the listeners without serving; for a Server whose Serve
// was never called (Serve closes them itself). Safe to call more than once.
func (s *Server) Close() {
	s.closeListeners()
	s.cancelConn()
}

func (s *Server) closeListeners() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		for _, bl := range s.listeners {
			if bl.http != nil {
				// Closes the listener and connections not yet upgraded;
				// upgraded (hijacked) ones are ours.
				_ = bl.http.Close()
			}
			_ = bl.ln.Close()
		}
	})
}

// Serve accepts connections until ctx ends, then shuts down: listeners
// first, then the handlers' context, then (after ShutdownTimeout) the
// connections still open. It returns nil after a clean shutdown, or an
// error if a listener failed or handlers did not return after their
// connections were cut.
func (s *Server) Serve(ctx context.Context) error {
	var loops sync.WaitGroup
	failed := make(chan error, len(s.listeners))
	for _, bl := range s.listeners {
		loops.Add(1)
		go func() {
			defer loops.Done()
			var err error
			if bl.http != nil {
				err = s.serveHTTP(bl)
			} else {
				err = s.acceptLoop(bl)
			}
			if err != nil {
				failed <- fmt.Errorf("transport: listener %s: %w", bl.cfg.Name, err)
			}
		}()
		ev := s.opts.Logger.Info().Str("listener", bl.cfg.Name).Str("transport", string(bl.cfg.Kind)).Str("addr", bl.ln.Addr().String())
		if bl.cfg.Path != "" {
			ev = ev.Str("path", bl.cfg.Path)
		}
		ev.Msg("listening")
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-failed:
		s.opts.Logger.Error().Err(serveErr).Msg("listener failed; shutting down the transport")
	}
	start := time.Now()
	s.closeListeners()
	loops.Wait()
	s.cancelConn()
	open := s.Connections()
	stuck := s.drain()
	s.opts.Logger.Info().Int("connections_at_shutdown", open).Dur("took", time.Since(start)).Msg("transport stopped")
	return errors.Join(serveErr, stuck)
}

// drain waits for the handlers, cutting their connections after the
// shutdown timeout; it returns an error if some still have not returned
// a further while after that.
func (s *Server) drain() error {
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	timer := time.NewTimer(s.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
	}
	n := s.cutAll()
	s.opts.Logger.Warn().Int("connections", n).Dur("timeout", s.opts.ShutdownTimeout).Msg("connections still open after the shutdown timeout; cut")
	grace := min(s.opts.ShutdownTimeout, 2*time.Second)
	timer.Reset(grace)
	select {
	case <-done:
		return nil
	case <-timer.C:
		return fmt.Errorf("transport: %d connection handlers did not return %v after their connections were cut", s.Connections(), grace)
	}
}

// cutAll closes every admitted connection and returns how many.
func (s *Server) cutAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = true
	for sl := range s.slots {
		if sl.conn != nil {
			_ = sl.conn.Close()
		}
	}
	return len(s.slots)
}

// acquire admits one connection on listener l, or says why not.
func (s *Server) acquire(l string) (*slot, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, reasonShutdown
	}
	if s.opts.MaxConnections > 0 && len(s.slots) >= s.opts.MaxConnections {
		return nil, reasonLimit
	}
	sl := &slot{}
	s.slots[sl] = struct{}{}
	s.handlers.Add(1)
	return sl, ""
}

// attach records the connection to cut for sl; false (and conn closed)
// if the connections were cut already.
func (s *Server) attach(sl *slot, conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.conn = conn
	if s.cut {
		_ = conn.Close()
		return false
	}
	return true
}

func (s *Server) release(sl *slot) {
	s.mu.Lock()
	delete(s.slots, sl)
	s.mu.Unlock()
	s.handlers.Done()
}

// rejected counts and (at most once a second) logs a refused connection.
func (s *Server) rejected(l, reason string, remote net.Addr, err error) {
	s.metrics.rejected.WithLabelValues(l, reason).Inc()
	now := time.Now().UnixNano()
	last := s.lastRejectNs.Load()
	if now-last < int64(time.Second) || !s.lastRejectNs.CompareAndSwap(last, now) {
		return
	}
	ev := s.opts.Logger.Warn()
	if reason == reasonTLS || reason == reasonWS {
		ev = s.opts.Logger.Debug()
	}
	addr := ""
	if remote != nil {
		addr = remote.String()
	}
	ev.Str("listener", l).Str("reason", reason).Str("remote", addr).Err(err).Int("max_connections", s.opts.MaxConnections).
		Msg("connection refused (logged at most once a second; see robustmq_broker_transport_connections_rejected_total)")
}

func (s *Server) acceptLoop(bl *boundListener) error {
	var delay time.Duration
	for {
		conn, err := bl.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off and retry,
			// as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.opts.Logger.Warn().Err(err).Str("listener", bl.cfg.Name).Dur("retry_in", delay).Msg("accept failed")
			time.Sleep(delay)
			continue
		}
		delay = 0
		sl, why := s.acquire(bl.cfg.Name)
		if sl == nil {
			s.rejected(bl.cfg.Name, why, conn.RemoteAddr(), nil)
			_ = conn.Close()
			continue
		}
		if !s.attach(sl, conn) {
			s.release(sl)
			continue
		}
		go s.serveStream(bl, sl, conn)
	}
}

// serveStream runs a TCP or TLS connection.
func (s *Server) serveStream(bl *boundListener, sl *slot, raw net.Conn) {
	defer s.release(sl)
	info := ConnInfo{Listener: bl.cfg.Name, Transport: bl.cfg.Kind, Remote: raw.RemoteAddr(), Local: raw.LocalAddr()}
	conn := raw
	if bl.cfg.Kind == TLS {
		tc := tls.Server(raw, bl.cfg.TLSConfig)
		_ = raw.SetDeadline(time.Now().Add(s.opts.HandshakeTimeout))
		if err := tc.HandshakeContext(s.connCtx); err != nil {
			_ = raw.Close()
			s.rejected(bl.cfg.Name, reasonTLS, info.Remote, err)
			return
		}
		_ = raw.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		info.TLS = &st
		conn = tc
	}
	s.run(conn, info)
}

// run calls the handler, then closes conn; a panic closes the connection
// and is logged, and the process goes on.
func (s *Server) run(conn net.Conn, info ConnInfo) {
	s.metrics.accepted.WithLabelValues(info.Listener).Inc()
	g := s.metrics.open.WithLabelValues(info.Listener)
	g.Inc()
	defer func() {
		if p := recover(); p != nil {
			s.opts.Logger.Error().Str("listener", info.Listener).Str("remote", info.Remote.String()).
				Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("connection handler panicked; connection closed")
		}
		_ = conn.Close()
		g.Dec()
	}()
	s.opts.Handler.ServeConn(s.connCtx, conn, info)
}

const (
	reasonLimit    = "max_connections"
	reasonShutdown = "shutting_down"
	reasonTLS      = "tls_handshake"
	reasonWS       = "websocket_handshake"
)

type metrics struct {
	open     *prometheus.GaugeVec
	accepted *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "robustmq_broker_transport_connections",
			Help: "Client connections open, by listener.",
		}, []string{"listener"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "robustmq_broker_transport_connections_accepted_total",
			Help: "Client connections handed to the protocol handler, by listener.",
		}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "robustmq_broker_transport_connections_rejected_total",
			Help: "Client connections refused before the protocol handler, by listener and reason (max_connections, shutting_down, tls_handshake, websocket_handshake).",
		}, []string{"listener", "reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.open, m.accepted, m.rejected} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("transport: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// init creates a listener's series so they show as zeros, not gaps.
func (m *metrics) init(l string) {
	m.open.WithLabelValues(l)
	m.accepted.WithLabelValues(l)
	m.rejected.WithLabelValues(l, reasonLimit)
}
