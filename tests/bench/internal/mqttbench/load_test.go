package mqttbench

import (
	"context"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/mqttwire"
)

func msg(phase byte, pub uint32, seq uint64) mqttwire.Message {
	p := newPayload(64)
	stamp(p, phase, pub, seq)
	return mqttwire.Message{Payload: p, QoS: 1}
}

func TestCollectorCountsOnlyItsPhaseAndEachMessageOnce(t *testing.T) {
	c := newCollector(true)
	c.reset(phaseMeasure)
	c.onMessage(msg(phaseWarmup, 0, 1)) // late warmup message: ignored
	c.onMessage(msg(phaseMeasure, 0, 1))
	c.onMessage(msg(phaseMeasure, 0, 1)) // duplicate
	c.onMessage(msg(phaseMeasure, 1, 1)) // same seq, other publisher
	c.onMessage(mqttwire.Message{Payload: []byte("short")})
	c.onMessage(msg(phaseProbe, 0, 9))
	n, dups, last := c.snapshot()
	if n != 2 || dups != 1 || last.IsZero() {
		t.Fatalf("count %d, dups %d, last %v; want 2, 1, set", n, dups, last)
	}
	if l := c.latencies(); len(l) != 2 || l[0] < 0 {
		t.Fatalf("latencies %v", l)
	}
	select {
	case <-c.probeSeen:
	default:
		t.Fatal("probe not signalled")
	}
	got, err := c.waitFor(context.Background(), 3, 50*time.Millisecond, time.Second)
	if err != nil || got != 2 {
		t.Fatalf("waitFor = %d, %v; want 2 after the idle timeout", got, err)
	}
	c.reset(phaseWarmup)
	if n, _, _ := c.snapshot(); n != 0 {
		t.Fatalf("count %d after reset", n)
	}
}
