package window

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Contender is one system Interleave measures.
type Contender struct {
	Name   string
	Submit Submit
	// Before and After (optional) run around each of its measured rounds,
	// with the round's index.
	Before, After func(round int)
}

// Interleave warms every contender up in turn (see warmup),
// then measures them in rounds: every round gives each contender
// m.Duration/rounds, in an order that starts at contender first and moves
// on by one every round, after a Settle(settle). This machine's speed
// drifts over seconds to minutes (another tenant's load, the host's disk);
// one long window per system lets that drift decide a ratio, while short
// windows taken in turn spread it over every system alike.
//
// It returns, per contender, the rounds' results merged (latencies and
// counts added, Elapsed the sum of the rounds' own) and the warmup's
// acknowledgements. afterRound (optional) runs after every round, for a
// measurement that is not a Contender (the disk's own limit). A contender
// with nothing acknowledged in all its rounds is an error, as is a run
// error of any round.
func Interleave(ctx context.Context, m Measure, rounds, first int, settle time.Duration, cs []Contender, afterRound func(round int) error, stderr io.Writer) ([]Result, []int, error) {
	if rounds < 1 {
		return nil, nil, fmt.Errorf("window: %d rounds", rounds)
	}
	n := len(cs)
	warm := make([]int, n)
	for i, c := range cs {
		cm := m
		cm.Name = c.Name
		w, err := warmup(ctx, cm, c.Submit, stderr)
		warm[i] = w
		if err != nil {
			return nil, warm, err
		}
	}
	per := m.Duration / time.Duration(rounds)
	step := m.step(per)
	step.MaxOps = max(m.MaxOps/rounds, m.Concurrency)
	out := make([]Result, n)
	for r := range rounds {
		for k := range n {
			i := (first + r + k) % n
			c := cs[i]
			if err := Settle(ctx, settle); err != nil {
				return out, warm, err
			}
			fmt.Fprintf(stderr, "%s c=%d: measuring round %d/%d, %v\n", c.Name, m.Concurrency, r+1, rounds, per)
			if c.Before != nil {
				c.Before(r)
			}
			res, err := Run(ctx, step, c.Submit)
			if c.After != nil {
				c.After(r)
			}
			out[i] = merge(out[i], res)
			if err != nil {
				return out, warm, fmt.Errorf("%s c=%d round %d: %w (first error: %v)", c.Name, m.Concurrency, r+1, err, res.FirstErr)
			}
		}
		if afterRound != nil {
			if err := Settle(ctx, settle); err != nil {
				return out, warm, err
			}
			if err := afterRound(r); err != nil {
				return out, warm, err
			}
		}
	}
	for i, c := range cs {
		if len(out[i].Latencies) == 0 {
			return out, warm, fmt.Errorf("%s c=%d: nothing acknowledged (%d errors, first: %v)", c.Name, m.Concurrency, out[i].Errors, out[i].FirstErr)
		}
		if out[i].Errors > 0 {
			fmt.Fprintf(stderr, "%s c=%d: %d errors, first: %v\n", c.Name, m.Concurrency, out[i].Errors, out[i].FirstErr)
		}
	}
	return out, warm, nil
}

// merge adds round b to the results a of earlier rounds.
func merge(a, b Result) Result {
	a.Latencies = append(a.Latencies, b.Latencies...)
	a.Errors += b.Errors
	if a.FirstErr == nil {
		a.FirstErr = b.FirstErr
	}
	a.Submitted += b.Submitted
	a.Elapsed += b.Elapsed
	return a
}
