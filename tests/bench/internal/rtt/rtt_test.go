package rtt

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A short run of both transports: every round trip answered and counted,
// and the figures ordered as percentiles must be.
func TestRunMeasuresBothTransports(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{Count: 50, Size: 1100})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Transport != "grpc-stream" || res[1].Transport != "tcp" {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		if r.Count != 50 || r.P50Ms <= 0 || r.P90Ms < r.P50Ms || r.MeanMs <= 0 {
			t.Fatalf("%s: %+v", r.Transport, r)
		}
	}
	var out bytes.Buffer
	if err := Report(&out, Options{Count: 50, Size: 1100}, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var parsed struct {
		Bench   string
		Results []Result
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &parsed); err != nil || parsed.Bench != "rtt" || len(parsed.Results) != 2 {
		t.Fatalf("last line %q: %v %+v", lines[len(lines)-1], err, parsed)
	}
	if !strings.Contains(out.String(), "grpc-stream / tcp: p50 ") {
		t.Fatalf("no ratio line in\n%s", out.String())
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Count: 0, Size: 1}, {Count: 1, Size: 0}, {Count: 1, Size: 1, Pause: -1}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}
