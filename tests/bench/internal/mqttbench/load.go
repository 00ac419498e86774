package mqttbench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/mqttwire"
	"github.com/robustmq/robustmq-go/tests/bench/internal/window"
)

// Phases, carried in every payload so the subscriber counts only the
// measured run's messages.
const (
	phaseProbe   byte = 1
	phaseWarmup  byte = 2
	phaseMeasure byte = 3
)

// headerBytes is the payload's header: send time (unix ns), phase,
// publisher, sequence number. The rest is filler.
const headerBytes = 8 + 1 + 4 + 8

// maxLatencySamples bounds the end-to-end latencies kept per run.
const maxLatencySamples = 4 << 20

func newPayload(size int) []byte {
	p := make([]byte, size)
	for i := headerBytes; i < size; i++ {
		p[i] = byte('a' + i%26)
	}
	return p
}

// stamp writes the header into p (reused: the client copies it at once).
func stamp(p []byte, phase byte, pub uint32, seq uint64) {
	binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
	p[8] = phase
	binary.BigEndian.PutUint32(p[9:], pub)
	binary.BigEndian.PutUint64(p[13:], seq)
}

// collector is the subscriber's side: counts, distinct ids and end-to-end
// latencies of the messages of one phase.
type collector struct {
	distinct bool // track (publisher, seq) ids: QoS 1 (duplicates possible)

	mu        sync.Mutex
	phase     byte
	count     int64 // messages of phase, duplicates included
	seen      map[uint64]struct{}
	dups      int64
	e2e       []time.Duration
	last      time.Time
	probeSeen chan struct{} // capacity 1
	bad       int64         // payloads too short to parse
}

func newCollector(distinct bool) *collector {
	return &collector{distinct: distinct, probeSeen: make(chan struct{}, 1), seen: map[uint64]struct{}{}}
}

// reset starts counting phase.
func (c *collector) reset(phase byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.phase, c.count, c.dups, c.last = phase, 0, 0, time.Time{}
	c.seen = map[uint64]struct{}{}
	c.e2e = c.e2e[:0]
}

func (c *collector) onMessage(m mqttwire.Message) {
	now := time.Now()
	p := m.Payload
	if len(p) < headerBytes {
		c.mu.Lock()
		c.bad++
		c.mu.Unlock()
		return
	}
	phase := p[8]
	if phase == phaseProbe {
		select {
		case c.probeSeen <- struct{}{}:
		default:
		}
		return
	}
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(p)))
	id := uint64(binary.BigEndian.Uint32(p[9:]))<<40 | binary.BigEndian.Uint64(p[13:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if phase != c.phase {
		return
	}
	if c.distinct {
		if _, dup := c.seen[id]; dup {
			c.dups++
			return
		}
		c.seen[id] = struct{}{}
	}
	c.count++
	c.last = now
	if len(c.e2e) < maxLatencySamples {
		c.e2e = append(c.e2e, now.Sub(sent))
	}
}

// snapshot returns distinct messages (all messages when not tracking
// ids), duplicates and the time of the last one.
func (c *collector) snapshot() (int64, int64, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count, c.dups, c.last
}

func (c *collector) latencies() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.e2e...)
}

// waitFor waits until want messages arrived, none arrived for idle, or
// limit passed; it returns the count reached.
func (c *collector) waitFor(ctx context.Context, want int64, idle, limit time.Duration) (int64, error) {
	deadline := time.Now().Add(limit)
	got, _, _ := c.snapshot()
	lastChange := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for got < want {
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-tick.C:
		}
		n, _, _ := c.snapshot()
		now := time.Now()
		if n != got {
			got, lastChange = n, now
		}
		if now.Sub(lastChange) >= idle || now.After(deadline) {
			break
		}
	}
	return got, nil
}

// probe publishes QoS 1 probes from pub until the subscriber's collector
// sees one (the subscription is in effect end to end), bounded by timeout.
func probe(ctx context.Context, pub *mqttwire.Conn, topic string, col *collector, payloadSize int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Drop a stale signal from an earlier probe.
	select {
	case <-col.probeSeen:
	default:
	}
	p := newPayload(payloadSize)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for seq := uint64(0); ; seq++ {
		stamp(p, phaseProbe, 0, seq)
		if err := pub.Publish1(topic, p, func(error) {}); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		select {
		case <-col.probeSeen:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("probe: no message reached the subscriber within %v: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// qos1Result merges the publishers' window results.
type qos1Result struct {
	latencies []time.Duration
	acked     int64
	errors    int
	firstErr  error
	elapsed   time.Duration
	started   time.Time
	ended     time.Time
}

// publishQoS1 runs every publisher (its own connection and window) at
// once for d (or perPub messages each), all with the same phase.
func publishQoS1(ctx context.Context, pubs []*mqttwire.Conn, topics []string, phase byte, win int, d time.Duration, perPub int,
	payloadSize int, drain time.Duration) (qos1Result, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	out := qos1Result{started: time.Now()}
	var errs []error
	for i, c := range pubs {
		wg.Go(func() {
			p := newPayload(payloadSize)
			seq := uint64(0)
			submit := func(done func(error)) error {
				stamp(p, phase, uint32(i), seq)
				seq++
				return c.Publish1(topics[i], p, done)
			}
			res, err := window.Run(ctx, window.Step{Concurrency: win, Duration: d, MaxOps: perPub, DrainTimeout: drain, MaxConsecutiveErrors: 50}, submit)
			mu.Lock()
			defer mu.Unlock()
			out.latencies = append(out.latencies, res.Latencies...)
			out.acked += int64(len(res.Latencies))
			out.errors += res.Errors
			if out.firstErr == nil {
				out.firstErr = res.FirstErr
			}
			out.elapsed = max(out.elapsed, res.Elapsed)
			if err != nil {
				errs = append(errs, fmt.Errorf("publisher %d: %w (first error: %v)", i, err, res.FirstErr))
			}
		})
	}
	wg.Wait()
	out.ended = time.Now()
	return out, errors.Join(errs...)
}

// publishQoS0 has every publisher write QoS 0 messages as fast as its
// connection takes them, for d or perPub messages each. It returns the
// messages written and the time from the start to the last write.
func publishQoS0(ctx context.Context, pubs []*mqttwire.Conn, topics []string, phase byte, d time.Duration, perPub int, payloadSize int) (int64, time.Duration, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	var errs []error
	start := time.Now()
	deadline := start.Add(d)
	for i, c := range pubs {
		wg.Go(func() {
			p := newPayload(payloadSize)
			n := 0
			var err error
			for n < perPub {
				if n%64 == 0 && (time.Now().After(deadline) || ctx.Err() != nil) {
					break
				}
				stamp(p, phase, uint32(i), uint64(n))
				if err = c.Publish0(topics[i], p); err != nil {
					break
				}
				n++
			}
			mu.Lock()
			defer mu.Unlock()
			total += int64(n)
			if err != nil {
				errs = append(errs, fmt.Errorf("publisher %d: %w", i, err))
			}
		})
	}
	wg.Wait()
	return total, time.Since(start), errors.Join(errs...)
}
