package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// testProbe is quick enough for unit tests and shaped like the defaults.
var testProbe = ProbeConfig{Interval: 200 * time.Millisecond, Timeout: 300 * time.Millisecond, Attempts: 3, Backoff: 150 * time.Millisecond}

// healthNode is a real gRPC server on 127.0.0.1 serving grpc.health.v1,
// standing in for a broker or journal node.
type healthNode struct {
	addr  string
	srv   *grpc.Server
	hs    *health.Server
	calls atomic.Int64 // health calls received (Check and Watch)
	// checkDelay delays every Check; hang makes Check block until the
	// caller gives up and Watch go silent; breakWatch ends every Watch
	// stream with Unavailable after 50 ms.
	checkDelay time.Duration
	hang       atomic.Bool
	breakWatch bool
}

type healthSvc struct {
	healthpb.UnimplementedHealthServer
	n *healthNode
}

func (s healthSvc) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	s.n.calls.Add(1)
	if s.n.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if s.n.checkDelay > 0 {
		time.Sleep(s.n.checkDelay)
	}
	return s.n.hs.Check(ctx, req)
}

func (s healthSvc) List(ctx context.Context, req *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	return s.n.hs.List(ctx, req)
}

func (s healthSvc) Watch(req *healthpb.HealthCheckRequest, st grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	s.n.calls.Add(1)
	if s.n.breakWatch {
		time.Sleep(50 * time.Millisecond)
		return status.Error(codes.Unavailable, "stream reset")
	}
	if s.n.hang.Load() {
		<-st.Context().Done()
		return st.Context().Err()
	}
	return s.n.hs.Watch(req, st)
}

// startHealthNode serves on addr ("127.0.0.1:0" for any port); setup runs
// before serving.
func startHealthNode(t *testing.T, addr string, setup func(*healthNode)) *healthNode {
	t.Helper()
	var lis net.Listener
	var err error
	for range 50 { // a restarted node's port may take a moment to free
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := &healthNode{addr: lis.Addr().String(), srv: grpc.NewServer(), hs: health.NewServer()}
	if setup != nil {
		setup(n)
	}
	healthpb.RegisterHealthServer(n.srv, healthSvc{n: n})
	go func() { _ = n.srv.Serve(lis) }()
	t.Cleanup(n.srv.Stop)
	return n
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

func journal(id, inc uint64, addr string) *placementpb.ClusterNode {
	return &placementpb.ClusterNode{NodeId: id, Incarnation: inc, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL,
		GrpcAddr: addr, Status: placementpb.NodeStatus_NODE_STATUS_ALIVE}
}

func (f *fakeState) set(n *placementpb.ClusterNode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[n.GetNodeId()] = n
}

func (f *fakeState) deaths() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.dead)
}

// probing is a registry with probing on, running until the test ends.
type probing struct {
	r   *Registry
	st  *fakeState
	reg *prometheus.Registry
}

func startProbing(t *testing.T, leader bool, nodes ...*placementpb.ClusterNode) *probing {
	t.Helper()
	st := &fakeState{nodes: map[uint64]*placementpb.ClusterNode{}}
	for _, n := range nodes {
		st.set(n)
	}
	reg := prometheus.NewRegistry()
	// A long lease: only probes can declare anything in these tests.
	r := New(Config{Lease: time.Minute, Probe: testProbe, Registerer: reg}, st, st, zerolog.Nop())
	r.SetLeader(leader)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Registry.Run did not return within 5s of its context's end")
		}
	})
	return &probing{r: r, st: st, reg: reg}
}

// waitReached waits until every listed node answered its watcher.
func (p *probing) waitReached(t *testing.T, ids ...uint64) {
	t.Helper()
	waitFor(t, 3*time.Second, "every node reached", func() error {
		p.r.prober.mu.Lock()
		defer p.r.prober.mu.Unlock()
		for _, id := range ids {
			w := p.r.prober.watchers[id]
			if w == nil || !w.reached.Load() {
				return fmt.Errorf("node %d not reached yet", id)
			}
		}
		return nil
	})
}

