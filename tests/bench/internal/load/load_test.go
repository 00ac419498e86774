package load

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakePutter records keys and can fail or be slow.
type fakePutter struct {
	delay time.Duration
	fail  bool
	calls atomic.Int64

	mu   sync.Mutex
	keys map[string]int
}

func (f *fakePutter) Put(ctx context.Context, key string, _ []byte) error {
	f.calls.Add(1)
	f.mu.Lock()
	if f.keys == nil {
		f.keys = make(map[string]int)
	}
	f.keys[key]++
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.fail {
		return errors.New("boom")
	}
	return nil
}

func baseStep() Step {
	return Step{
		Concurrency:          4,
		Duration:             time.Minute,
		MaxRequests:          400,
		KeyPrefix:            "t",
		Value:                []byte("v"),
		RequestTimeout:       time.Second,
		MaxConsecutiveErrors: 5,
	}
}

func TestRunStopsAtCountBoundWithDistinctKeysRoundRobin(t *testing.T) {
	pool := []*fakePutter{{}, {}}
	step := baseStep()
	res, err := Run(context.Background(), []Putter{pool[0], pool[1]}, step)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Latencies) != 400 || res.Errors != 0 {
		t.Fatalf("writes %d errors %d, want 400 and 0", len(res.Latencies), res.Errors)
	}
	// Four workers over two putters: each putter serves two workers.
	for i, p := range pool {
		if got := p.calls.Load(); got != 200 {
			t.Errorf("putter %d got %d calls, want 200", i, got)
		}
		for k, n := range p.keys {
			if n != 1 {
				t.Errorf("key %s written %d times", k, n)
			}
		}
	}
	if _, dup := pool[1].keys[Key("t", 0, 0)]; dup {
		t.Error("worker 0's key reached putter 1")
	}
}

func TestRunStopsAtDeadline(t *testing.T) {
	step := baseStep()
	step.Duration = 200 * time.Millisecond
	step.MaxRequests = 1_000_000
	start := time.Now()
	res, err := Run(context.Background(), []Putter{&fakePutter{delay: 5 * time.Millisecond}}, step)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("step of 200ms took %v", took)
	}
	if len(res.Latencies) == 0 || res.Elapsed < step.Duration {
		t.Fatalf("writes %d elapsed %v", len(res.Latencies), res.Elapsed)
	}
	for _, l := range res.Latencies {
		if l < 5*time.Millisecond {
			t.Fatalf("latency %v below the putter's delay", l)
		}
	}
}

func TestRunGivesUpOnPersistentErrors(t *testing.T) {
	res, err := Run(context.Background(), []Putter{&fakePutter{fail: true}}, baseStep())
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 4*5 || len(res.Latencies) != 0 || res.FirstErr == nil {
		t.Fatalf("errors %d writes %d first %v; want 20, 0, boom", res.Errors, len(res.Latencies), res.FirstErr)
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	step := baseStep()
	step.MaxRequests = 1_000_000
	_, err := Run(ctx, []Putter{&fakePutter{delay: time.Millisecond}}, step)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
}

func TestRunRejectsBadSteps(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Step)
		pool []Putter
	}{
		{"empty pool", func(*Step) {}, nil},
		{"zero concurrency", func(s *Step) { s.Concurrency = 0 }, []Putter{&fakePutter{}}},
		{"no duration", func(s *Step) { s.Duration = 0 }, []Putter{&fakePutter{}}},
		{"count below concurrency", func(s *Step) { s.MaxRequests = 1 }, []Putter{&fakePutter{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseStep()
			tt.mod(&s)
			if _, err := Run(context.Background(), tt.pool, s); err == nil {
				t.Fatal("Run accepted a bad step")
			}
		})
	}
}
