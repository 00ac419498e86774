package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

type rawConnKey struct{}

// newWSServer builds the HTTP server of a WS or WSS listener.
func (s *Server) newWSServer(bl *boundListener) *http.Server {
	up := &websocket.Upgrader{
		HandshakeTimeout: s.opts.HandshakeTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
		// MQTT clients in browsers connect from any origin; they
		// authenticate in CONNECT, not with cookies, so the browser's
		// ambient credentials give a foreign page nothing.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	return &http.Server{
		Handler:           &wsHandler{s: s, bl: bl, up: up},
		TLSConfig:         bl.cfg.TLSConfig,
		ReadHeaderTimeout: s.opts.HandshakeTimeout,
		IdleTimeout:       s.opts.HandshakeTimeout,
		MaxHeaderBytes:    16 << 10,
		// HTTP/1.1 only: the upgrade needs it (no WebSocket over HTTP/2).
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, rawConnKey{}, c)
		},
		// Handshake noise (scanners, TLS errors) goes to debug.
		ErrorLog: log.New(debugWriter{s}, "", 0),
	}
}

type debugWriter struct{ s *Server }

func (d debugWriter) Write(p []byte) (int, error) {
	d.s.opts.Logger.Debug().Str("component", "websocket-http").Msg(string(p))
	return len(p), nil
}

func (s *Server) serveHTTP(bl *boundListener) error {
	var err error
	if bl.cfg.Kind == WSS {
		err = bl.http.ServeTLS(bl.ln, "", "")
	} else {
		err = bl.http.Serve(bl.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

type wsHandler struct {
	s  *Server
	bl *boundListener
	up *websocket.Upgrader
}

// negotiate returns the subprotocol to answer with: the first of
// Subprotocols the client offered, or "" if it offered none of them.
func negotiate(r *http.Request) string {
	offered := websocket.Subprotocols(r)
	for _, p := range Subprotocols {
		if slices.Contains(offered, p) {
			return p
		}
	}
	return ""
}

func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, name := h.s, h.bl.cfg.Name
	if r.URL.Path != h.bl.cfg.Path {
		http.NotFound(w, r)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "MQTT over WebSocket: send a WebSocket upgrade request to "+h.bl.cfg.Path, http.StatusBadRequest)
		return
	}
	proto := negotiate(r)
	if proto == "" {
		s.rejected(name, reasonWS, remoteAddr(r), errors.New("no mqtt subprotocol offered"))
		http.Error(w, `MQTT over WebSocket requires the subprotocol "mqtt" (Sec-WebSocket-Protocol)`, http.StatusBadRequest)
		return
	}
	sl, why := s.acquire(name)
	if sl == nil {
		s.rejected(name, why, remoteAddr(r), nil)
		http.Error(w, "broker cannot take more connections: "+why, http.StatusServiceUnavailable)
		return
	}
	defer s.release(sl)
	up := *h.up
	up.Subprotocols = []string{proto}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader answered the client already.
		s.rejected(name, reasonWS, remoteAddr(r), err)
		return
	}
	raw, _ := r.Context().Value(rawConnKey{}).(net.Conn)
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if raw == nil {
		raw = ws.NetConn()
	}
	if !s.attach(sl, raw) {
		return
	}
	// The HTTP server's read deadline for headers does not apply to the
	// stream.
	_ = ws.NetConn().SetDeadline(time.Time{})
	info := ConnInfo{Listener: name, Transport: h.bl.cfg.Kind, Remote: ws.RemoteAddr(), Local: ws.LocalAddr(),
		TLS: r.TLS, Subprotocol: ws.Subprotocol()}
	s.run(newWSConn(ws), info)
}

func remoteAddr(r *http.Request) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if err != nil {
		return nil
	}
	return a
}

// wsConn presents the binary messages of a WebSocket connection as one
// byte stream. One Read and one Write may run concurrently (gorilla
// allows one reader and one writer); Close may be called at any time.
type wsConn struct {
	ws *websocket.Conn

	rmu  sync.Mutex
	cur  io.Reader // the message being read; nil between messages
	rerr error     // sticky: gorilla panics on reads after a failure

	wmu       sync.Mutex
	closeOnce sync.Once
}

func newWSConn(ws *websocket.Conn) *wsConn { return &wsConn{ws: ws} }

var errTextMessage = errors.New("websocket: text message received; MQTT uses binary messages only")

// closeWait bounds the close frame sent by Close.
const closeWait = time.Second

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if c.cur == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				c.rerr = mapWSError(err)
				return 0, c.rerr
			}
			if typ != websocket.BinaryMessage {
				// MQTT 5.0 section 6.0 [MQTT-6.0.0-1]: close the connection.
				msg := websocket.FormatCloseMessage(websocket.CloseUnsupportedData, "binary messages only")
				_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
				c.rerr = errTextMessage
				return 0, c.rerr
			}
			c.cur = r
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			c.rerr = mapWSError(err)
			return n, c.rerr
		}
		return n, nil
	}
}

// mapWSError turns the peer's close frame into io.EOF.
func mapWSError(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway || ce.Code == websocket.CloseNoStatusReceived {
			return io.EOF
		}
		return fmt.Errorf("%w (%v)", io.ErrUnexpectedEOF, ce)
	}
	return err
}

// Write sends p as one binary message.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a normal close frame (best effort, bounded) and closes the
// connection.
func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
		err = c.ws.Close()
	})
	return err
}

func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.ws.SetReadDeadline(t); err != nil {
		return err
	}
	return c.ws.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

var _ net.Conn = (*wsConn)(nil)
