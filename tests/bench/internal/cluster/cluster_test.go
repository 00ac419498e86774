package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/clients"
	"github.com/robustmq/robustmq-go/tests/bench/internal/etcdmember"
	"github.com/robustmq/robustmq-go/tests/bench/internal/procs"
)

// TestMain lets the test binary stand in for robustmq-bench: started with
// "etcd-member" as its first argument it runs one etcd member, exactly as
// the real binary's subcommand does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "etcd-member" {
		cfg, err := etcdmember.ParseFlags(os.Args[2:])
		if err == nil {
			ctx, cancel := signalContext()
			err = etcdmember.Run(ctx, cfg)
			cancel()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newGroup(t *testing.T) *procs.Group {
	t.Helper()
	g, err := procs.NewGroup(filepath.Join(t.TempDir(), "logs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.StopAll(time.Second, 15*time.Second); err != nil {
			t.Error(err)
		}
	})
	return g
}

// writeSome proves a pool really writes: a few puts through every putter.
func writeSome(t *testing.T, pool *clients.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, p := range pool.Putters {
		for j := range 3 {
			if err := p.Put(ctx, fmt.Sprintf("test/%d/%d", i, j), []byte("value")); err != nil {
				t.Fatalf("putter %d write %d: %v", i, j, err)
			}
		}
	}
}

func TestStartEtcdThreeMembersTakeWrites(t *testing.T) {
	g := newGroup(t)
	ec, err := StartEtcd(context.Background(), g, EtcdOptions{SelfBinary: os.Args[0], WorkDir: t.TempDir(), ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(ec.Endpoints) != Members || !strings.HasPrefix(ec.LeaderEndpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoints %v leader %q", ec.Endpoints, ec.LeaderEndpoint)
	}
	for _, eps := range [][]string{ec.Endpoints, {ec.LeaderEndpoint}} {
		pool, err := clients.NewEtcdPool(eps, 2)
		if err != nil {
			t.Fatal(err)
		}
		writeSome(t, pool)
		if err := pool.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestStartEtcdFailsFastWhenAMemberDies(t *testing.T) {
	g := newGroup(t)
	// /bin/false exits at once: the readiness wait must notice and fail
	// well before its deadline, naming the member.
	start := time.Now()
	_, err := StartEtcd(context.Background(), g, EtcdOptions{SelfBinary: "/bin/false", WorkDir: t.TempDir(), ReadyTimeout: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("err = %v, want a member-exited error", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("took %v to notice a dead member", took)
	}
}

func TestStartEtcdTimesOutClearly(t *testing.T) {
	g := newGroup(t)
	// Members that stay up but never serve anything: the wait must end
	// at the deadline with "not ready within", not by a member exiting.
	silent := filepath.Join(t.TempDir(), "silent-member")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := StartEtcd(context.Background(), g, EtcdOptions{SelfBinary: silent, WorkDir: t.TempDir(), ReadyTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "not ready within 2s") || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("err = %v, want a readiness timeout", err)
	}
	if took := time.Since(start); took < 2*time.Second || took > 15*time.Second {
		t.Fatalf("gave up after %v, want about 2s", took)
	}
}

// placementBinary finds bin/placement-center (ROBUSTMQ_BIN, or the
// checkout's bin/), or skips: it is built by `make build`, not by this module.
func placementBinary(t *testing.T) (bin, configDir string) {
	t.Helper()
	dir := os.Getenv("ROBUSTMQ_BIN")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "bin")
	}
	bin = filepath.Join(dir, "placement-center")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no placement-center binary (%v); run `make build`", err)
	}
	configDir, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "config", "raft"))
	if err != nil {
		t.Fatal(err)
	}
	return bin, configDir
}

func TestStartPlacementThreeMembersTakeWrites(t *testing.T) {
	bin, configDir := placementBinary(t)
	g := newGroup(t)
	pc, err := StartPlacement(context.Background(), g, PlacementOptions{Binary: bin, ConfigDir: configDir, WorkDir: t.TempDir(), ReadyTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Addrs) != Members || pc.LeaderAddr == "" {
		t.Fatalf("addrs %v leader %q", pc.Addrs, pc.LeaderAddr)
	}
	pool, err := clients.NewPlacementPool(pc.Addrs, 2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	writeSome(t, pool)
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := FreePorts(12)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v not distinct and positive", ports)
		}
		seen[p] = true
	}
}
