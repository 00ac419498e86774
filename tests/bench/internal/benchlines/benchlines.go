// Package benchlines writes and reads the JSON result lines a benchmark
// prints among its human-readable output: one line per measured step and
// one goals line. It owns only their printing, parsing and the checks
// common to every benchmark that has steps and goals; what a step must
// hold is the benchmark's.
package benchlines

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Spec says how one benchmark's lines look.
type Spec[S, G any] struct {
	// StepTag and GoalsTag are the "bench" values of the two kinds of line.
	StepTag, GoalsTag string
	// Check validates one step line.
	Check func(S) error
	// Concurrency is a step's concurrency; GoalsConcurrencies the
	// concurrencies the goals line names, in step order.
	Concurrency        func(S) int
	GoalsConcurrencies func(G) []int
	// Consistent reports whether the goals line follows from the steps.
	Consistent func([]S, G) error
}

// Parse reads r's step lines (each checked) and its one goals line, which
// must name the steps' concurrencies in order and follow from them. Lines
// that are not JSON, or carry another tag, are skipped.
func Parse[S, G any](r io.Reader, spec Spec[S, G]) ([]S, *G, error) {
	var steps []S
	var goals *G
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(text, "{") {
			continue
		}
		var tag struct {
			Bench string `json:"bench"`
		}
		if json.Unmarshal([]byte(text), &tag) != nil {
			continue
		}
		switch tag.Bench {
		case spec.StepTag:
			var s S
			if err := json.Unmarshal([]byte(text), &s); err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", line, err)
			}
			if err := spec.Check(s); err != nil {
				return nil, nil, fmt.Errorf("line %d: concurrency %d: %w", line, spec.Concurrency(s), err)
			}
			steps = append(steps, s)
		case spec.GoalsTag:
			if goals != nil {
				return nil, nil, fmt.Errorf("line %d: a second goals line", line)
			}
			var g G
			if err := json.Unmarshal([]byte(text), &g); err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", line, err)
			}
			goals = &g
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	if goals == nil {
		return steps, nil, errors.New("no goals line")
	}
	concs := spec.GoalsConcurrencies(*goals)
	if len(concs) != len(steps) {
		return steps, goals, fmt.Errorf("goals line names %d steps, output has %d", len(concs), len(steps))
	}
	for i, s := range steps {
		if concs[i] != spec.Concurrency(s) {
			return steps, goals, fmt.Errorf("goals line step %d is concurrency %d, output has %d", i, concs[i], spec.Concurrency(s))
		}
	}
	if err := spec.Consistent(steps, *goals); err != nil {
		return steps, goals, err
	}
	return steps, goals, nil
}

// Write prints one result for a person and for Parse: a blank line, the
// table that table writes, then v as one JSON line.
func Write(w io.Writer, table func(io.Writer) error, v any) error {
	if _, err := fmt.Fprintln(w); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if err := table(w); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("marshal result: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}