func waitFor(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProbeDeclaresStoppedNodeOnce(t *testing.T) {
	n1, n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
	// Just became leader with a one-minute lease: a lapse cannot declare
	// anything for a minute, so whatever is declared is the probes' doing.
	p := startProbing(t, true, journal(1, 1, n1.addr), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
	p.waitReached(t, 1, 2, 3)

	n1.srv.Stop()
	stopped := time.Now()
	waitFor(t, 2*time.Second, "node 1 declared dead", func() error {
		if len(p.st.deaths()) == 0 {
			return errors.New("no death yet")
		}
		return nil
	})
	took := time.Since(stopped)
	t.Logf("declared dead %s after its server stopped", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("declared %s after the stop, want within 1s", took)
	}
	time.Sleep(time.Second) // room for a duplicate
	if d := p.st.deaths(); !slices.Equal(d, []uint64{1}) {
		t.Fatalf("deaths = %v, want [1] once", d)
	}
	if got := testutil.ToFloat64(p.r.metrics.declared.WithLabelValues(ReasonUnreachable)); got != 1 {
		t.Errorf("declared{unreachable} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(p.r.metrics.probeFailures); got < float64(testProbe.Attempts) {
		t.Errorf("probe failures = %v, want at least %d", got, testProbe.Attempts)
	}
	if n := p.r.prober.watching(); n != 2 {
		t.Errorf("%d watchers after the death, want 2 (the live nodes)", n)
	}
}

func TestProbeSparesReregisteredNode(t *testing.T) {
	old, n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
	p := startProbing(t, true, journal(1, 1, old.addr), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
	p.waitReached(t, 1, 2, 3)

	// Node 1 restarts on another port and registers again (incarnation
	// 2) while the prober of incarnation 1 still watches the dead one.
	old.srv.Stop()
	fresh := startHealthNode(t, "127.0.0.1:0", nil)
	p.st.set(journal(1, 2, fresh.addr))
	time.Sleep(1500 * time.Millisecond)
	if d := p.st.deaths(); len(d) != 0 {
		t.Fatalf("deaths = %v: a stale prober declared a re-registered node", d)
	}
	p.waitReached(t, 1)
	p.r.prober.mu.Lock()
	inc := p.r.prober.watchers[1].node.GetIncarnation()
	p.r.prober.mu.Unlock()
	if inc != 2 {
		t.Fatalf("node 1 watched at incarnation %d, want 2", inc)
	}

	// Restarted on the same address: the old incarnation's watcher may
	// find the port closed for a while; still no death.
	fresh.srv.Stop()
	p.st.set(journal(1, 3, fresh.addr))
	time.Sleep(400 * time.Millisecond)
	startHealthNode(t, fresh.addr, nil)
	time.Sleep(time.Second)
	if d := p.st.deaths(); len(d) != 0 {
		t.Fatalf("deaths = %v after a restart on the same address", d)
	}
}

func TestDeclareDeadChecksIncarnationAndTerm(t *testing.T) {
	st := &fakeState{nodes: map[uint64]*placementpb.ClusterNode{1: journal(1, 2, "x:1")}}
	r := New(Config{Lease: time.Second}, st, st, zerolog.Nop())
	r.SetLeader(true)
	_, term, _ := r.leadership()
	ctx := context.Background()
	if ok, err := r.declareDead(ctx, term, journal(1, 1, "x:1"), ReasonUnreachable, "test"); ok || err != nil {
		t.Fatalf("stale incarnation declared: %v %v", ok, err)
	}
	r.SetLeader(false)
	r.SetLeader(true)
	if ok, err := r.declareDead(ctx, term, journal(1, 2, "x:1"), ReasonUnreachable, "test"); ok || err != nil {
		t.Fatalf("declared under an earlier term: %v %v", ok, err)
	}
	_, term, _ = r.leadership()
	if ok, err := r.declareDead(ctx, term, journal(1, 2, "x:1"), ReasonUnreachable, "test"); !ok || err != nil {
		t.Fatalf("not declared: %v %v", ok, err)
	}
	if ok, _ := r.declareDead(ctx, term, journal(1, 2, "x:1"), ReasonLease, "test"); ok {
		t.Fatal("declared twice")
	}
	if d := st.deaths(); !slices.Equal(d, []uint64{1}) {
		t.Fatalf("deaths = %v, want [1]", d)
	}
}

func TestProbeSlowNodeNotDeclared(t *testing.T) {
	// Health answers in 200 ms (inside the 300 ms timeout) and the Watch
	// stream keeps breaking, so the node is probed over and over.
	slow := startHealthNode(t, "127.0.0.1:0", func(n *healthNode) {
		n.checkDelay = 200 * time.Millisecond
		n.breakWatch = true
	})
	n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
	p := startProbing(t, true, journal(1, 1, slow.addr), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
	p.waitReached(t, 1, 2, 3)
	time.Sleep(2 * time.Second)
	if d := p.st.deaths(); len(d) != 0 {
		t.Fatalf("deaths = %v: a slow but answering node was declared dead", d)
	}
	if got := testutil.ToFloat64(p.r.metrics.probeFailures); got != 0 {
		t.Errorf("probe failures = %v, want 0", got)
	}
	if slow.calls.Load() < 10 {
		t.Errorf("only %d health calls reached the slow node: it was hardly probed", slow.calls.Load())
	}
}

func TestProbeHungNodeDeclared(t *testing.T) {
	hung, n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
	p := startProbing(t, true, journal(1, 1, hung.addr), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
	p.waitReached(t, 1, 2, 3)
	hung.hang.Store(true) // as under SIGSTOP: connections stay up, nothing answers
	began := time.Now()
	// Bound: interval + (attempts+1) x timeout + (attempts-1) x backoff.
	bound := testProbe.Interval + time.Duration(testProbe.Attempts+1)*testProbe.Timeout + time.Duration(testProbe.Attempts-1)*testProbe.Backoff
	waitFor(t, bound+time.Second, "hung node declared dead", func() error {
		if len(p.st.deaths()) == 0 {
			return errors.New("no death yet")
		}
		return nil
	})
	t.Logf("hung node declared dead after %s (bound %s)", time.Since(began).Round(time.Millisecond), bound)
	if d := p.st.deaths(); !slices.Equal(d, []uint64{1}) {
		t.Fatalf("deaths = %v, want [1]", d)
	}
}

func TestFollowerNeverProbes(t *testing.T) {
	n1, n2 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
	p := startProbing(t, false, journal(1, 1, n1.addr), journal(2, 1, n2.addr), journal(3, 1, closedAddr(t)))
	time.Sleep(time.Second)
	n1.srv.Stop()
	time.Sleep(time.Second)
	if c := n1.calls.Load() + n2.calls.Load(); c != 0 {
		t.Errorf("a follower made %d health calls", c)
	}
	if d := p.st.deaths(); len(d) != 0 {
		t.Fatalf("a follower declared %v dead", d)
	}
	if n := p.r.prober.running.Load(); n != 0 {
		t.Fatalf("%d watchers run on a follower", n)
	}
}

func TestLosingLeadershipStopsProbers(t *testing.T) {
	n1, n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
	p := startProbing(t, true, journal(1, 1, n1.addr), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
	p.waitReached(t, 1, 2, 3)
	p.r.SetLeader(false)
	waitFor(t, time.Second, "every watcher stopped", func() error {
		if n := p.r.prober.running.Load(); n != 0 {
			return fmt.Errorf("%d watchers still run", n)
		}
		return nil
	})
	calls := n2.calls.Load()
	n1.srv.Stop()
	time.Sleep(1500 * time.Millisecond)
	if d := p.st.deaths(); len(d) != 0 {
		t.Fatalf("an ex-leader declared %v dead", d)
	}
	if c := n2.calls.Load(); c != calls {
		t.Errorf("an ex-leader kept probing: %d more health calls", c-calls)
	}

	// Leading again: probing resumes. Node 1, down since before this term,
	// was never reached in it and is left to its lease; node 2, reached
	// and then stopped, is declared dead at once.
	p.r.SetLeader(true)
	p.waitReached(t, 2, 3)
	n2.srv.Stop()
	waitFor(t, 2*time.Second, "node 2 declared dead by the new term", func() error {
		if len(p.st.deaths()) == 0 {
			return errors.New("no death yet")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	if d := p.st.deaths(); !slices.Equal(d, []uint64{2}) {
		t.Fatalf("deaths = %v, want [2]", d)
	}
}

func TestProbeLeavesWeakEvidenceToLease(t *testing.T) {
	t.Run("never reached", func(t *testing.T) {
		n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
		p := startProbing(t, true, journal(1, 1, closedAddr(t)), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
		time.Sleep(1500 * time.Millisecond)
		if d := p.st.deaths(); len(d) != 0 {
			t.Fatalf("deaths = %v: a node never reached was declared dead by probe", d)
		}
		if got := testutil.ToFloat64(p.r.metrics.spared.WithLabelValues(spareNeverReached)); got == 0 {
			t.Error("spared{never_reached} not counted")
		}
	})
	t.Run("not serving", func(t *testing.T) {
		n1, n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
		p := startProbing(t, true, journal(1, 1, n1.addr), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
		p.waitReached(t, 1, 2, 3)
		n1.hs.Shutdown() // what grpcserver does first on a clean stop
		time.Sleep(100 * time.Millisecond)
		n1.srv.Stop()
		time.Sleep(1500 * time.Millisecond)
		if d := p.st.deaths(); len(d) != 0 {
			t.Fatalf("deaths = %v: a node stopping cleanly was declared dead by probe", d)
		}
	})
	t.Run("heartbeating", func(t *testing.T) {
		n1, n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
		p := startProbing(t, true, journal(1, 1, n1.addr), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
		p.waitReached(t, 1, 2, 3)
		n1.srv.Stop()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { // it still heartbeats to us, every 50 ms
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if err := p.r.Heartbeat(1, 1); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
		time.Sleep(1500 * time.Millisecond)
		close(stop)
		wg.Wait()
		if d := p.st.deaths(); len(d) != 0 {
			t.Fatalf("deaths = %v: a node heartbeating to the leader was declared dead by probe", d)
		}
	})
	t.Run("most nodes at once", func(t *testing.T) {
		n1, n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
		p := startProbing(t, true, journal(1, 1, n1.addr), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
		p.waitReached(t, 1, 2, 3)
		n1.srv.Stop()
		n2.srv.Stop()
		time.Sleep(1500 * time.Millisecond)
		if d := p.st.deaths(); len(d) != 0 {
			t.Fatalf("deaths = %v: 2 of 3 nodes unreachable at once were declared dead by probe", d)
		}
		if got := testutil.ToFloat64(p.r.metrics.spared.WithLabelValues(spareMassFailure)); got == 0 {
			t.Error("spared{mass_failure} not counted")
		}
	})
}

// TestProbeDeclaresStoppedDrainingNode: a DRAINING node is probed like an
// ALIVE one, stays watched when it turns DRAINING, and is declared dead
// when it stops.
func TestProbeDeclaresStoppedDrainingNode(t *testing.T) {
	n1, n2, n3 := startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil), startHealthNode(t, "127.0.0.1:0", nil)
	p := startProbing(t, true, journal(1, 1, n1.addr), journal(2, 1, n2.addr), journal(3, 1, n3.addr))
	p.waitReached(t, 1, 2, 3)
	p.r.prober.mu.Lock()
	before := p.r.prober.watchers[1]
	p.r.prober.mu.Unlock()

	drained := journal(1, 1, n1.addr)
	drained.Status = placementpb.NodeStatus_NODE_STATUS_DRAINING
	p.st.set(drained)
	p.r.Touch(1) // what a heartbeat does; the watcher must be kept
	time.Sleep(3 * testProbe.Interval)
	p.r.prober.mu.Lock()
	after := p.r.prober.watchers[1]
	p.r.prober.mu.Unlock()
	if after != before {
		t.Fatalf("turning DRAINING replaced the node's watcher (%p -> %p)", before, after)
	}
	if d := p.st.deaths(); len(d) != 0 {
		t.Fatalf("deaths = %v while the draining node serves", d)
	}

	n1.srv.Stop()
	waitFor(t, 3*time.Second, "draining node 1 declared dead", func() error {
		if !slices.Equal(p.st.deaths(), []uint64{1}) {
			return fmt.Errorf("deaths %v", p.st.deaths())
		}
		return nil
	})
	if n, _ := p.st.GetNode(1); n.GetStatus() != placementpb.NodeStatus_NODE_STATUS_DEAD {
		t.Fatalf("node after the probe's declaration: %v", n)
	}
}
