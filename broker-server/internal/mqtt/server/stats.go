package server

import (
	"io"
	"sync/atomic"

	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/sys"
)

// counters are the front end's traffic totals since start.
type counters struct {
	msgsIn   atomic.Uint64 // PUBLISH packets received from clients
	msgsOut  atomic.Uint64 // PUBLISH packets sent to clients
	bytesIn  atomic.Uint64 // bytes read from client connections
	bytesOut atomic.Uint64 // bytes written to client connections
	tooLarge atomic.Uint64 // messages larger than the client's Maximum Packet Size, not sent
}

// Traffic is the front end's totals since start.
type Traffic struct {
	// MessagesIn and MessagesOut count PUBLISH packets received from and
	// sent to clients; BytesIn and BytesOut the bytes read from and
	// written to their connections (every packet).
	MessagesIn, MessagesOut, BytesIn, BytesOut uint64
	// DroppedTooLarge counts messages not sent to a client because they
	// exceed its Maximum Packet Size (MQTT 5).
	DroppedTooLarge uint64
}

// Traffic returns the totals; it takes no lock (metrics read it).
func (s *Server) Traffic() Traffic {
	return Traffic{MessagesIn: s.stats.msgsIn.Load(), MessagesOut: s.stats.msgsOut.Load(),
		BytesIn: s.stats.bytesIn.Load(), BytesOut: s.stats.bytesOut.Load(), DroppedTooLarge: s.stats.tooLarge.Load()}
}

// countingReader counts the bytes read from a connection.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

// track adds or removes a connected client.
func (s *Server) track(c *conn, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.live[c] = struct{}{}
	} else {
		delete(s.live, c)
	}
}

var _ sys.Source = (*Server)(nil)

// Stats implements sys.Source: connected clients, their subscriptions,
// the sessions of the core, and the traffic totals.
func (s *Server) Stats() sys.Stats {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.live))
	for c := range s.live {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	st := sys.Stats{
		Clients:          int64(len(conns)),
		Sessions:         int64(s.core.Sessions()),
		MessagesReceived: s.stats.msgsIn.Load(),
		MessagesSent:     s.stats.msgsOut.Load(),
		BytesReceived:    s.stats.bytesIn.Load(),
		BytesSent:        s.stats.bytesOut.Load(),
	}
	for _, c := range conns {
		st.Subscriptions += int64(len(c.sess.Subscriptions()))
	}
	return st
}
