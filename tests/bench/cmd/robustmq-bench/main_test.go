package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseBenchFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		conc     []int
		duration time.Duration
		warmup   time.Duration
		wantErr  string
	}{
		{name: "defaults", conc: []int{1, 16, 256}, duration: 10 * time.Second, warmup: time.Second},
		{name: "smoke", args: []string{"--smoke"}, conc: []int{1, 16}, duration: time.Second, warmup: 200 * time.Millisecond},
		{name: "smoke keeps explicit flags", args: []string{"--smoke", "--concurrency", "4", "--duration", "3s"}, conc: []int{4}, duration: 3 * time.Second, warmup: 200 * time.Millisecond},
		{name: "custom steps", args: []string{"--concurrency", "2, 8,32"}, conc: []int{2, 8, 32}, duration: 10 * time.Second, warmup: time.Second},
		{name: "zero step", args: []string{"--concurrency", "0"}, wantErr: "--concurrency"},
		{name: "junk step", args: []string{"--concurrency", "1,x"}, wantErr: "--concurrency"},
		{name: "no duration", args: []string{"--duration", "0s"}, wantErr: "--duration"},
		{name: "bad endpoints", args: []string{"--etcd-endpoints", "some"}, wantErr: "--etcd-endpoints"},
		{name: "count below concurrency", args: []string{"--max-requests", "10", "--concurrency", "16"}, wantErr: "--max-requests"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseBenchFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(o.concurrency, tt.conc) || o.duration != tt.duration || o.warmup != tt.warmup {
				t.Fatalf("got conc %v duration %v warmup %v", o.concurrency, o.duration, o.warmup)
			}
		})
	}
}

func TestRunFailsClearlyWithoutPlacementBinary(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--smoke", "--placement-bin", "/nonexistent/placement-center"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "make build") {
		t.Fatalf("code %d stderr %q", code, errOut.String())
	}
}

func TestCheckCounts(t *testing.T) {
	line := `{"bench":"placement-vs-etcd","concurrency":1,"value_bytes":256,"conns":1,` +
		`"placement":{"system":"placement","concurrency":1,"writes":3,"errors":0,"writes_per_s":3,"elapsed_s":1,"p50_ms":1,"p99_ms":2},` +
		`"etcd":{"system":"etcd","concurrency":1,"writes":6,"errors":0,"writes_per_s":6,"elapsed_s":1,"p50_ms":1,"p99_ms":1},` +
		`"writes_ratio":0.5,"p99_ratio":2}` + "\n"
	tests := []struct {
		name   string
		input  string
		expect string
		code   int
	}{
		{"one line, one expected", "table\n" + line, "1", 0},
		{"one line, two expected", line, "2", 1},
		{"nothing", "no json here\n", "0", 1},
		{"any count", line + line, "0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := runCheck([]string{"--expect", tt.expect}, strings.NewReader(tt.input), &out, &errOut); code != tt.code {
				t.Fatalf("code %d, want %d (%s%s)", code, tt.code, out.String(), errOut.String())
			}
		})
	}
}
