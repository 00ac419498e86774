package kafkabench

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
	StepBench  = "kafka-vs-jetstream"
	GoalsBench = "kafka-vs-jetstream-goals"
)

// System names.
const (
	SystemKafka          = "robustmq-kafka"
	SystemStream         = "robustmq-stream"
	SystemJSAlways       = "jetstream-sync-always"
	SystemJSDefault      = "jetstream-sync-default"
	SystemKafkaConsume   = "robustmq-kafka-consume"
	SystemStreamConsume  = "robustmq-stream-consume"
	mb                   = 1e6
	goalVsJetStream      = 1.5
	goalConsumeProduced  = 2.0
	goalFrontEndCostMax  = 1.2 // stream records/s over kafka records/s
	goalFrontEndCostText = "kafka front end costs <=20% over the stream client"
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
	MeanMs      float64 `json:"mean_ms,omitempty"`
	// RequestWireMs (Kafka only) is the mean time from kgo starting to
	// write a produce request to having read its response: the broker's
	// share of the records' latency, plus the loopback. MeanMs minus it
	// is kgo's own share (buffering, the request's records waiting for
	// the one in flight, callbacks).
	RequestWireMs float64 `json:"request_wire_ms,omitempty"`
	Note          string  `json:"note,omitempty"`
}

func summarize(system string, latencies []time.Duration, errs int, elapsed time.Duration, recordBytes int) Summary {
	slices.Sort(latencies)
	s := Summary{System: system, Records: int64(len(latencies)), Errors: errs, ElapsedS: round(elapsed.Seconds(), 3),
		P50Ms: millis(stats.Percentile(latencies, 50)), P99Ms: millis(stats.Percentile(latencies, 99)), MeanMs: millis(stats.Mean(latencies))}
	if elapsed > 0 {
		s.RecordsPerS = round(float64(s.Records)/elapsed.Seconds(), 1)
		s.MBPerS = round(float64(s.Records)*float64(recordBytes)/elapsed.Seconds()/mb, 3)
	}
	return s
}

func consumed(system string, records, bytes int64, elapsed time.Duration, note string) Summary {
	s := Summary{System: system, Records: records, ElapsedS: round(elapsed.Seconds(), 3), Note: note}
	if elapsed > 0 {
		s.RecordsPerS = round(float64(records)/elapsed.Seconds(), 1)
		s.MBPerS = round(float64(bytes)/elapsed.Seconds()/mb, 3)
	}
	return s
}

// Ratios compare the step's figures (records/s over records/s unless
// named p99); nil when the divisor is missing.
type Ratios struct {
	KafkaVsJSAlways  *float64 `json:"kafka_vs_jetstream_always"`
	KafkaVsJSDefault *float64 `json:"kafka_vs_jetstream_default"`
	KafkaVsStream    *float64 `json:"kafka_vs_stream"`
	// StreamVsKafka is the front end's cost: 1.2 means the stream client
	// moves 20% more records per second than the Kafka path.
	StreamVsKafka       *float64 `json:"stream_vs_kafka"`
	KafkaConsumeVsProd  *float64 `json:"kafka_consume_vs_produce"`
	StreamConsumeVsProd *float64 `json:"stream_consume_vs_produce"`
	P99KafkaVsJSAlways  *float64 `json:"p99_kafka_vs_jetstream_always"`
	P99KafkaVsJSDefault *float64 `json:"p99_kafka_vs_jetstream_default"`
	P99KafkaVsStream    *float64 `json:"p99_kafka_vs_stream"`
}

// Goals are the verdicts of one step (or, in the goals line, of all).
type Goals struct {
	VsJSAlways   bool `json:"kafka_at_least_1_5x_jetstream_always"`
	VsJSDefault  bool `json:"kafka_at_least_1_5x_jetstream_default"`
	Consume      bool `json:"kafka_consume_at_least_2x_produce"`
	FrontEndCost bool `json:"kafka_front_end_cost_at_most_20pct"`
}

