package journalbench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/benchlines"
	"github.com/robustmq/robustmq-go/tests/bench/internal/stats"
)

// Tags of the JSON lines.
const (
	StepBench  = "journal-vs-jetstream"
	GoalsBench = "journal-vs-jetstream-goals"
)

// System names.
const (
	SystemOurs          = "robustmq"
	SystemJSAlways      = "jetstream-sync-always"
	SystemJSDefault     = "jetstream-sync-default"
	SystemDiskLimit     = "disk-limit"
	SystemOursConsume   = "robustmq-consume"
	mb                  = 1e6
	goalVsJetStream     = 1.5
	goalVsDiskLimit     = 0.5
	goalConsumeProduced = 2.0
)

// Summary is one system's figures in one step.
type Summary struct {
	System      string  `json:"system"`
	Records     int64   `json:"records"`
	Errors      int     `json:"errors"`
	ElapsedS    float64 `json:"elapsed_s"`
	RecordsPerS float64 `json:"records_per_s"`
	MBPerS      float64 `json:"mb_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	Note        string  `json:"note,omitempty"`
}

// summarize turns latencies into a Summary (latencies are sorted in place).
func summarize(system string, latencies []time.Duration, errs int, elapsed time.Duration, recordBytes int) Summary {
	slices.Sort(latencies)
	s := Summary{System: system, Records: int64(len(latencies)), Errors: errs, ElapsedS: round(elapsed.Seconds(), 3),
		P50Ms: millis(stats.Percentile(latencies, 50)), P99Ms: millis(stats.Percentile(latencies, 99))}
	if elapsed > 0 {
		s.RecordsPerS = round(float64(s.Records)/elapsed.Seconds(), 1)
		s.MBPerS = round(float64(s.Records)*float64(recordBytes)/elapsed.Seconds()/mb, 3)
	}
	return s
}

// Ratios compare the step's figures; nil when the divisor is missing.
type Ratios struct {
	OursVsJSAlways   *float64 `json:"ours_vs_jetstream_always"`
	OursVsJSDefault  *float64 `json:"ours_vs_jetstream_default"`
	OursVsDiskLimit  *float64 `json:"ours_vs_disk_limit"`
	ConsumeVsProduce *float64 `json:"consume_vs_produce"`
	// P99 ratios: ours over JetStream (<1: ours is faster).
	P99VsJSAlways  *float64 `json:"p99_ours_vs_jetstream_always"`
	P99VsJSDefault *float64 `json:"p99_ours_vs_jetstream_default"`
}

// Step is one concurrency step: every system, the ratios and the goals.
type Step struct {
	Bench       string  `json:"bench"`
	Concurrency int     `json:"concurrency"`
	RecordBytes int     `json:"record_bytes"`
	Replicas    int     `json:"replicas"`
	AckQuorum   int     `json:"ack_quorum"`
	LoadAvg     string  `json:"loadavg"`
	Ours        Summary `json:"robustmq"`
	JSAlways    Summary `json:"jetstream_sync_always"`
	JSDefault   Summary `json:"jetstream_sync_default"`
	DiskLimit   Summary `json:"disk_limit"`
	Consume     Summary `json:"robustmq_consume"`
	Ratios      Ratios  `json:"ratios"`
	Goals       Goals   `json:"goals"`
}

// Goals are the verdicts of one step (or, in the goals line, of all).
type Goals struct {
	VsJSAlways  bool `json:"ours_at_least_1_5x_jetstream_always"`
	VsJSDefault bool `json:"ours_at_least_1_5x_jetstream_default"`
	VsDiskLimit bool `json:"ours_at_least_50pct_of_disk_limit"`
	Consume     bool `json:"consume_at_least_2x_produce"`
}

// GoalsLine ends a run: the goals met at every concurrency.
type GoalsLine struct {
	Bench         string `json:"bench"`
	Concurrencies []int  `json:"concurrencies"`
	Goals         Goals  `json:"goals"`
}

func ratio(a, b float64) *float64 {
	if b <= 0 || a < 0 || math.IsNaN(a) || math.IsNaN(b) {
		return nil
	}
	r := round(a/b, 3)
	return &r
}

func atLeast(r *float64, goal float64) bool { return r != nil && *r >= goal }

// finish computes the ratios and goals of a step whose summaries are set.
func (s *Step) finish() {
	s.Bench = StepBench
	s.Ratios = Ratios{
		OursVsJSAlways:   ratio(s.Ours.RecordsPerS, s.JSAlways.RecordsPerS),
		OursVsJSDefault:  ratio(s.Ours.RecordsPerS, s.JSDefault.RecordsPerS),
		OursVsDiskLimit:  ratio(s.Ours.RecordsPerS, s.DiskLimit.RecordsPerS),
		ConsumeVsProduce: ratio(s.Consume.RecordsPerS, s.Ours.RecordsPerS),
		P99VsJSAlways:    ratio(s.Ours.P99Ms, s.JSAlways.P99Ms),
		P99VsJSDefault:   ratio(s.Ours.P99Ms, s.JSDefault.P99Ms),
	}
	s.Goals = Goals{
		VsJSAlways:  atLeast(s.Ratios.OursVsJSAlways, goalVsJetStream),
		VsJSDefault: atLeast(s.Ratios.OursVsJSDefault, goalVsJetStream),
		VsDiskLimit: atLeast(s.Ratios.OursVsDiskLimit, goalVsDiskLimit),
		Consume:     atLeast(s.Ratios.ConsumeVsProduce, goalConsumeProduced),
	}
}

// allGoals is the run's verdict: a goal is met when met at every step.
func allGoals(steps []Step) GoalsLine {
	g := GoalsLine{Bench: GoalsBench, Goals: Goals{VsJSAlways: len(steps) > 0, VsJSDefault: len(steps) > 0, VsDiskLimit: len(steps) > 0, Consume: len(steps) > 0}}
	for _, s := range steps {
		g.Concurrencies = append(g.Concurrencies, s.Concurrency)
		g.Goals.VsJSAlways = g.Goals.VsJSAlways && s.Goals.VsJSAlways
		g.Goals.VsJSDefault = g.Goals.VsJSDefault && s.Goals.VsJSDefault
		g.Goals.VsDiskLimit = g.Goals.VsDiskLimit && s.Goals.VsDiskLimit
		g.Goals.Consume = g.Goals.Consume && s.Goals.Consume
	}
	return g
}

// WriteTable prints a step for a person.
func (s Step) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "concurrency %d (%d-byte records, replicas %d, ack quorum %d; %d single-record appends in flight; load %s)\n",
		s.Concurrency, s.RecordBytes, s.Replicas, s.AckQuorum, s.Concurrency, s.LoadAvg)
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\trecords/s\tMB/s\tp50 ms\tp99 ms\trecords\terrors\t")
	for _, x := range []Summary{s.Ours, s.JSAlways, s.JSDefault, s.DiskLimit, s.Consume} {
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%d\t\n", x.System, x.RecordsPerS, x.MBPerS, x.P50Ms, x.P99Ms, x.Records, x.Errors)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("journalbench: table: %w", err)
	}
	r := s.Ratios
	fmt.Fprintf(&buf, "ours/jetstream(always) %s, ours/jetstream(default) %s, ours/disk-limit %s, consume/produce %s; p99 ours/jetstream(always) %s, ours/jetstream(default) %s\n",
		stats.RatioText(r.OursVsJSAlways), stats.RatioText(r.OursVsJSDefault), stats.RatioText(r.OursVsDiskLimit), stats.RatioText(r.ConsumeVsProduce),
		stats.RatioText(r.P99VsJSAlways), stats.RatioText(r.P99VsJSDefault))
	fmt.Fprintf(&buf, "goals: >=1.5x jetstream(always) %s, >=1.5x jetstream(default) %s, >=50%% of disk limit %s, consume >=2x produce %s\n",
		stats.Verdict(s.Goals.VsJSAlways), stats.Verdict(s.Goals.VsJSDefault), stats.Verdict(s.Goals.VsDiskLimit), stats.Verdict(s.Goals.Consume))
	for _, x := range []Summary{s.Ours, s.JSAlways, s.JSDefault, s.DiskLimit, s.Consume} {
		if x.Note != "" {
			fmt.Fprintf(&buf, "  %s: %s\n", x.System, x.Note)
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteSummary prints the run's overview: one row per step and the goals.
func WriteSummary(w io.Writer, steps []Step, g GoalsLine) error {
	var buf bytes.Buffer
	fmt.Fprintln(&buf, "summary (records/s; ratios are records/s over records/s)")
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "conc\tours\tours p99\tjs always\tjs always p99\tjs default\tjs default p99\tdisk/3\tconsume\tours/js-always\tours/js-default\tours/disk\tconsume/produce\t")
	for _, s := range steps {
		fmt.Fprintf(tw, "%d\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t\n", s.Concurrency,
			s.Ours.RecordsPerS, s.Ours.P99Ms, s.JSAlways.RecordsPerS, s.JSAlways.P99Ms, s.JSDefault.RecordsPerS, s.JSDefault.P99Ms,
			s.DiskLimit.RecordsPerS, s.Consume.RecordsPerS,
			stats.RatioText(s.Ratios.OursVsJSAlways), stats.RatioText(s.Ratios.OursVsJSDefault), stats.RatioText(s.Ratios.OursVsDiskLimit), stats.RatioText(s.Ratios.ConsumeVsProduce))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("journalbench: table: %w", err)
	}
	fmt.Fprintf(&buf, "goals (met only when met at every concurrency): >=1.5x jetstream(always) %s; >=1.5x jetstream(default) %s; >=50%% of disk limit %s; consume >=2x produce %s\n",
		stats.Verdict(g.Goals.VsJSAlways), stats.Verdict(g.Goals.VsJSDefault), stats.Verdict(g.Goals.VsDiskLimit), stats.Verdict(g.Goals.Consume))
	_, err := w.Write(buf.Bytes())
	return err
}

// ParseOutput reads a run's JSON lines out of mixed output and checks them:
// every step complete (each system has records, sane percentiles, every
// ratio) and exactly one goals line naming the steps' concurrencies.
func ParseOutput(r io.Reader) ([]Step, *GoalsLine, error) {
	return benchlines.Parse(r, benchlines.Spec[Step, GoalsLine]{
		StepTag: StepBench, GoalsTag: GoalsBench, Check: Step.check,
		Concurrency:        func(s Step) int { return s.Concurrency },
		GoalsConcurrencies: func(g GoalsLine) []int { return g.Concurrencies },
		Consistent: func(steps []Step, g GoalsLine) error {
			if want := allGoals(steps); want.Goals != g.Goals {
				return fmt.Errorf("goals line %+v does not follow from the steps (%+v)", g.Goals, want.Goals)
			}
			return nil
		},
	})
}

func (s Step) check() error {
	if s.Concurrency <= 0 || s.RecordBytes <= 0 {
		return errors.New("concurrency or record size missing")
	}
	for _, x := range []struct {
		want    string
		got     Summary
		latency bool
	}{{SystemOurs, s.Ours, true}, {SystemJSAlways, s.JSAlways, true}, {SystemJSDefault, s.JSDefault, true},
		{SystemDiskLimit, s.DiskLimit, true}, {SystemOursConsume, s.Consume, false}} {
		switch {
		case x.got.System != x.want:
			return fmt.Errorf("system %q, want %q", x.got.System, x.want)
		case x.got.Records <= 0 || x.got.RecordsPerS <= 0 || x.got.MBPerS <= 0:
			return fmt.Errorf("%s: no records", x.want)
		case x.latency && (x.got.P50Ms <= 0 || x.got.P99Ms < x.got.P50Ms):
			return fmt.Errorf("%s: p50 %.3f ms, p99 %.3f ms", x.want, x.got.P50Ms, x.got.P99Ms)
		}
	}
	r := s.Ratios
	for _, p := range []*float64{r.OursVsJSAlways, r.OursVsJSDefault, r.OursVsDiskLimit, r.ConsumeVsProduce, r.P99VsJSAlways, r.P99VsJSDefault} {
		if p == nil {
			return errors.New("ratio missing")
		}
	}
	if s.Consume.Records < s.Ours.Records {
		return fmt.Errorf("consume read %d records, fewer than the %d acknowledged in the measured run", s.Consume.Records, s.Ours.Records)
	}
	want := s
	want.finish()
	if want.Goals != s.Goals {
		return fmt.Errorf("goals %+v do not follow from the ratios (%+v)", s.Goals, want.Goals)
	}
	return nil
}

func millis(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
