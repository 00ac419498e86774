package mqttbench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func sampleStep(scenario string) Step {
	r := func(sys string, pub, del int64) Result {
		x := Result{System: sys, Published: pub, PubPerS: float64(pub) / 5, PubElapsedS: 5, Delivered: del,
			PubackP50Ms: 1, PubackP99Ms: 3, DeliveredPerS: float64(del) / 5, E2EP50Ms: 2, E2EP99Ms: 4}
		x.finishLoss()
		return x
	}
	s := Step{Scenario: scenario, Publishers: 10, Window: 8, PayloadBytes: 256, Nodes: 1, LoadAvg: "1.0 1.0 1.0",
		Ours: r(SystemOurs, 1000, 1000), Peer: r(SystemPeer, 5000, 1300)}
	if scenario == ScenarioSlow {
		s.Session = SessionPers
		s.AckDelayMs = 1
	}
	s.finish()
	return s
}

func TestStepRoundTripsThroughTheCheck(t *testing.T) {
	var out bytes.Buffer
	out.WriteString("# header\nsome log line\n")
	for _, sc := range []string{ScenarioQoS1, ScenarioQoS0, ScenarioSlow} {
		s := sampleStep(sc)
		if err := s.WriteTable(&out); err != nil {
			t.Fatal(err)
		}
		line, err := s.JSONLine()
		if err != nil {
			t.Fatal(err)
		}
		out.Write(line)
	}
	text := out.String()
	for _, want := range []string{"robustmq/mosquitto: pub msg/s 0.20x", "delivered msg/s 0.77x", "delivered fraction 3.85x", "lost after PUBACK"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	sum, err := ParseOutput(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Steps) != 3 || sum.Count(ScenarioQoS1) != 1 || sum.Count(ScenarioSlow) != 1 {
		t.Fatalf("parsed %d steps", len(sum.Steps))
	}
	if p := sum.Steps[2].Peer; p.Lost != 3700 || p.LostPct != 74 {
		t.Fatalf("peer lost %d (%.2f%%), want 3700 (74%%)", p.Lost, p.LostPct)
	}
}

func TestCheckRejectsIncompleteLines(t *testing.T) {
	for name, mutate := range map[string]func(*Step){
		"nothing delivered": func(s *Step) { s.Peer.Delivered = 0; s.Peer.finishLoss() },
		"nothing published": func(s *Step) { s.Ours.Published, s.Ours.PubPerS = 0, 0 },
		"wrong system":      func(s *Step) { s.Peer.System = "emqx" },
		"p99 below p50":     func(s *Step) { s.Ours.PubackP99Ms = 0.5 },
		"lost inconsistent": func(s *Step) { s.Ours.Lost = 7 },
		"ratio missing":     func(s *Step) { s.Ratios.PubPerS = nil },
		"unknown scenario":  func(s *Step) { s.Scenario = "qos3" },
	} {
		t.Run(name, func(t *testing.T) {
			s := sampleStep(ScenarioQoS1)
			mutate(&s)
			line, err := s.JSONLine()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseOutput(bytes.NewReader(line)); err == nil {
				t.Fatalf("accepted %s", line)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	o, err := ParseFlags([]string{"--smoke"}, "/bin", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Publishers) != 2 || o.Duration != time.Second || o.SlowMessages != 100 || o.Steps() != 5 {
		t.Fatalf("smoke: %+v (steps %d)", o, o.Steps())
	}
	o, err = ParseFlags([]string{"--smoke", "--publishers", "4", "--scenarios", "qos1,slow-subscriber", "--slow-sessions", "clean"}, "/bin", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Steps() != 2 {
		t.Fatalf("steps %d, want 2", o.Steps())
	}
	o, err = ParseFlags(nil, "/bin", &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Publishers) != 3 || o.Nodes != 1 || o.Steps() != 6 {
		t.Fatalf("defaults: publishers %v, nodes %d, steps %d", o.Publishers, o.Nodes, o.Steps())
	}
	for _, bad := range [][]string{{"--nodes", "2"}, {"--payload-size", "8"}, {"--publishers", "0"}, {"--slow-sessions", "durable"},
		{"--scenarios", "qos2"}, {"--window", "0"}, {"extra"}} {
		if _, err := ParseFlags(bad, "/bin", &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
