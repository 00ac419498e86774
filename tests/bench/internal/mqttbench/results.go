package mqttbench

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

	"github.com/robustmq/robustmq-go/tests/bench/internal/stats"
)

// BenchName tags every JSON line of this benchmark.
const BenchName = "mqtt-vs-mosquitto"

// Scenario names.
const (
	ScenarioQoS1  = "qos1"
	ScenarioQoS0  = "qos0-fanin"
	ScenarioSlow  = "slow-subscriber"
	SystemOurs    = "robustmq"
	SystemPeer    = "mosquitto"
	SessionPers   = "persistent"
	SessionClean  = "clean"
	millisPerNano = 1e-6
)

// Result is one system's figures in one step; fields a scenario does not
// measure stay zero.
type Result struct {
	System string `json:"system"`
	// Publishing side.
	Published     int64   `json:"published"` // QoS 1: PUBACKed; QoS 0: written
	PubErrors     int     `json:"pub_errors"`
	PubElapsedS   float64 `json:"pub_elapsed_s"`
	PubPerS       float64 `json:"pub_per_s"`
	PubackP50Ms   float64 `json:"puback_p50_ms,omitempty"`
	PubackP99Ms   float64 `json:"puback_p99_ms,omitempty"`
	Delivered     int64   `json:"delivered"` // distinct messages of the measured run the subscriber got
	Duplicates    int64   `json:"duplicates"`
	DeliveredPerS float64 `json:"delivered_per_s,omitempty"`
	E2EP50Ms      float64 `json:"e2e_p50_ms,omitempty"`
	E2EP99Ms      float64 `json:"e2e_p99_ms,omitempty"`
	// Lost is Published minus Delivered (never negative): acknowledged
	// (QoS 1) or written (QoS 0) messages the subscriber never got.
	Lost    int64   `json:"lost"`
	LostPct float64 `json:"lost_pct"`
	DrainS  float64 `json:"drain_s"` // from the last publish to the last delivery (or giving up)
	Note    string  `json:"note,omitempty"`
}

func (r *Result) finishLoss() {
	r.Lost = max(0, r.Published-r.Delivered)
	if r.Published > 0 {
		r.LostPct = round(100*float64(r.Lost)/float64(r.Published), 2)
	}
}

// Ratios are ours over mosquitto; nil when mosquitto's figure is zero.
type Ratios struct {
	PubPerS       *float64 `json:"pub_per_s,omitempty"`
	PubackP99     *float64 `json:"puback_p99,omitempty"`
	DeliveredPerS *float64 `json:"delivered_per_s,omitempty"`
	E2EP99        *float64 `json:"e2e_p99,omitempty"`
	// DeliveredFraction is (delivered/published) ours over mosquitto's.
	DeliveredFraction *float64 `json:"delivered_fraction,omitempty"`
}

// Step is one scenario step: both systems and the ratios.
type Step struct {
	Bench        string  `json:"bench"`
	Scenario     string  `json:"scenario"`
	Publishers   int     `json:"publishers"`
	Window       int     `json:"window,omitempty"` // QoS 1 publishes in flight per publisher
	PayloadBytes int     `json:"payload_bytes"`
	Session      string  `json:"session,omitempty"`      // slow-subscriber: the subscriber's session
	AckDelayMs   float64 `json:"ack_delay_ms,omitempty"` // slow-subscriber
	Nodes        int     `json:"nodes"`
	LoadAvg      string  `json:"loadavg"`
	Ours         Result  `json:"robustmq"`
	Peer         Result  `json:"mosquitto"`
	Ratios       Ratios  `json:"ratios"`
}

func ratio(a, b float64) *float64 {
	if b <= 0 || a < 0 || math.IsNaN(a) || math.IsNaN(b) {
		return nil
	}
	r := round(a/b, 3)
	return &r
}

func fraction(r Result) float64 {
	if r.Published <= 0 {
		return 0
	}
	return float64(r.Delivered) / float64(r.Published)
}

