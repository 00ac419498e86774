package logging

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var events []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line is not JSON: %q: %v", line, err)
		}
		events = append(events, ev)
	}
	return events
}

func TestJSONFields(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "json")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	before := time.Now().Add(-time.Second)
	log.Info().Str("node", "n1").Int("port", 1228).Msg("started")
	events := decodeLines(t, buf.String())
	if len(events) != 1 {
		t.Fatalf("got %d events, want 1: %s", len(events), buf.String())
	}
	ev := events[0]
	want := map[string]any{"level": "info", "message": "started", "node": "n1", "port": float64(1228)}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("field %s = %v, want %v", k, ev[k], v)
		}
	}
	ts, ok := ev["time"].(string)
	if !ok {
		t.Fatalf("no time field in %v", ev)
	}
	parsed, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		t.Fatalf("time %q: %v", ts, err)
	}
	if parsed.Before(before.Truncate(time.Second)) || parsed.After(time.Now().Add(time.Second)) {
		t.Fatalf("time %v is not now", parsed)
	}
}

func TestLevelFilters(t *testing.T) {
	cases := []struct {
		level string
		want  []string
	}{
		{"debug", []string{"debug", "info", "warn", "error"}},
		{"", []string{"info", "warn", "error"}},
		{"INFO", []string{"info", "warn", "error"}},
		{"warn", []string{"warn", "error"}},
		{"error", []string{"error"}},
	}
	for _, tc := range cases {
		t.Run(tc.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := New(&buf, tc.level, "json")
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			log.Debug().Msg("d")
			log.Info().Msg("i")
			log.Warn().Msg("w")
			log.Error().Msg("e")
			var got []string
			for _, ev := range decodeLines(t, buf.String()) {
				got = append(got, ev["level"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("levels logged = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConsoleIsNotJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "info", "console")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	log.Info().Str("node", "n1").Msg("started")
	out := buf.String()
	if json.Valid([]byte(strings.TrimSpace(out))) {
		t.Fatalf("console output is JSON: %q", out)
	}
	if !strings.Contains(out, "started") || !strings.Contains(out, "node=") {
		t.Fatalf("console output lacks message or field: %q", out)
	}
}

func TestAutoIsJSONOffTerminal(t *testing.T) {
	// A regular file has a descriptor but is not a terminal.
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	bufLog, err := New(&buf, "info", "auto")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	bufLog.Info().Msg("x")
	if evs := decodeLines(t, buf.String()); len(evs) != 1 {
		t.Fatalf("buffer got %d JSON events, want 1", len(evs))
	}

	log, err := New(f, "info", "")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	log.Info().Msg("x")
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if evs := decodeLines(t, string(data)); len(evs) != 1 {
		t.Fatalf("file got %d JSON events, want 1", len(evs))
	}
}

func TestRejectsBadInput(t *testing.T) {
	cases := []struct{ level, format string }{
		{"loud", "json"},
		{"info", "xml"},
	}
	for _, tc := range cases {
		if _, err := New(&bytes.Buffer{}, tc.level, tc.format); err == nil {
			t.Errorf("New(%q, %q) accepted bad input", tc.level, tc.format)
		}
	}
}
