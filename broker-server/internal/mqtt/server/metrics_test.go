package server_test

import (
	"sync"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
)

// TestDeliveryObservedAndTraffic: every first delivery of a message
// published on this broker is observed once with a sane latency, a
// retained message delivered on subscribe is not, and the traffic totals
// count the PUBLISH packets both ways.
func TestDeliveryObservedAndTraffic(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []time.Duration
	b := startBroker(t, func(c *server.Config) {
		c.ObserveDelivery = func(d time.Duration) {
			mu.Lock()
			seen = append(seen, d)
			mu.Unlock()
		}
	})
	pub := paho3(t, "tcp://"+b.tcp, "dpub", 4, true, nil, nil)
	tok(t, pub.Publish("dl/r", 1, true, "retained"))
	s := newSink3()
	sub := paho3(t, "tcp://"+b.tcp, "dsub", 4, true, s, nil)
	tok(t, sub.Subscribe("dl/#", 1, nil))
	if m := s.next(t); m.payload != "retained" {
		t.Fatalf("first message %q, want the retained one", m.payload)
	}
	const n = 5
	start := time.Now()
	for i := range n {
		tok(t, pub.Publish("dl/x", byte(i%2), false, "m"))
	}
	for range n {
		s.next(t)
	}
	// The observation follows the write the client may already have read.
	var got []time.Duration
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got = append(got[:0], seen...)
		mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			break
		}
	}
	bound := time.Since(start)
	if len(got) != n {
		t.Fatalf("%d deliveries observed, want %d (the retained one is not)", len(got), n)
	}
	for _, d := range got {
		if d < 0 || d > bound {
			t.Fatalf("delivery latency %v outside [0, %v]", d, bound)
		}
	}
	tr := b.srv.Traffic()
	if tr.MessagesIn != n+1 || tr.MessagesOut != n+1 || tr.BytesIn == 0 || tr.BytesOut == 0 {
		t.Fatalf("traffic %+v, want %d messages each way", tr, n+1)
	}
}
