package window

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// Settle flushes dirty pages (so one measurement's write-back does not
// land in the next) and pauses for d.
func Settle(ctx context.Context, d time.Duration) error {
	unix.Sync()
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Measure is one system's warmed-up measurement at one concurrency.
type Measure struct {
	Name        string
	Concurrency int
	// Warmup (0: none) runs first, unmeasured; Duration is measured.
	Warmup, Duration time.Duration
	// MaxOps bounds each run; DrainTimeout waits for in-flight operations.
	MaxOps       int
	DrainTimeout time.Duration
}

func (m Measure) step(d time.Duration) Step {
	return Step{Concurrency: m.Concurrency, Duration: d, MaxOps: m.MaxOps, DrainTimeout: m.DrainTimeout, MaxConsecutiveErrors: 100}
}

// warmup runs m's unmeasured warmup (none when m.Warmup is 0), which
// must get at least one acknowledgement (it also proves a fresh topic or
// stream writable, so it is retried a few times while every node's
// metadata catches up), and returns the acknowledgements.
func warmup(ctx context.Context, m Measure, submit Submit, stderr io.Writer) (int, error) {
	warmAcked := 0
	if m.Warmup <= 0 {
		return 0, nil
	}
	for try := 0; ; try++ {
		fmt.Fprintf(stderr, "%s c=%d: warmup %v\n", m.Name, m.Concurrency, m.Warmup)
		r, err := Run(ctx, m.step(m.Warmup), submit)
		warmAcked += len(r.Latencies)
		if err != nil && !errors.Is(err, ErrTooManyErrors) {
			return warmAcked, fmt.Errorf("%s c=%d: warmup: %w", m.Name, m.Concurrency, err)
		}
		if len(r.Latencies) > 0 {
			return warmAcked, nil
		}
		if try >= 5 {
			return warmAcked, fmt.Errorf("%s c=%d: warmup: nothing acknowledged (%d errors, first: %v)", m.Name, m.Concurrency, r.Errors, r.FirstErr)
		}
	}
}
