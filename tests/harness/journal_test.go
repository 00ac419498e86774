package harness

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLastJSONLine(t *testing.T) {
	out := "producing 5000 records\n{\"progress\":1}\n" +
		`{"acked":4990,"failed":10,"records_per_sec":12345.5,"p50_ms":1.5,"p99_ms":9.25}` + "\n\n"
	got, err := ParseProduce(out)
	if err != nil {
		t.Fatal(err)
	}
	want := ProduceResult{Acked: 4990, Failed: 10, RecordsPerSec: 12345.5, P50Ms: 1.5, P99Ms: 9.25}
	if got != want {
		t.Fatalf("ParseProduce = %+v, want %+v", got, want)
	}
	c, err := ParseConsume(`{"read":7,"missing":1,"duplicates":2,"records_per_sec":3}`)
	if err != nil || c != (ConsumeResult{Read: 7, Missing: 1, Duplicates: 2, RecordsPerSec: 3}) {
		t.Fatalf("ParseConsume = %+v, %v", c, err)
	}
	for _, bad := range []string{
		"",
		"no json here\n",
		`{"acked":1,"failed":0,"renamed":3}`, // an unknown field must not read as zero
		`{"acked":"many"}`,
	} {
		if r, err := ParseProduce(bad); err == nil {
			t.Errorf("ParseProduce(%q) = %+v, want an error", bad, r)
		}
	}
}

func TestJournalArgs(t *testing.T) {
	n := &JournalNode{ID: 2, Addr: "127.0.0.1:20001", HTTPAddr: "127.0.0.1:20002", DataDir: "/d/journal-2"}
	got := journalArgs(n, JournalOptions{
		Placement:       []string{"127.0.0.1:1", "127.0.0.1:2"},
		SegmentMaxBytes: 1 << 20,
		SegmentMaxAge:   3 * time.Second,
		ExtraArgs:       []string{"--log-level", "debug"},
	})
	want := []string{
		"--node-id", "2", "--grpc-addr", "127.0.0.1:20001", "--http-addr", "127.0.0.1:20002",
		"--placement", "127.0.0.1:1,127.0.0.1:2", "--data-dir", "/d/journal-2", "--log-format", "json",
		"--segment-max-bytes", "1048576", "--segment-max-age", "3s", "--log-level", "debug",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("args\n got %q\nwant %q", got, want)
	}
	if got := journalArgs(n, JournalOptions{Placement: []string{"a:1"}}); slices.Contains(got, "--segment-max-bytes") || slices.Contains(got, "--segment-max-age") {
		t.Fatalf("zero segment options must not be passed: %q", got)
	}
}

// fakeRobustctl installs a shell script as robustctl in a fresh bin dir
// and points BinDir at it.
func fakeRobustctl(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, RobustctlBinary), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(BinDirEnv, dir)
	return dir
}

func TestRobustctlPassesPlacementAndArgs(t *testing.T) {
	dir := fakeRobustctl(t, `echo "args: $*"; echo "placement env: ${ROBUSTMQ_PLACEMENT:-unset}"; echo oops >&2`)
	t.Setenv("ROBUSTMQ_PLACEMENT", "10.0.0.1:1228")
	out := Robustctl(t, []string{"127.0.0.1:1", "127.0.0.1:2"}, "stream", "create", "s", "--partitions", "2")
	if !strings.Contains(out, "args: --placement 127.0.0.1:1,127.0.0.1:2 stream create s --partitions 2\n") {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(out, "placement env: unset") {
		t.Errorf("the test's ROBUSTMQ_PLACEMENT leaked into robustctl: %q", out)
	}
	res := RunRobustctl(context.Background(), dir, []string{"a:1"}, "x")
	if res.Err != nil || res.Stderr != "oops\n" || !strings.HasPrefix(res.Command, "robustctl --placement a:1 x") {
		t.Errorf("RunRobustctl = %+v", res)
	}
}

func TestRunRobustctlFailureAndDeadline(t *testing.T) {
	dir := fakeRobustctl(t, `if [ "$3" = fail ]; then echo "error: boom" >&2; exit 1; fi; sleep 30 & wait`)
	res := RunRobustctl(context.Background(), dir, []string{"a:1"}, "fail")
	if res.Err == nil || !strings.Contains(res.Stderr, "boom") {
		t.Fatalf("a failing run: %+v", res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res = RunRobustctl(ctx, dir, []string{"a:1"}, "hang")
	if res.Err == nil || !strings.Contains(res.Err.Error(), "deadline") {
		t.Fatalf("a run past its deadline: %+v", res)
	}
	// The forked sleep holds stdout open; the group kill must end it too.
	if res.Duration > 5*time.Second {
		t.Fatalf("the run took %s after its deadline", res.Duration)
	}

	bg := StartRobustctl(t, []string{"a:1"}, 200*time.Millisecond, "hang")
	select {
	case <-bg.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("background run not ended by its timeout")
	}
	if bg.Wait().Err == nil {
		t.Fatal("background run past its timeout reported success")
	}
}

func TestHasRobustctlCommand(t *testing.T) {
	fakeRobustctl(t, `case "$1" in
bench) echo "Usage:
  robustctl bench produce [flags]";;
*) echo "Usage:
  robustctl [command]";;
esac`)
	if !HasRobustctlCommand(t, "bench", "produce") {
		t.Error("bench produce not found")
	}
	if HasRobustctlCommand(t, "stream") {
		t.Error("stream found in the root's help")
	}
	if !HasBinary(t, RobustctlBinary) || HasBinary(t, JournalBinary) {
		t.Error("HasBinary")
	}
}
