package stats

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Names of the two systems, as printed and as written in the JSON lines.
const (
	SystemPlacement = "placement"
	SystemEtcd      = "etcd"
)

// BenchName tags every JSON line so a reader can pick them out of mixed output.
const BenchName = "placement-vs-etcd"

// Summary is what one system did in one timed step.
type Summary struct {
	System      string        `json:"system"`
	Concurrency int           `json:"concurrency"`
	Writes      int           `json:"writes"` // acknowledged writes only
	Errors      int           `json:"errors"`
	Elapsed     time.Duration `json:"-"`
	WritesPerS  float64       `json:"writes_per_s"`
	P50         time.Duration `json:"-"`
	P99         time.Duration `json:"-"`
	ElapsedS    float64       `json:"elapsed_s"`
	P50Ms       float64       `json:"p50_ms"`
	P99Ms       float64       `json:"p99_ms"`
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order; zero for an empty slice. The
// nearest-rank method returns a latency that was actually observed, so a
// p99 is never an interpolation between two requests.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// Mean returns the arithmetic mean of latencies; zero for an empty slice.
// At one request in flight the rate is one over it, which the median
// does not give.
func Mean(latencies []time.Duration) time.Duration {
	if len(latencies) == 0 {
		return 0
	}
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	return sum / time.Duration(len(latencies))
}

// Summarize sorts latencies in place and computes the step's Summary.
// Throughput is acknowledged writes over the wall time of the step.
func Summarize(system string, concurrency int, latencies []time.Duration, errCount int, elapsed time.Duration) Summary {
	slices.Sort(latencies)
	s := Summary{
		System:      system,
		Concurrency: concurrency,
		Writes:      len(latencies),
		Errors:      errCount,
		Elapsed:     elapsed,
		P50:         Percentile(latencies, 50),
		P99:         Percentile(latencies, 99),
	}
	if elapsed > 0 {
		s.WritesPerS = float64(s.Writes) / elapsed.Seconds()
	}
	s.ElapsedS = round(elapsed.Seconds(), 3)
	s.WritesPerS = round(s.WritesPerS, 1)
	s.P50Ms = millis(s.P50)
	s.P99Ms = millis(s.P99)
	return s
}

// Ratio returns a/b, or ok=false when b is not positive (no etcd writes
// means there is nothing to compare against).
func Ratio(a, b float64) (float64, bool) {
	if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return a / b, true
}

// Comparison is one concurrency step: both systems and placement/etcd ratios.
type Comparison struct {
	Bench       string  `json:"bench"`
	Concurrency int     `json:"concurrency"`
	ValueBytes  int     `json:"value_bytes"`
	Conns       int     `json:"conns"`
	Placement   Summary `json:"placement"`
	Etcd        Summary `json:"etcd"`
	// WritesRatio is placement writes/s over etcd writes/s (>1: placement
	// is faster); P99Ratio is placement p99 over etcd p99 (<1: placement
	// is faster). Nil when etcd has no figure to divide by.
	WritesRatio *float64 `json:"writes_ratio"`
	P99Ratio    *float64 `json:"p99_ratio"`
}

// Compare pairs the two summaries of one step.
func Compare(placement, etcd Summary, valueBytes, conns int) Comparison {
	c := Comparison{
		Bench:       BenchName,
		Concurrency: placement.Concurrency,
		ValueBytes:  valueBytes,
		Conns:       conns,
		Placement:   placement,
		Etcd:        etcd,
	}
	if r, ok := Ratio(placement.WritesPerS, etcd.WritesPerS); ok && placement.Writes > 0 {
		r = round(r, 3)
		c.WritesRatio = &r
	}
	if r, ok := Ratio(float64(placement.P99), float64(etcd.P99)); ok && placement.Writes > 0 {
		r = round(r, 3)
		c.P99Ratio = &r
	}
	return c
}

// JSONLine is the comparison as one line of JSON, newline included.
func (c Comparison) JSONLine() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("stats: marshal comparison: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteTable prints the comparison for a person.
func (c Comparison) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "concurrency %d (%d-byte values, %d connections per system)\n", c.Concurrency, c.ValueBytes, c.Conns)
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\twrites/s\tp50 ms\tp99 ms\twrites\terrors\t")
	for _, s := range []Summary{c.Placement, c.Etcd} {
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.2f\t%d\t%d\t\n", s.System, s.WritesPerS, s.P50Ms, s.P99Ms, s.Writes, s.Errors)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("stats: table: %w", err)
	}
	fmt.Fprintf(&buf, "placement/etcd: writes/s %s, p99 %s\n", RatioText(c.WritesRatio), RatioText(c.P99Ratio))
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("stats: write table: %w", err)
	}
	return nil
}

// ParseLines reads the JSON comparison lines out of mixed output (tables,
// logs) and checks each is complete: both systems named, at least one
// acknowledged write each, percentiles that make sense. It is how the
// smoke run proves the output parses.
func ParseLines(r io.Reader) ([]Comparison, error) {
	var out []Comparison
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(text, "{") || !strings.Contains(text, BenchName) {
			continue
		}
		var c Comparison
		if err := json.Unmarshal([]byte(text), &c); err != nil {
			return nil, fmt.Errorf("stats: line %d: %w", line, err)
		}
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("stats: line %d: %w", line, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("stats: read: %w", err)
	}
	return out, nil
}

func (c Comparison) check() error {
	if c.Bench != BenchName {
		return fmt.Errorf("bench %q, want %q", c.Bench, BenchName)
	}
	if c.Concurrency <= 0 {
		return errors.New("concurrency missing")
	}
	for _, s := range []struct {
		want string
		got  Summary
	}{{SystemPlacement, c.Placement}, {SystemEtcd, c.Etcd}} {
		switch {
		case s.got.System != s.want:
			return fmt.Errorf("system %q, want %q", s.got.System, s.want)
		case s.got.Writes <= 0 || s.got.WritesPerS <= 0:
			return fmt.Errorf("%s: no acknowledged writes", s.want)
		case s.got.P50Ms <= 0 || s.got.P99Ms < s.got.P50Ms:
			return fmt.Errorf("%s: p50 %.3f ms, p99 %.3f ms", s.want, s.got.P50Ms, s.got.P99Ms)
		}
	}
	if c.WritesRatio == nil || c.P99Ratio == nil {
		return errors.New("ratio missing")
	}
	return nil
}

// RatioText renders a ratio as "1.23x", or "n/a" when there is none.
func RatioText(r *float64) string {
	if r == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", *r)
}

func millis(d time.Duration) float64 {
	return round(float64(d)/float64(time.Millisecond), 3)
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// Verdict renders whether a goal was met.
func Verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}
