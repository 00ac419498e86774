// Package window drives a windowed asynchronous load: at most Concurrency
// operations in flight at once, each submitted as soon as a slot frees,
// each timed from its submission to its completion callback. Both the
// journal producer and the JetStream publisher are driven through it, so
// "concurrency" means the same thing for every system: the number of
// single-record appends (publishes) sent and not yet acknowledged.
package window

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Submit starts one operation and returns at once. It must call done
// exactly once, from any goroutine, when the operation is acknowledged
// (nil) or failed, unless it returns an error itself (then done must never
// be called).
type Submit func(done func(error)) error

// Step is one timed run.
type Step struct {
	Concurrency int
	Duration    time.Duration
	// MaxOps bounds the run in count, so even a system faster than anyone
	// expects stops.
	MaxOps int
	// DrainTimeout bounds the wait for operations still in flight at the
	// deadline.
	DrainTimeout time.Duration
	// MaxConsecutiveErrors ends a run whose system keeps failing.
	MaxConsecutiveErrors int
}

func (s Step) validate() error {
	switch {
	case s.Concurrency <= 0:
		return fmt.Errorf("window: concurrency %d", s.Concurrency)
	case s.Duration <= 0:
		return fmt.Errorf("window: duration %v", s.Duration)
	case s.MaxOps < s.Concurrency:
		return fmt.Errorf("window: max ops %d below concurrency %d", s.MaxOps, s.Concurrency)
	case s.DrainTimeout <= 0:
		return fmt.Errorf("window: drain timeout %v", s.DrainTimeout)
	case s.MaxConsecutiveErrors <= 0:
		return fmt.Errorf("window: max consecutive errors %d", s.MaxConsecutiveErrors)
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	Latencies []time.Duration // one per acknowledged operation, unsorted
	Errors    int
	FirstErr  error
	// Submitted counts the operations started; Submitted - len(Latencies)
	// - Errors were still in flight when the drain timed out.
	Submitted int
	// Elapsed runs from the first submission to the last completion.
	Elapsed time.Duration
}

// ErrTooManyErrors ends a run after MaxConsecutiveErrors failures in a row.
var ErrTooManyErrors = errors.New("window: too many consecutive errors")

// Run submits operations until the step's duration or count is used up,
// keeping Concurrency of them in flight, then waits (up to DrainTimeout)
// for the last ones. It returns an error only for a bad step, an
// interrupted context or a system that kept failing; the result is valid
// in every case.
func Run(ctx context.Context, s Step, submit Submit) (Result, error) {
	if err := s.validate(); err != nil {
		return Result{}, err
	}
	slots := make(chan struct{}, s.Concurrency)
	var mu sync.Mutex
	res := Result{Latencies: make([]time.Duration, 0, min(s.MaxOps, 1<<20))}
	var last time.Time
	consecutive := 0
	failing := false

	start := time.Now()
	deadline := start.Add(s.Duration)
	timer := time.NewTimer(s.Duration)
	defer timer.Stop()
	var runErr error
loop:
	for res.Submitted < s.MaxOps {
		select {
		case slots <- struct{}{}:
		case <-timer.C:
			break loop
		case <-ctx.Done():
			runErr = ctx.Err()
			break loop
		}
		if !time.Now().Before(deadline) {
			<-slots
			break
		}
		mu.Lock()
		stop := failing
		mu.Unlock()
		if stop {
			<-slots
			runErr = ErrTooManyErrors
			break
		}
		t0 := time.Now()
		var once sync.Once
		err := submit(func(err error) {
			once.Do(func() {
				now := time.Now()
				mu.Lock()
				if err != nil {
					res.Errors++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
					consecutive++
					failing = failing || consecutive >= s.MaxConsecutiveErrors
				} else {
					res.Latencies = append(res.Latencies, now.Sub(t0))
					consecutive = 0
				}
				if now.After(last) {
					last = now
				}
				mu.Unlock()
				<-slots
			})
		})
		res.Submitted++
		if err != nil {
			mu.Lock()
			res.Errors++
			if res.FirstErr == nil {
				res.FirstErr = err
			}
			consecutive++
			failing = failing || consecutive >= s.MaxConsecutiveErrors
			mu.Unlock()
			<-slots
		}
	}
	// Drain: take every slot back (each is returned by a completion).
	drain := time.NewTimer(s.DrainTimeout)
	defer drain.Stop()
	drained := 0
	for drained < s.Concurrency {
		select {
		case slots <- struct{}{}:
			drained++
		case <-drain.C:
			drained = s.Concurrency
			if runErr == nil {
				runErr = fmt.Errorf("window: operations still in flight %v after the deadline", s.DrainTimeout)
			}
		case <-ctx.Done():
			drained = s.Concurrency
			if runErr == nil {
				runErr = ctx.Err()
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	out := Result{
		Latencies: append([]time.Duration(nil), res.Latencies...),
		Errors:    res.Errors,
		FirstErr:  res.FirstErr,
		Submitted: res.Submitted,
	}
	if last.IsZero() {
		last = time.Now()
	}
	out.Elapsed = last.Sub(start)
	return out, runErr
}
