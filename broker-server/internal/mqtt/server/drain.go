package server

import (
	"time"

	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
)

// Drain sends the broker's clients elsewhere (an operator drains the
// broker before removing it): every connected MQTT 5 client gets
// DISCONNECT 0x9C (Use another server) with reference as its Server
// Reference, MQTT 3.x clients are disconnected, and new connections are
// refused the same way (CONNACK 0x9C, 3.x 0x03) until Undrain. Sessions
// stay in the cluster, so the clients resume them on the broker they
// reconnect to.
func (s *Server) Drain(reference string) {
	s.mu.Lock()
	s.draining, s.reference = true, reference
	conns := make([]*conn, 0, len(s.live))
	for c := range s.live {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.useAnotherServer(reference)
	}
}

// Undrain accepts clients again.
func (s *Server) Undrain() {
	s.mu.Lock()
	s.draining, s.reference = false, ""
	s.mu.Unlock()
}

func (s *Server) drainState() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining, s.reference
}

// useAnotherServer disconnects the client with 0x9C and a Server
// Reference (MQTT 5) or by closing the connection (3.x).
func (c *conn) useAnotherServer(reference string) {
	if c.v5() {
		d := &pk.Disconnect{ReasonCode: pk.ReasonUseAnotherServer}
		d.Props.ReasonString = pk.Some("this broker is being drained")
		if reference != "" {
			d.Props.ServerReference = pk.Some(reference)
		}
		c.fit(d, &d.Props)
		_ = c.writeWithin(2*time.Second, d)
	}
	_ = c.nc.Close()
}
