package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStopAllEndsChildrenThatIgnoreSIGTERM(t *testing.T) {
	g, err := NewGroup(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// One child exits on SIGTERM, one ignores it and also starts a
	// grandchild: SIGKILL of the group must take both.
	polite, err := g.Start(Spec{Name: "polite", Path: "/bin/sh", Args: []string{"-c", "echo up; exec sleep 60"}})
	if err != nil {
		t.Fatal(err)
	}
	gcFile := filepath.Join(t.TempDir(), "gc")
	stubborn, err := g.Start(Spec{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; sleep 60 & echo $! > " + gcFile + "; wait"}})
	if err != nil {
		t.Fatal(err)
	}
	grandchild := waitPIDFile(t, gcFile)
	start := time.Now()
	if err := g.StopAll(2*time.Second, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("StopAll took %v", time.Since(start))
	}
	for _, p := range []*Proc{polite, stubborn} {
		select {
		case <-p.Exited():
		default:
			t.Fatalf("%s still running after StopAll", p.Name)
		}
	}
	// The grandchild was killed with the group. It may linger as a zombie
	// until whatever adopted it reaps it, so "dead" means gone or state Z.
	if !eventuallyDead(grandchild, 5*time.Second) {
		t.Errorf("grandchild %d still alive after StopAll", grandchild)
	}
	if !strings.Contains(polite.Tail(5), "up") {
		t.Errorf("log of polite lacks its output: %q", polite.Tail(5))
	}
	if _, err := g.Start(Spec{Name: "late", Path: "/bin/true"}); err == nil {
		t.Error("Start after StopAll succeeded")
	}
}

func waitPIDFile(t *testing.T, path string) int {
	t.Helper()
	for range 100 {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never held a pid", path)
	return 0
}

func eventuallyDead(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		// Field 3, after the parenthesised command name, is the state.
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func TestScrubEnv(t *testing.T) {
	got := scrubEnv([]string{"A=1", "ROBUSTMQ_PLACEMENT_X=2", "ETCD_Y=3", "PATH=/bin"}, []string{"ROBUSTMQ_PLACEMENT_", "ETCD_"})
	if strings.Join(got, " ") != "A=1 PATH=/bin" {
		t.Fatalf("scrubEnv = %v", got)
	}
}

func TestTailLastLines(t *testing.T) {
	dir := t.TempDir()
	p := &Proc{LogPath: filepath.Join(dir, "x.log")}
	if err := os.WriteFile(p.LogPath, []byte("1\n2\n3\n4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := p.Tail(2); got != "3\n4" {
		t.Fatalf("Tail(2) = %q", got)
	}
}

func TestStopAllBoundedWithManyStubbornChildren(t *testing.T) {
	g, err := NewGroup(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Several children that ignore SIGTERM: the grace period must be
	// spent once for all of them, not once per child.
	for i := range 4 {
		if _, err := g.Start(Spec{Name: fmt.Sprintf("stubborn-%d", i), Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; while :; do sleep 1; done"}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the shells install their traps
	start := time.Now()
	if err := g.StopAll(500*time.Millisecond, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("StopAll with a 500ms grace took %v", took)
	}
}