// finish sets the tag and the ratios.
func (s *Step) finish() {
	s.Bench = BenchName
	s.Ratios = Ratios{
		PubPerS:           ratio(s.Ours.PubPerS, s.Peer.PubPerS),
		PubackP99:         ratio(s.Ours.PubackP99Ms, s.Peer.PubackP99Ms),
		DeliveredPerS:     ratio(s.Ours.DeliveredPerS, s.Peer.DeliveredPerS),
		E2EP99:            ratio(s.Ours.E2EP99Ms, s.Peer.E2EP99Ms),
		DeliveredFraction: ratio(fraction(s.Ours), fraction(s.Peer)),
	}
}

// JSONLine is the step as one line of JSON, newline included.
func (s Step) JSONLine() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("mqttbench: marshal: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteTable prints the step for a person.
func (s Step) WriteTable(w io.Writer) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	switch s.Scenario {
	case ScenarioQoS1:
		fmt.Fprintf(&buf, "qos1: %d publisher(s) x %d in flight, 1 subscriber at QoS 1, %d-byte payloads (load %s)\n",
			s.Publishers, s.Window, s.PayloadBytes, s.LoadAvg)
		fmt.Fprintln(tw, "system\tpub msg/s\tpuback p50 ms\tpuback p99 ms\tdelivered msg/s\te2e p50 ms\te2e p99 ms\tacked\tdelivered\tlost\terrors\t")
		for _, r := range []Result{s.Ours, s.Peer} {
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.0f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t\n", r.System, r.PubPerS, r.PubackP50Ms, r.PubackP99Ms,
				r.DeliveredPerS, r.E2EP50Ms, r.E2EP99Ms, r.Published, r.Delivered, r.Lost, r.PubErrors)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(&buf, "robustmq/mosquitto: pub msg/s %s, puback p99 %s, delivered msg/s %s, e2e p99 %s\n",
			stats.RatioText(s.Ratios.PubPerS), stats.RatioText(s.Ratios.PubackP99), stats.RatioText(s.Ratios.DeliveredPerS), stats.RatioText(s.Ratios.E2EP99))
	case ScenarioQoS0:
		fmt.Fprintf(&buf, "qos0-fanin: %d publishers -> 1 subscriber, QoS 0, %d-byte payloads (load %s)\n", s.Publishers, s.PayloadBytes, s.LoadAvg)
		fmt.Fprintln(tw, "system\tdelivered msg/s\tpublished msg/s\te2e p50 ms\te2e p99 ms\tpublished\tdelivered\tlost\tlost %\t")
		for _, r := range []Result{s.Ours, s.Peer} {
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.2f\t%d\t%d\t%d\t%.2f\t\n", r.System, r.DeliveredPerS, r.PubPerS, r.E2EP50Ms, r.E2EP99Ms,
				r.Published, r.Delivered, r.Lost, r.LostPct)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(&buf, "robustmq/mosquitto: delivered msg/s %s\n", stats.RatioText(s.Ratios.DeliveredPerS))
	case ScenarioSlow:
		fmt.Fprintf(&buf, "slow-subscriber: %d publishers -> 1 %s-session subscriber at QoS 1 sending one PUBACK per %.1f ms, %d-byte payloads (load %s)\n",
			s.Publishers, s.Session, s.AckDelayMs, s.PayloadBytes, s.LoadAvg)
		fmt.Fprintln(tw, "system\tacked to publishers\tdelivered\tlost after PUBACK\tlost %\tduplicates\tpub msg/s\tdrain s\t")
		for _, r := range []Result{s.Ours, s.Peer} {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t%d\t%.0f\t%.1f\t\n", r.System, r.Published, r.Delivered, r.Lost, r.LostPct, r.Duplicates, r.PubPerS, r.DrainS)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(&buf, "robustmq/mosquitto: delivered fraction %s\n", stats.RatioText(s.Ratios.DeliveredFraction))
	default:
		return fmt.Errorf("mqttbench: unknown scenario %q", s.Scenario)
	}
	for _, r := range []Result{s.Ours, s.Peer} {
		if r.Note != "" {
			fmt.Fprintf(&buf, "  %s: %s\n", r.System, r.Note)
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Summary is what ParseOutput found.
type Summary struct {
	Steps []Step
}

// Count returns the number of steps of a scenario.
func (s Summary) Count(scenario string) int {
	n := 0
	for _, st := range s.Steps {
		if st.Scenario == scenario {
			n++
		}
	}
	return n
}

// ParseOutput reads the JSON lines out of mixed output and checks each:
// both systems named, each with acknowledged (or written) publishes and
// deliveries, percentiles that make sense where measured.
func ParseOutput(r io.Reader) (Summary, error) {
	var out Summary
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(text, "{") || !strings.Contains(text, `"bench":"`+BenchName+`"`) {
			continue
		}
		var s Step
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return out, fmt.Errorf("mqttbench: line %d: %w", line, err)
		}
		if err := s.check(); err != nil {
			return out, fmt.Errorf("mqttbench: line %d (%s): %w", line, s.Scenario, err)
		}
		out.Steps = append(out.Steps, s)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("mqttbench: read: %w", err)
	}
	return out, nil
}

func (s Step) check() error {
	if s.Publishers <= 0 || s.PayloadBytes <= 0 || s.Nodes <= 0 {
		return errors.New("publishers, payload size or nodes missing")
	}
	for _, x := range []struct {
		want string
		r    Result
	}{{SystemOurs, s.Ours}, {SystemPeer, s.Peer}} {
		r := x.r
		switch {
		case r.System != x.want:
			return fmt.Errorf("system %q, want %q", r.System, x.want)
		case r.Published <= 0 || r.PubPerS <= 0:
			return fmt.Errorf("%s: nothing published", x.want)
		case r.Delivered <= 0:
			return fmt.Errorf("%s: nothing delivered", x.want)
		case r.Lost != max(0, r.Published-r.Delivered):
			return fmt.Errorf("%s: lost %d, published %d, delivered %d", x.want, r.Lost, r.Published, r.Delivered)
		}
		switch s.Scenario {
		case ScenarioQoS1:
			if r.PubackP50Ms <= 0 || r.PubackP99Ms < r.PubackP50Ms || r.E2EP50Ms <= 0 || r.E2EP99Ms < r.E2EP50Ms || r.DeliveredPerS <= 0 {
				return fmt.Errorf("%s: puback p50 %.3f p99 %.3f, e2e p50 %.3f p99 %.3f, delivered/s %.1f", x.want,
					r.PubackP50Ms, r.PubackP99Ms, r.E2EP50Ms, r.E2EP99Ms, r.DeliveredPerS)
			}
		case ScenarioQoS0:
			if r.DeliveredPerS <= 0 || r.E2EP99Ms < r.E2EP50Ms {
				return fmt.Errorf("%s: delivered/s %.1f, e2e p50 %.3f p99 %.3f", x.want, r.DeliveredPerS, r.E2EP50Ms, r.E2EP99Ms)
			}
		case ScenarioSlow:
			if s.Session != SessionPers && s.Session != SessionClean {
				return fmt.Errorf("session %q", s.Session)
			}
		default:
			return fmt.Errorf("unknown scenario %q", s.Scenario)
		}
	}
	switch s.Scenario {
	case ScenarioQoS1:
		if s.Ratios.PubPerS == nil || s.Ratios.PubackP99 == nil || s.Ratios.DeliveredPerS == nil || s.Ratios.E2EP99 == nil {
			return errors.New("ratio missing")
		}
	case ScenarioQoS0:
		if s.Ratios.DeliveredPerS == nil {
			return errors.New("ratio missing")
		}
	case ScenarioSlow:
		if s.Ratios.DeliveredFraction == nil {
			return errors.New("ratio missing")
		}
	}
	return nil
}

// latencies sorts ds in place and returns p50 and p99 in milliseconds.
func latencies(ds []time.Duration) (float64, float64) {
	slices.Sort(ds)
	return millis(stats.Percentile(ds, 50)), millis(stats.Percentile(ds, 99))
}

func millis(d time.Duration) float64 { return round(float64(d)*millisPerNano, 3) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