// Step is one concurrency step.
type Step struct {
	Bench         string  `json:"bench"`
	Concurrency   int     `json:"concurrency"`
	RecordBytes   int     `json:"record_bytes"`
	Replicas      int     `json:"replicas"`
	AckQuorum     int     `json:"ack_quorum"`
	LoadAvg       string  `json:"loadavg"`
	Kafka         Summary `json:"robustmq_kafka"`
	Stream        Summary `json:"robustmq_stream"`
	JSAlways      Summary `json:"jetstream_sync_always"`
	JSDefault     Summary `json:"jetstream_sync_default"`
	KafkaConsume  Summary `json:"robustmq_kafka_consume"`
	StreamConsume Summary `json:"robustmq_stream_consume"`
	Ratios        Ratios  `json:"ratios"`
	Goals         Goals   `json:"goals"`
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
func atMost(r *float64, goal float64) bool  { return r != nil && *r <= goal }

func (s *Step) finish() {
	s.Bench = StepBench
	s.Ratios = Ratios{
		KafkaVsJSAlways:     ratio(s.Kafka.RecordsPerS, s.JSAlways.RecordsPerS),
		KafkaVsJSDefault:    ratio(s.Kafka.RecordsPerS, s.JSDefault.RecordsPerS),
		KafkaVsStream:       ratio(s.Kafka.RecordsPerS, s.Stream.RecordsPerS),
		StreamVsKafka:       ratio(s.Stream.RecordsPerS, s.Kafka.RecordsPerS),
		KafkaConsumeVsProd:  ratio(s.KafkaConsume.RecordsPerS, s.Kafka.RecordsPerS),
		StreamConsumeVsProd: ratio(s.StreamConsume.RecordsPerS, s.Stream.RecordsPerS),
		P99KafkaVsJSAlways:  ratio(s.Kafka.P99Ms, s.JSAlways.P99Ms),
		P99KafkaVsJSDefault: ratio(s.Kafka.P99Ms, s.JSDefault.P99Ms),
		P99KafkaVsStream:    ratio(s.Kafka.P99Ms, s.Stream.P99Ms),
	}
	s.Goals = Goals{
		VsJSAlways:   atLeast(s.Ratios.KafkaVsJSAlways, goalVsJetStream),
		VsJSDefault:  atLeast(s.Ratios.KafkaVsJSDefault, goalVsJetStream),
		Consume:      atLeast(s.Ratios.KafkaConsumeVsProd, goalConsumeProduced),
		FrontEndCost: atMost(s.Ratios.StreamVsKafka, goalFrontEndCostMax),
	}
}

func allGoals(steps []Step) GoalsLine {
	ok := len(steps) > 0
	g := GoalsLine{Bench: GoalsBench, Goals: Goals{VsJSAlways: ok, VsJSDefault: ok, Consume: ok, FrontEndCost: ok}}
	for _, s := range steps {
		g.Concurrencies = append(g.Concurrencies, s.Concurrency)
		g.Goals.VsJSAlways = g.Goals.VsJSAlways && s.Goals.VsJSAlways
		g.Goals.VsJSDefault = g.Goals.VsJSDefault && s.Goals.VsJSDefault
		g.Goals.Consume = g.Goals.Consume && s.Goals.Consume
		g.Goals.FrontEndCost = g.Goals.FrontEndCost && s.Goals.FrontEndCost
	}
	return g
}

func (s Step) summaries() []Summary {
	return []Summary{s.Kafka, s.Stream, s.JSAlways, s.JSDefault, s.KafkaConsume, s.StreamConsume}
}

// WriteTable prints a step for a person.
func (s Step) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "concurrency %d (%d-byte records, replicas %d, ack quorum %d, acks=all; %d records in flight; load %s)\n",
		s.Concurrency, s.RecordBytes, s.Replicas, s.AckQuorum, s.Concurrency, s.LoadAvg)
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\trecords/s\tMB/s\tp50 ms\tp99 ms\trecords\terrors\t")
	for _, x := range s.summaries() {
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%d\t\n", x.System, x.RecordsPerS, x.MBPerS, x.P50Ms, x.P99Ms, x.Records, x.Errors)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("kafkabench: table: %w", err)
	}
	r := s.Ratios
	fmt.Fprintf(&buf, "kafka/jetstream(always) %s, kafka/jetstream(default) %s, kafka/stream %s (stream/kafka %s), kafka consume/produce %s, stream consume/produce %s; p99 kafka/jetstream(always) %s, kafka/jetstream(default) %s, kafka/stream %s\n",
		stats.RatioText(r.KafkaVsJSAlways), stats.RatioText(r.KafkaVsJSDefault), stats.RatioText(r.KafkaVsStream), stats.RatioText(r.StreamVsKafka),
		stats.RatioText(r.KafkaConsumeVsProd), stats.RatioText(r.StreamConsumeVsProd),
		stats.RatioText(r.P99KafkaVsJSAlways), stats.RatioText(r.P99KafkaVsJSDefault), stats.RatioText(r.P99KafkaVsStream))
	fmt.Fprintf(&buf, "goals: >=1.5x jetstream(always) %s, >=1.5x jetstream(default) %s, consume >=2x produce %s, %s %s\n",
		stats.Verdict(s.Goals.VsJSAlways), stats.Verdict(s.Goals.VsJSDefault), stats.Verdict(s.Goals.Consume), goalFrontEndCostText, stats.Verdict(s.Goals.FrontEndCost))
	for _, x := range s.summaries() {
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
	fmt.Fprintln(&buf, "summary (records/s; p99 in ms; ratios are records/s over records/s)")
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "conc\tkafka\tkafka p99\tstream\tstream p99\tjs always\tjs always p99\tjs default\tjs default p99\tkafka consume\tkafka/js-always\tkafka/js-default\tstream/kafka\tconsume/produce\t")
	for _, s := range steps {
		fmt.Fprintf(tw, "%d\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%.2f\t%.0f\t%s\t%s\t%s\t%s\t\n", s.Concurrency,
			s.Kafka.RecordsPerS, s.Kafka.P99Ms, s.Stream.RecordsPerS, s.Stream.P99Ms, s.JSAlways.RecordsPerS, s.JSAlways.P99Ms,
			s.JSDefault.RecordsPerS, s.JSDefault.P99Ms, s.KafkaConsume.RecordsPerS,
			stats.RatioText(s.Ratios.KafkaVsJSAlways), stats.RatioText(s.Ratios.KafkaVsJSDefault), stats.RatioText(s.Ratios.StreamVsKafka), stats.RatioText(s.Ratios.KafkaConsumeVsProd))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("kafkabench: table: %w", err)
	}
	fmt.Fprintf(&buf, "goals (met only when met at every concurrency): >=1.5x jetstream(always) %s; >=1.5x jetstream(default) %s; consume >=2x produce %s; %s %s\n",
		stats.Verdict(g.Goals.VsJSAlways), stats.Verdict(g.Goals.VsJSDefault), stats.Verdict(g.Goals.Consume), goalFrontEndCostText, stats.Verdict(g.Goals.FrontEndCost))
	_, err := w.Write(buf.Bytes())
	return err
}

