package stats

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", ms(7), 50, 7 * time.Millisecond},
		{"single p99", ms(7), 99, 7 * time.Millisecond},
		{"two p50 takes the lower", ms(1, 9), 50, 1 * time.Millisecond},
		{"two p99 takes the upper", ms(1, 9), 99, 9 * time.Millisecond},
		{"hundred p50", seq(100), 50, 50 * time.Millisecond},
		{"hundred p99", seq(100), 99, 99 * time.Millisecond},
		{"hundred p100", seq(100), 100, 100 * time.Millisecond},
		{"thousand p99", seq(1000), 99, 990 * time.Millisecond},
		{"ten p99 is the max", seq(10), 99, 10 * time.Millisecond},
		{"p0 clamps to the min", seq(10), 0, 1 * time.Millisecond},
		{"p above 100 clamps to the max", seq(10), 150, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Fatalf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSortsAndComputes(t *testing.T) {
	// Unsorted on purpose: Summarize must sort before taking percentiles.
	lat := ms(40, 10, 30, 20, 100, 50, 60, 70, 80, 90)
	s := Summarize(SystemEtcd, 4, lat, 3, 2*time.Second)
	if s.Writes != 10 || s.Errors != 3 || s.Concurrency != 4 || s.System != SystemEtcd {
		t.Fatalf("counts wrong: %+v", s)
	}
	if s.WritesPerS != 5 {
		t.Errorf("writes/s = %v, want 5", s.WritesPerS)
	}
	if s.P50 != 50*time.Millisecond || s.P50Ms != 50 {
		t.Errorf("p50 = %v (%v ms), want 50ms", s.P50, s.P50Ms)
	}
	if s.P99 != 100*time.Millisecond || s.P99Ms != 100 {
		t.Errorf("p99 = %v (%v ms), want 100ms", s.P99, s.P99Ms)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	s := Summarize(SystemPlacement, 1, nil, 5, 0)
	if s.Writes != 0 || s.WritesPerS != 0 || s.P50 != 0 || s.P99 != 0 {
		t.Fatalf("empty summary not zero: %+v", s)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b   float64
		want   float64
		wantOK bool
	}{
		{100, 50, 2, true},
		{50, 100, 0.5, true},
		{0, 100, 0, true},
		{100, 0, 0, false},
		{100, -1, 0, false},
	}
	for _, tt := range tests {
		got, ok := Ratio(tt.a, tt.b)
		if ok != tt.wantOK || got != tt.want {
			t.Errorf("Ratio(%v, %v) = %v, %v; want %v, %v", tt.a, tt.b, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestCompareRatios(t *testing.T) {
	p := Summarize(SystemPlacement, 16, ms(1, 2, 3, 4), 0, time.Second)        // 4 w/s, p99 4ms
	e := Summarize(SystemEtcd, 16, ms(1, 1, 1, 1, 1, 1, 1, 2), 0, time.Second) // 8 w/s, p99 2ms
	c := Compare(p, e, 256, 16)
	if c.WritesRatio == nil || *c.WritesRatio != 0.5 {
		t.Errorf("writes ratio = %v, want 0.5", c.WritesRatio)
	}
	if c.P99Ratio == nil || *c.P99Ratio != 2 {
		t.Errorf("p99 ratio = %v, want 2", c.P99Ratio)
	}

	noEtcd := Compare(p, Summarize(SystemEtcd, 16, nil, 9, time.Second), 256, 16)
	if noEtcd.WritesRatio != nil || noEtcd.P99Ratio != nil {
		t.Errorf("ratios against an etcd with no writes must be absent, got %v %v", noEtcd.WritesRatio, noEtcd.P99Ratio)
	}
	noPlacement := Compare(Summarize(SystemPlacement, 16, nil, 9, time.Second), e, 256, 16)
	if noPlacement.WritesRatio != nil || noPlacement.P99Ratio != nil {
		t.Errorf("ratios for a placement with no writes must be absent, got %v %v", noPlacement.WritesRatio, noPlacement.P99Ratio)
	}
}

func TestJSONLineRoundTripsThroughParseLines(t *testing.T) {
	var out bytes.Buffer
	var want []Comparison
	for _, conc := range []int{1, 16} {
		p := Summarize(SystemPlacement, conc, ms(2, 3, 5), 0, time.Second)
		e := Summarize(SystemEtcd, conc, ms(1, 2, 4, 8), 1, time.Second)
		c := Compare(p, e, 256, min(conc, 16))
		want = append(want, c)
		if err := c.WriteTable(&out); err != nil {
			t.Fatal(err)
		}
		line, err := c.JSONLine()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("JSON line is not one line: %q", line)
		}
		out.Write(line)
		out.WriteString("some log line {not json}\n")
	}
	got, err := ParseLines(&out)
	if err != nil {
		t.Fatalf("ParseLines: %v\n%s", err, out.String())
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d lines, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Concurrency != want[i].Concurrency || *got[i].WritesRatio != *want[i].WritesRatio ||
			got[i].Placement.P99Ms != want[i].Placement.P99Ms || got[i].Etcd.Errors != 1 {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseLinesRejectsIncomplete(t *testing.T) {
	good := Compare(Summarize(SystemPlacement, 1, ms(1, 2), 0, time.Second), Summarize(SystemEtcd, 1, ms(1, 2), 0, time.Second), 256, 1)
	goodLine, err := good.JSONLine()
	if err != nil {
		t.Fatal(err)
	}
	noEtcd := Compare(Summarize(SystemPlacement, 1, ms(1, 2), 0, time.Second), Summarize(SystemEtcd, 1, nil, 3, time.Second), 256, 1)
	noEtcdLine, err := noEtcd.JSONLine()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{"etcd without writes", string(noEtcdLine), "etcd: no acknowledged writes"},
		{"truncated", strings.TrimSpace(string(goodLine))[:40] + "\n", "line 1"},
		{"wrong system", strings.Replace(string(goodLine), `"system":"etcd"`, `"system":"zk"`, 1), `system "zk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLines(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteTableShowsRatios(t *testing.T) {
	c := Compare(Summarize(SystemPlacement, 1, ms(2), 0, time.Second), Summarize(SystemEtcd, 1, ms(1, 1), 0, time.Second), 256, 1)
	var b bytes.Buffer
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"placement", "etcd", "writes/s", "p99 ms", "placement/etcd: writes/s 0.50x, p99 2.00x"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestMean(t *testing.T) {
	ms := time.Millisecond
	if got := Mean([]time.Duration{3 * ms, 1 * ms, 2 * ms, 6 * ms}); got != 3*ms {
		t.Fatalf("Mean = %v, want 3ms", got)
	}
	if got := Mean(nil); got != 0 {
		t.Fatalf("Mean(nil) = %v, want 0", got)
	}
}
