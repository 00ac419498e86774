package kafkabench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sum(system string, rps float64, p50, p99 float64) Summary {
	return Summary{System: system, Records: int64(rps * 10), ElapsedS: 10, RecordsPerS: rps, MBPerS: rps * 1024 / mb, P50Ms: p50, P99Ms: p99}
}

func testStep(conc int, kafka, stream, jsa, jsd, kconsume float64) Step {
	s := Step{Concurrency: conc, RecordBytes: 1024, Replicas: 3, AckQuorum: 2, LoadAvg: "1 1 1",
		Kafka: sum(SystemKafka, kafka, 1, 2), Stream: sum(SystemStream, stream, 1, 4), JSAlways: sum(SystemJSAlways, jsa, 1, 3),
		JSDefault: sum(SystemJSDefault, jsd, 1, 4), KafkaConsume: sum(SystemKafkaConsume, kconsume, 0, 0),
		StreamConsume: sum(SystemStreamConsume, 2*stream, 0, 0)}
	s.KafkaConsume.Records = s.Kafka.Records + 10
	s.StreamConsume.Records = s.Stream.Records + 10
	s.finish()
	return s
}

func TestFinishRatiosAndGoals(t *testing.T) {
	s := testStep(16, 3000, 3300, 2000, 10000, 9000)
	r := s.Ratios
	if *r.KafkaVsJSAlways != 1.5 || *r.KafkaVsJSDefault != 0.3 || *r.StreamVsKafka != 1.1 || *r.KafkaConsumeVsProd != 3 ||
		*r.P99KafkaVsJSAlways != 0.667 || *r.P99KafkaVsStream != 0.5 {
		t.Fatalf("ratios %+v", r)
	}
	if !s.Goals.VsJSAlways || s.Goals.VsJSDefault || !s.Goals.Consume || !s.Goals.FrontEndCost {
		t.Fatalf("goals %+v", s.Goals)
	}
	// The stream client 25% faster: the front end costs more than 20%.
	if s := testStep(16, 4000, 5000, 1000, 1000, 9000); s.Goals.FrontEndCost || !s.Goals.VsJSAlways {
		t.Fatalf("goals %+v with ratios %+v", s.Goals, s.Ratios)
	}
	if z := testStep(1, 100, 100, 0, 1, 1); z.Ratios.KafkaVsJSAlways != nil || z.Goals.VsJSAlways {
		t.Fatalf("a zero divisor gave %v, %v", z.Ratios.KafkaVsJSAlways, z.Goals.VsJSAlways)
	}
}

func output(t *testing.T, steps []Step, g GoalsLine) string {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("# header\nsome log line {not json\n")
	for _, s := range steps {
		if err := s.WriteTable(&out); err != nil {
			t.Fatal(err)
		}
		line, err := jsonLine(s)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(line)
	}
	if err := WriteSummary(&out, steps, g); err != nil {
		t.Fatal(err)
	}
	line, err := jsonLine(g)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(line)
	return out.String()
}

func TestOutputRoundTrip(t *testing.T) {
	steps := []Step{testStep(1, 3000, 3000, 1000, 1000, 9000), testStep(16, 3000, 3000, 2500, 1000, 9000)}
	g := allGoals(steps)
	if g.Goals.VsJSAlways || !g.Goals.Consume || !g.Goals.FrontEndCost { // 3000/2500 = 1.2 at the second step
		t.Fatalf("goals %+v", g.Goals)
	}
	text := output(t, steps, g)
	if !strings.Contains(text, "NOT MET") {
		t.Fatalf("table without verdicts:\n%s", text)
	}
	got, gl, err := ParseOutput(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || gl.Goals != g.Goals || got[1].Kafka.RecordsPerS != 3000 {
		t.Fatalf("parsed %+v %+v", got, gl)
	}
}

func TestParseOutputRejects(t *testing.T) {
	good := testStep(16, 3000, 3000, 1000, 1000, 9000)
	tests := map[string]func() string{
		"no goals line": func() string { b, _ := jsonLine(good); return string(b) },
		"goals that do not follow": func() string {
			g := allGoals([]Step{good})
			g.Goals.FrontEndCost = !g.Goals.FrontEndCost
			return output(t, []Step{good}, g)
		},
		"a system without records": func() string {
			s := good
			s.JSDefault.Records, s.JSDefault.RecordsPerS = 0, 0
			return output(t, []Step{s}, allGoals([]Step{s}))
		},
		"consumed fewer than produced": func() string {
			s := good
			s.KafkaConsume.Records = s.Kafka.Records - 1
			return output(t, []Step{s}, allGoals([]Step{s}))
		},
		"step goals edited": func() string {
			s := good
			s.Goals.Consume = false
			return output(t, []Step{s}, allGoals([]Step{s}))
		},
		"steps and goals line disagree": func() string {
			g := allGoals([]Step{good, good})
			return output(t, []Step{good}, g)
		},
	}
	for name, text := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ParseOutput(strings.NewReader(text())); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestParseFlagsSmoke(t *testing.T) {
	var errOut bytes.Buffer
	o, err := ParseFlags([]string{"--smoke"}, "/bin", &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Concurrency) != 1 || o.Concurrency[0] != 16 || o.Duration.Seconds() != 1 || o.Settle != 0 {
		t.Fatalf("smoke options %+v", o)
	}
	if _, err := ParseFlags([]string{"--kafka-max-inflight", "6"}, "/bin", &errOut); err == nil || !strings.Contains(err.Error(), "--kafka-max-inflight") {
		t.Fatalf("err = %v", err)
	}
	if _, err := ParseFlags([]string{"--concurrency", "1,x"}, "/bin", &errOut); err == nil {
		t.Fatal("junk concurrency accepted")
	}
}

// jsonLine is what benchlines.Write prints after a table.
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}

func TestSummarizeMean(t *testing.T) {
	ms := time.Millisecond
	s := summarize(SystemKafka, []time.Duration{3 * ms, 1 * ms, 2 * ms, 6 * ms}, 0, 2*time.Second, 1024)
	if s.MeanMs != 3 || s.P50Ms != 2 || s.Records != 4 || s.RecordsPerS != 2 {
		t.Fatalf("summary %+v", s)
	}
	if e := summarize(SystemKafka, nil, 1, time.Second, 1024); e.MeanMs != 0 || e.RecordsPerS != 0 {
		t.Fatalf("empty summary %+v", e)
	}
}