// ParseOutput reads a run's JSON lines out of mixed output and checks
// them: every step complete (each system has records, sane percentiles,
// every ratio, goals that follow from the ratios) and exactly one goals
// line naming the steps' concurrencies.
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
	}{{SystemKafka, s.Kafka, true}, {SystemStream, s.Stream, true}, {SystemJSAlways, s.JSAlways, true},
		{SystemJSDefault, s.JSDefault, true}, {SystemKafkaConsume, s.KafkaConsume, false}, {SystemStreamConsume, s.StreamConsume, false}} {
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
	for _, p := range []*float64{r.KafkaVsJSAlways, r.KafkaVsJSDefault, r.KafkaVsStream, r.StreamVsKafka, r.KafkaConsumeVsProd,
		r.StreamConsumeVsProd, r.P99KafkaVsJSAlways, r.P99KafkaVsJSDefault, r.P99KafkaVsStream} {
		if p == nil {
			return errors.New("ratio missing")
		}
	}
	if s.KafkaConsume.Records < s.Kafka.Records {
		return fmt.Errorf("kafka consume read %d records, fewer than the %d acknowledged in the measured run", s.KafkaConsume.Records, s.Kafka.Records)
	}
	if s.StreamConsume.Records < s.Stream.Records {
		return fmt.Errorf("stream consume read %d records, fewer than the %d acknowledged in the measured run", s.StreamConsume.Records, s.Stream.Records)
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
