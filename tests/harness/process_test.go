package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shell starts sh -c script as a harness process.
func shell(t *testing.T, name, script string, ready func(context.Context) error) *Process {
	t.Helper()
	return Start(t, Spec{Name: name, Path: "/bin/sh", Args: []string{"-c", script}, Ready: ready, StopTimeout: time.Second})
}

func TestProcessKillRestartAndLog(t *testing.T) {
	// The shell forks a child, so the kill must reach the whole group.
	p := shell(t, "sleeper", `sleep 60 & echo "up $$ child $!"; wait`, nil)
	if !p.Running() || p.Pid() == 0 {
		t.Fatal("not running after Start")
	}
	first := p.Pid()
	var child int
	Eventually(t, 5*time.Second, "the first run's output", func() error {
		_, err := fmt.Sscanf(p.Tail(1), "up %d child %d", new(int), &child)
		return err
	})
	p.Kill9()
	if p.Running() {
		t.Fatal("running after Kill9")
	}
	// The forked sleep was in the group, so it died too. Orphaned, it is
	// reaped by whatever is pid 1, maybe never in a container: a zombie
	// counts as dead.
	Eventually(t, 5*time.Second, fmt.Sprintf("the forked child %d to die", child), func() error {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			return nil
		}
		// The state follows the parenthesized command name.
		if fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(fields) > 0 && fields[0] == "Z" {
			return nil
		}
		return fmt.Errorf("alive: %s", stat)
	})

	p.Restart()
	if !p.Running() || p.Pid() == first {
		t.Fatalf("restart: running %v, pid %d (was %d)", p.Running(), p.Pid(), first)
	}
	Eventually(t, 5*time.Second, "the second run's output", func() error {
		if !p.LogContains(fmt.Sprintf("up %d ", p.Pid())) {
			return errors.New("not logged yet")
		}
		return nil
	})
	if n := strings.Count(p.Tail(100), "==== harness: run "); n != 2 {
		t.Fatalf("log holds %d run markers, want 2:\n%s", n, p.Tail(100))
	}
	if filepath.Base(p.LogPath()) != "sleeper.log" {
		t.Errorf("log path %s", p.LogPath())
	}
}

func TestProcessStop(t *testing.T) {
	cases := []struct {
		name    string
		script  string
		wantErr bool
	}{
		{"exits cleanly on SIGTERM", `trap 'exit 0' TERM; while :; do sleep 0.05; done`, false},
		{"exits with a failure on SIGTERM", `trap 'exit 3' TERM; while :; do sleep 0.05; done`, true},
		{"ignores SIGTERM", `trap '' TERM; while :; do sleep 0.05; done`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := shell(t, "stopper", tc.script, nil)
			// Let the shell install its trap before the signal.
			time.Sleep(200 * time.Millisecond)
			err := p.Stop()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Stop = %v, want error %v", err, tc.wantErr)
			}
			if p.Running() {
				t.Fatal("still running after Stop")
			}
		})
	}
}

func TestProcessWaitsForReadiness(t *testing.T) {
	addr := FreeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	// Readiness here is a file the script creates after a delay.
	marker := filepath.Join(t.TempDir(), "ready")
	start := time.Now()
	p := shell(t, "slow", fmt.Sprintf(`sleep 0.3; touch %s; sleep 60`, marker), func(context.Context) error {
		_, err := os.Stat(marker)
		return err
	})
	if time.Since(start) < 300*time.Millisecond {
		t.Fatalf("Start returned after %v, before the process was ready", time.Since(start))
	}
	if !p.Running() {
		t.Fatal("not running")
	}
	// The port FreeAddr handed out is bindable.
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("FreeAddr gave %s, which cannot be bound: %v", addr, err)
	}
	_ = l.Close()
}

func TestPollReportsTheLastError(t *testing.T) {
	err := Poll(context.Background(), 150*time.Millisecond, func() error { return errors.New("still 3 of 5") })
	if err == nil || !strings.Contains(err.Error(), "still 3 of 5") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll = %v", err)
	}
	calls := 0
	if err := Poll(context.Background(), time.Second, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || calls != 3 {
		t.Fatalf("Poll = %v after %d calls", err, calls)
	}
}

func TestBinDirFindsTheRepositoryBin(t *testing.T) {
	t.Setenv(BinDirEnv, "")
	dir := BinDir(t)
	if filepath.Base(dir) != "bin" {
		t.Fatalf("BinDir = %s", dir)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "tests", "go.mod")); err != nil {
		t.Fatalf("BinDir = %s is not next to the tests module: %v", dir, err)
	}
	t.Setenv(BinDirEnv, "/some/where")
	if got := BinDir(t); got != "/some/where" {
		t.Fatalf("BinDir with %s set = %s", BinDirEnv, got)
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports := FreePorts(t, 50)
	seen := make(map[int]bool)
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d handed out twice in %v", p, ports)
		}
		seen[p] = true
		if p < portRangeLow || p >= portRangeHigh {
			t.Logf("port %d from outside the preferred range", p)
		}
	}
}
