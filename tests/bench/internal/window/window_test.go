package window

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func step(conc int, d time.Duration) Step {
	return Step{Concurrency: conc, Duration: d, MaxOps: 1_000_000, DrainTimeout: 2 * time.Second, MaxConsecutiveErrors: 10}
}

func TestRunKeepsTheWindowFull(t *testing.T) {
	var inflight, peak atomic.Int64
	var wg sync.WaitGroup
	submit := func(done func(error)) error {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		wg.Go(func() {
			time.Sleep(2 * time.Millisecond)
			inflight.Add(-1)
			done(nil)
		})
		return nil
	}
	res, err := Run(context.Background(), step(8, 200*time.Millisecond), submit)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 8 {
		t.Fatalf("peak in flight %d, want 8", peak.Load())
	}
	if len(res.Latencies) != res.Submitted || res.Errors != 0 {
		t.Fatalf("%d latencies, %d submitted, %d errors", len(res.Latencies), res.Submitted, res.Errors)
	}
	// 8 in flight, 2ms each, 200ms: far more than 8 ops, far fewer than unbounded.
	if res.Submitted < 100 {
		t.Fatalf("only %d ops in 200ms with 8 in flight of 2ms", res.Submitted)
	}
	for _, l := range res.Latencies {
		if l < 2*time.Millisecond {
			t.Fatalf("latency %v below the 2ms the op took", l)
		}
	}
	if res.Elapsed < 200*time.Millisecond {
		t.Fatalf("elapsed %v", res.Elapsed)
	}
}

func TestRunBoundsCount(t *testing.T) {
	s := step(4, time.Minute)
	s.MaxOps = 50
	res, err := Run(context.Background(), s, func(done func(error)) error { done(nil); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Submitted != 50 || len(res.Latencies) != 50 {
		t.Fatalf("submitted %d, acked %d; want 50", res.Submitted, len(res.Latencies))
	}
}

func TestRunCountsErrorsAndStopsAFailingSystem(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	res, err := Run(context.Background(), step(2, time.Minute), func(done func(error)) error {
		if calls.Add(1)%2 == 0 {
			return boom // synchronous failure: done is never called
		}
		done(boom)
		return nil
	})
	if !errors.Is(err, ErrTooManyErrors) {
		t.Fatalf("err %v, want ErrTooManyErrors", err)
	}
	if res.Errors < 10 || !errors.Is(res.FirstErr, boom) || len(res.Latencies) != 0 {
		t.Fatalf("errors %d, first %v, acked %d", res.Errors, res.FirstErr, len(res.Latencies))
	}
}

func TestRunDrainTimesOut(t *testing.T) {
	s := step(2, 50*time.Millisecond)
	s.DrainTimeout = 100 * time.Millisecond
	start := time.Now()
	_, err := Run(context.Background(), s, func(done func(error)) error { return nil }) // never completes
	if err == nil {
		t.Fatal("no error for operations that never completed")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, step(1, time.Minute), func(done func(error)) error {
		go func() { time.Sleep(time.Millisecond); done(nil) }()
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

func TestStepValidation(t *testing.T) {
	for _, s := range []Step{{}, {Concurrency: 1}, {Concurrency: 2, Duration: time.Second, MaxOps: 1, DrainTimeout: time.Second, MaxConsecutiveErrors: 1}} {
		if _, err := Run(context.Background(), s, nil); err == nil {
			t.Fatalf("step %+v accepted", s)
		}
	}
}

// TestInterleaveTakesTurns: every contender is warmed up, then measured
// in rounds whose order rotates, and its rounds are merged.
func TestInterleaveTakesTurns(t *testing.T) {
	var mu sync.Mutex
	var order []string
	instant := func(done func(error)) error { done(nil); return nil }
	var cs []Contender
	for _, name := range []string{"a", "b", "c"} {
		cs = append(cs, Contender{Name: name, Submit: instant,
			Before: func(r int) { mu.Lock(); order = append(order, name); mu.Unlock() }})
	}
	m := Measure{Concurrency: 1, Warmup: 5 * time.Millisecond, Duration: 30 * time.Millisecond, MaxOps: 300, DrainTimeout: time.Second}
	after := 0
	res, warm, err := Interleave(context.Background(), m, 3, 1, 0, cs, func(int) error { after++; return nil }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ""); got != "bcacababc" || after != 3 {
		t.Fatalf("measured in the order %q with %d rounds ended, want bcacababc and 3", got, after)
	}
	for i, r := range res {
		if warm[i] == 0 {
			t.Errorf("contender %d: no warmup acknowledgements", i)
		}
		// Each round is bounded by MaxOps/rounds = 100 operations.
		if len(r.Latencies) != 300 || r.Submitted != 300 || r.Elapsed <= 0 {
			t.Errorf("contender %d: %d latencies, %d submitted, elapsed %v", i, len(r.Latencies), r.Submitted, r.Elapsed)
		}
	}
}
