package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Putter writes one key. Each Putter in a pool stands for one client
// connection (or one client with its own connections); workers share them
// round-robin.
type Putter interface {
	Put(ctx context.Context, key string, value []byte) error
}

// Step is one timed run at one concurrency.
type Step struct {
	Concurrency int
	Duration    time.Duration
	// MaxRequests bounds the whole step in count, split evenly between
	// workers, so even a system faster than anyone expects stops.
	MaxRequests int
	// KeyPrefix makes the step's keys distinct from every other step's;
	// each worker adds its index and a counter.
	KeyPrefix      string
	Value          []byte
	RequestTimeout time.Duration
	// MaxConsecutiveErrors stops a worker whose system keeps failing, so
	// a dead cluster ends the step early instead of spinning on errors.
	MaxConsecutiveErrors int
}

func (s Step) validate(poolSize int) error {
	switch {
	case poolSize == 0:
		return errors.New("load: empty connection pool")
	case s.Concurrency <= 0:
		return fmt.Errorf("load: concurrency %d", s.Concurrency)
	case s.Duration <= 0:
		return fmt.Errorf("load: duration %v", s.Duration)
	case s.MaxRequests < s.Concurrency:
		return fmt.Errorf("load: max requests %d below concurrency %d", s.MaxRequests, s.Concurrency)
	case s.RequestTimeout <= 0:
		return fmt.Errorf("load: request timeout %v", s.RequestTimeout)
	case s.MaxConsecutiveErrors <= 0:
		return fmt.Errorf("load: max consecutive errors %d", s.MaxConsecutiveErrors)
	}
	return nil
}

// Result is what a step measured.
type Result struct {
	Latencies []time.Duration // one per acknowledged write, unsorted
	Errors    int
	FirstErr  error
	// Elapsed is from the first request to the end of the last worker's
	// last request, so in-flight requests at the deadline are counted in
	// both the writes and the time.
	Elapsed time.Duration
}

// Key is the key worker w writes in its i-th request of a step.
func Key(prefix string, worker, i int) string {
	return fmt.Sprintf("%s/w%04d/%09d", prefix, worker, i)
}

// Run drives the step against pool and returns when every worker stopped:
// at the step's deadline, after its share of MaxRequests, after
// MaxConsecutiveErrors failures in a row, or when ctx is done.
func Run(ctx context.Context, pool []Putter, s Step) (Result, error) {
	if err := s.validate(len(pool)); err != nil {
		return Result{}, err
	}
	perWorker := s.MaxRequests / s.Concurrency
	type workerResult struct {
		latencies []time.Duration
		errors    int
		firstErr  error
	}
	results := make([]workerResult, s.Concurrency)

	start := time.Now()
	deadline := start.Add(s.Duration)
	var wg sync.WaitGroup
	for w := range s.Concurrency {
		putter := pool[w%len(pool)]
		wg.Go(func() {
			r := &results[w]
			consecutive := 0
			for i := 0; i < perWorker && ctx.Err() == nil && time.Now().Before(deadline); i++ {
				reqCtx, cancel := context.WithTimeout(ctx, s.RequestTimeout)
				t0 := time.Now()
				err := putter.Put(reqCtx, Key(s.KeyPrefix, w, i), s.Value)
				took := time.Since(t0)
				cancel()
				if err != nil {
					r.errors++
					if r.firstErr == nil {
						r.firstErr = err
					}
					if consecutive++; consecutive >= s.MaxConsecutiveErrors {
						return
					}
					continue
				}
				consecutive = 0
				r.latencies = append(r.latencies, took)
			}
		})
	}
	wg.Wait()
	out := Result{Elapsed: time.Since(start)}
	n := 0
	for _, r := range results {
		n += len(r.latencies)
	}
	out.Latencies = make([]time.Duration, 0, n)
	for _, r := range results {
		out.Latencies = append(out.Latencies, r.latencies...)
		out.Errors += r.errors
		if out.FirstErr == nil {
			out.FirstErr = r.firstErr
		}
	}
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("load: step interrupted: %w", err)
	}
	return out, nil
}
