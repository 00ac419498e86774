package journalbench

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

func testStep(conc int, ours, jsa, jsd, disk, consume float64) Step {
	s := Step{Concurrency: conc, RecordBytes: 1024, Replicas: 3, AckQuorum: 2, LoadAvg: "1 1 1",
		Ours: sum(SystemOurs, ours, 1, 2), JSAlways: sum(SystemJSAlways, jsa, 1, 3), JSDefault: sum(SystemJSDefault, jsd, 1, 4),
		DiskLimit: sum(SystemDiskLimit, disk, 0.5, 1), Consume: sum(SystemOursConsume, consume, 0, 0)}
	s.Consume.Records = s.Ours.Records + 10
	s.finish()
	return s
}

func TestFinishRatiosAndGoals(t *testing.T) {
	s := testStep(16, 3000, 2000, 10000, 5000, 9000)
	r := s.Ratios
	if *r.OursVsJSAlways != 1.5 || *r.OursVsJSDefault != 0.3 || *r.OursVsDiskLimit != 0.6 || *r.ConsumeVsProduce != 3 || *r.P99VsJSAlways != 0.667 {
		t.Fatalf("ratios %+v", r)
	}
	if !s.Goals.VsJSAlways || s.Goals.VsJSDefault || !s.Goals.VsDiskLimit || !s.Goals.Consume {
		t.Fatalf("goals %+v", s.Goals)
	}
	if z := testStep(1, 100, 0, 1, 1, 1); z.Ratios.OursVsJSAlways != nil || z.Goals.VsJSAlways {
		t.Fatalf("a zero divisor gave %v, %v", z.Ratios.OursVsJSAlways, z.Goals.VsJSAlways)
	}
}

func TestOutputRoundTrip(t *testing.T) {
	steps := []Step{testStep(1, 3000, 1000, 1000, 5000, 9000), testStep(16, 3000, 2500, 1000, 5000, 9000)}
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
	g := allGoals(steps)
	if g.Goals.VsJSAlways { // 3000/2500 = 1.2 at the second step
		t.Fatalf("goal met at every step? %+v", g.Goals)
	}
	if err := WriteSummary(&out, steps, g); err != nil {
		t.Fatal(err)
	}
	line, _ := jsonLine(g)
	out.Write(line)
	if !strings.Contains(out.String(), "NOT MET") {
		t.Fatalf("no verdict in:\n%s", out.String())
	}
	got, goals, err := ParseOutput(strings.NewReader(out.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(got) != 2 || goals.Goals != g.Goals || got[1].Concurrency != 16 {
		t.Fatalf("parsed %d steps, goals %+v", len(got), goals)
	}
}

func TestParseOutputRejects(t *testing.T) {
	good := testStep(1, 3000, 1000, 1000, 5000, 9000)
	goalsLine := func(steps ...Step) string { b, _ := jsonLine(allGoals(steps)); return string(b) }
	stepLine := func(s Step) string { b, _ := jsonLine(s); return string(b) }
	noJS := good
	noJS.JSAlways.Records = 0
	lostRecords := good
	lostRecords.Consume.Records = good.Ours.Records - 1
	liar := good
	liar.Goals.VsJSDefault = false // 3000 over 1000 meets it
	for name, text := range map[string]string{
		"no goals line":     stepLine(good),
		"goals mismatch":    stepLine(good) + goalsLine(good, good),
		"system without":    stepLine(noJS) + goalsLine(noJS),
		"consume short":     stepLine(lostRecords) + goalsLine(lostRecords),
		"goals not derived": stepLine(liar) + goalsLine(good),
	} {
		if _, _, err := ParseOutput(strings.NewReader(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := ParseFlags([]string{"--smoke", "--duration", "2s"}, "/opt/bin", &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Concurrency) != 2 || o.Duration != 2*time.Second || o.Settle != 0 || o.JournalBin != "/opt/bin/journal-server" || o.NatsBin != "/opt/bin/nats-server" {
		t.Fatalf("%+v", o)
	}
	o, err = ParseFlags(nil, "/opt/bin", &stderr)
	if err != nil || len(o.Concurrency) != 3 || o.Concurrency[2] != 64 || o.RecordBytes != 1024 || o.Duration != 10*time.Second {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range [][]string{{"--concurrency", "0"}, {"--record-size", "0"}, {"--duration", "0s"}, {"extra"}, {"--max-records", "10", "--concurrency", "64"}} {
		if _, err := ParseFlags(bad, "/opt/bin", &stderr); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// jsonLine is what benchlines.Write prints after a table.
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}
