package placement

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestIntegrationLeaderAndLinearizableReads(t *testing.T) {
	c := harness.StartPlacement(t, 3, harness.PlacementOptions{})
	leader := c.WaitLeader(20 * time.Second)
	var term uint64
	for _, m := range c.Members {
		st, err := m.Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.GetLeaderId() != leader.ID {
			t.Fatalf("member %d sees leader %d, want %d", m.ID, st.GetLeaderId(), leader.ID)
		}
		if term != 0 && st.GetTerm() != term {
			t.Fatalf("members disagree on the term: %d vs %d", st.GetTerm(), term)
		}
		term = st.GetTerm()
	}
	ctx := ctxT(t, 60*time.Second)
	client := placementpb.NewPlacementServiceClient(c.Client())
	for _, m := range c.Members {
		key := fmt.Sprintf("through-%d", m.ID)
		_, err := m.API().PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: []byte("v")})
		if m.ID != leader.ID {
			nl, ok := rpcerr.AsNotLeader(err)
			if status.Code(err) != codes.Unavailable || !ok || nl.GetLeaderAddr() != leader.Addr {
				t.Fatalf("follower %d answered a write with %v, want NotLeader(%s)", m.ID, err, leader.Addr)
			}
			// The shared client follows the hint.
			if _, err := client.PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: []byte("v")}); err != nil {
				t.Fatalf("leaderclient write: %v", err)
			}
		} else if err != nil {
			t.Fatalf("write through the leader: %v", err)
		}
		// Readable at once from every member, linearizably.
		for _, r := range c.Members {
			got, err := r.API().GetKV(ctx, &placementpb.GetKVRequest{Key: key})
			if err != nil || string(got.GetKv().GetValue()) != "v" {
				t.Fatalf("read of %s on member %d right after the write: %v %v", key, r.ID, got, err)
			}
		}
	}
}

// writer puts unique keys until stopped and records every acknowledged one.
type writer struct {
	mu       sync.Mutex
	acked    []string
	failed   atomic.Int64
	lastAck  atomic.Int64 // unix nanos of the latest ack
	attempts atomic.Int64
	// killedAt is set (unix nanos) once a member was killed; firstAfter is
	// then the first ack of a write started after the kill.
	killedAt   atomic.Int64
	firstAfter atomic.Int64
}

func (w *writer) run(ctx context.Context, api placementpb.PlacementServiceClient, prefix string, n int, wg *sync.WaitGroup) {
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for seq := 0; seq < 100000 && ctx.Err() == nil; seq++ {
				key := fmt.Sprintf("%s/%d/%d", prefix, g, seq)
				w.attempts.Add(1)
				started := time.Now().UnixNano()
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := api.PutKV(cctx, &placementpb.PutKVRequest{Key: key, Value: []byte(key)})
				cancel()
				if err != nil {
					w.failed.Add(1)
					continue
				}
				now := time.Now().UnixNano()
				w.lastAck.Store(now)
				if k := w.killedAt.Load(); k != 0 && started > k {
					w.firstAfter.CompareAndSwap(0, now)
				}
				w.mu.Lock()
				w.acked = append(w.acked, key)
				w.mu.Unlock()
			}
		}(i)
	}
}

func (w *writer) keys() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...)
}

func verifyAll(t *testing.T, c *harness.PlacementCluster, keys []string) {
	t.Helper()
	ctx := ctxT(t, 120*time.Second)
	for _, m := range c.Members {
		if !m.Running() {
			continue
		}
		missing := 0
		for _, k := range keys {
			got, err := m.API().GetKV(ctx, &placementpb.GetKVRequest{Key: k})
			if err != nil || string(got.GetKv().GetValue()) != k {
				missing++
				if missing < 5 {
					t.Errorf("member %d: acknowledged key %s: %v %v", m.ID, k, got, err)
				}
			}
		}
		if missing > 0 {
			t.Fatalf("member %d misses %d of %d acknowledged writes", m.ID, missing, len(keys))
		}
	}
}

func TestIntegrationKillLeaderUnderLoad(t *testing.T) {
	cycles := 3
	if os.Getenv("ROBUSTMQ_CHAOS") != "" {
		cycles = 20
	}
	c := harness.StartPlacement(t, 3, harness.PlacementOptions{})
	api := placementpb.NewPlacementServiceClient(c.Client())
	for cycle := 0; cycle < cycles; cycle++ {
		w := &writer{}
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		w.run(ctx, api, fmt.Sprintf("load-%d", cycle), 8, &wg)
		harness.Eventually(t, 20*time.Second, "writes before the kill", func() bool { return len(w.keys()) > 50 })
		leader := c.WaitLeader(20 * time.Second)
		leader.Kill9()
		killed := time.Now()
		w.killedAt.Store(killed.UnixNano())
		// Measure from the kill to the first acknowledged write that was
		// started after it.
		harness.Eventually(t, 20*time.Second, "a write acknowledged after the kill", func() bool { return w.firstAfter.Load() != 0 })
		recovered := time.Duration(w.firstAfter.Load() - killed.UnixNano())
		before := len(w.keys())
		harness.Eventually(t, 20*time.Second, "more writes after the failover", func() bool { return len(w.keys()) > before+50 })
		stop()
		wg.Wait()
		newLeader := c.WaitLeader(20 * time.Second)
		t.Logf("cycle %d: killed leader %d, new leader %d, writes resumed %.0f ms after the kill; acked %d, failed %d of %d attempts",
			cycle, leader.ID, newLeader.ID, float64(recovered)/1e6, len(w.keys()), w.failed.Load(), w.attempts.Load())
		if recovered > 3*time.Second {
			t.Errorf("cycle %d: writes resumed %s after the leader was killed, want < 3s", cycle, recovered)
		}
		leader.Restart()
		c.WaitLeader(20 * time.Second)
		harness.Eventually(t, 30*time.Second, "restarted member catching up", func() bool {
			ls, err := newLeader.Status()
			if err != nil {
				return false
			}
			st, err := leader.Status()
			return err == nil && st.GetAppliedIndex() >= ls.GetCommitIndex()
		})
		verifyAll(t, c, w.keys())
	}
}

func TestIntegrationSnapshotCatchUp(t *testing.T) {
	c := harness.StartPlacement(t, 3, harness.PlacementOptions{Extra: []string{"--snapshot-entries", "100", "--compact-keep", "50"}})
	leader := c.WaitLeader(20 * time.Second)
	var follower *harness.PlacementMember
	for _, m := range c.Members {
		if m.ID != leader.ID {
			follower = m
			break
		}
	}
	follower.Kill9()
	ctx := ctxT(t, 120*time.Second)
	api := placementpb.NewPlacementServiceClient(c.Client())
	for i := 0; i < 1000; i++ {
		if _, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: fmt.Sprintf("snap/%04d", i), Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := leader.Status()
	if err != nil {
		t.Fatal(err)
	}
	if ls.GetFirstLogIndex() <= 2 || ls.GetSnapshotIndex() == 0 {
		t.Fatalf("leader log not compacted: first index %d, snapshot %d", ls.GetFirstLogIndex(), ls.GetSnapshotIndex())
	}
	follower.Restart()
	harness.Eventually(t, 30*time.Second, "follower catching up", func() bool {
		st, err := follower.Status()
		return err == nil && st.GetAppliedIndex() >= ls.GetCommitIndex()
	})
	st, _ := follower.Status()
	if st.GetSnapshotIndex() == 0 {
		t.Fatalf("follower caught up without a snapshot: %v", st)
	}
	got, err := follower.API().GetKV(ctx, &placementpb.GetKVRequest{Key: "snap/0999", Consistency: placementpb.ReadConsistency_READ_CONSISTENCY_SERIALIZABLE})
	if err != nil || string(got.GetKv().GetValue()) != "x" {
		t.Fatalf("serializable read on the caught-up follower: %v %v", got, err)
	}
	t.Logf("leader first log index %d, follower snapshot index %d, applied %d", ls.GetFirstLogIndex(), st.GetSnapshotIndex(), st.GetAppliedIndex())
}

func TestIntegrationFullRestartKeepsCommittedWrites(t *testing.T) {
	c := harness.StartPlacement(t, 3, harness.PlacementOptions{Extra: []string{"--snapshot-entries", "150"}})
	ctx := ctxT(t, 120*time.Second)
	api := placementpb.NewPlacementServiceClient(c.Client())
	var keys []string
	for i := 0; i < 400; i++ {
		k := fmt.Sprintf("restart/%d", i)
		if _, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: k, Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, m := range c.Members {
		m.Stop()
	}
	for _, m := range c.Members {
		m.Restart()
	}
	c.WaitLeader(30 * time.Second)
	verifyAll(t, c, keys)
}

func TestIntegrationAddAndRemoveMemberUnderWrites(t *testing.T) {
	c := harness.StartPlacement(t, 3, harness.PlacementOptions{})
	api := placementpb.NewPlacementServiceClient(c.Client())
	cluster := placementpb.NewClusterServiceClient(c.Client())
	w := &writer{}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	w.run(ctx, api, "member", 4, &wg)

	actx := ctxT(t, 120*time.Second)
	var lastID uint64
	for round := 0; round < 2; round++ {
		addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
		added, err := cluster.AddMember(actx, &placementpb.AddMemberRequest{Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		id := added.GetMember().GetId()
		if id <= 3 || id <= lastID {
			t.Fatalf("AddMember assigned id %d (previous %d): ids must be new", id, lastID)
		}
		lastID = id
		m := c.AddProcess(id, addr)
		harness.Eventually(t, 30*time.Second, "new member catching up", func() bool {
			st, err := m.Status()
			if err != nil {
				return false
			}
			l := c.Leader()
			if l == nil {
				return false
			}
			ls, err := l.Status()
			return err == nil && st.GetAppliedIndex() > 0 && st.GetAppliedIndex()+50 >= ls.GetCommitIndex()
		})
		if _, err := cluster.RemoveMember(actx, &placementpb.RemoveMemberRequest{Id: id}); err != nil {
			t.Fatal(err)
		}
		m.Stop()
		c.Members = c.Members[:len(c.Members)-1]
	}
	before := len(w.keys())
	harness.Eventually(t, 20*time.Second, "writes continuing after membership changes", func() bool { return len(w.keys()) > before+20 })
	stop()
	wg.Wait()
	t.Logf("acked %d writes during two add/remove rounds (%d failed)", len(w.keys()), w.failed.Load())
	verifyAll(t, c, w.keys())
}

func TestIntegrationBadInputAndStoppedMember(t *testing.T) {
	c := harness.StartPlacement(t, 3, harness.PlacementOptions{})
	ctx := ctxT(t, 60*time.Second)
	api := placementpb.NewPlacementServiceClient(c.Client())
	put, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: "bad/k", Value: []byte("v1")})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, err error, want codes.Code) {
		t.Helper()
		if status.Code(err) != want {
			t.Fatalf("%s: %v, want %v", name, err, want)
		}
		got, gerr := api.GetKV(ctx, &placementpb.GetKVRequest{Key: "bad/k"})
		if gerr != nil || string(got.GetKv().GetValue()) != "v1" || got.GetKv().GetVersion() != put.GetKv().GetVersion() {
			t.Fatalf("%s changed state: %v %v", name, got, gerr)
		}
	}
	_, err = api.PutKV(ctx, &placementpb.PutKVRequest{Key: "bad/k", Value: make([]byte, 2<<20)})
	check("2 MiB value", err, codes.ResourceExhausted)
	_, err = api.PutKV(ctx, &placementpb.PutKVRequest{Value: []byte("x")})
	check("empty key", err, codes.InvalidArgument)
	_, err = api.ListNodes(ctx, &placementpb.ListNodesRequest{Kind: 99})
	check("unknown enum", err, codes.InvalidArgument)
	_, err = api.PutKV(ctx, &placementpb.PutKVRequest{Key: "bad/k", Value: []byte("v2"), ExpectedVersion: proto.Uint64(put.GetKv().GetVersion() - 1)})
	check("stale CAS", err, codes.FailedPrecondition)
	if vm, ok := rpcerr.AsVersionMismatch(err); !ok || vm.GetCurrentVersion() != put.GetKv().GetVersion() {
		t.Fatalf("stale CAS detail %v", vm)
	}

	stopped := c.Members[0]
	stopped.Stop()
	_, err = stopped.API().GetKV(ctx, &placementpb.GetKVRequest{Key: "bad/k"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("direct request to a stopped member: %v, want Unavailable", err)
	}
	c.WaitLeader(20 * time.Second)
	got, err := api.GetKV(ctx, &placementpb.GetKVRequest{Key: "bad/k"})
	if err != nil || string(got.GetKv().GetValue()) != "v1" {
		t.Fatalf("leaderclient with a stopped member: %v %v", got, err)
	}
}

func TestIntegrationNodeLeaseAndWatch(t *testing.T) {
	c := harness.StartPlacement(t, 3, harness.PlacementOptions{Extra: []string{"--lease", "2s"}})
	ctx := ctxT(t, 60*time.Second)
	api := placementpb.NewPlacementServiceClient(c.Client())
	reg, err := api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{
		NodeId: 7, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: "127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := api.Watch(ctx, &placementpb.WatchRequest{StartRevision: reg.GetNode().GetVersion(),
		Kinds: []placementpb.ResourceKind{placementpb.ResourceKind_RESOURCE_KIND_NODE}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := api.Heartbeat(ctx, &placementpb.HeartbeatRequest{NodeId: 7, Incarnation: reg.GetNode().GetIncarnation()}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	silent := time.Now()
	var dead *placementpb.ClusterNode
	for dead == nil {
		resp, err := watch.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if resp.GetResync() {
			t.Fatal("unexpected resync")
		}
		for _, ev := range resp.GetEvents() {
			if n := ev.GetNode(); n.GetNodeId() == 7 && n.GetStatus() == placementpb.NodeStatus_NODE_STATUS_DEAD {
				dead = n
			}
		}
	}
	after := time.Since(silent)
	t.Logf("node declared dead %s after its last heartbeat (lease 2s)", after)
	if after < 1500*time.Millisecond || after > 8*time.Second {
		t.Fatalf("death declared after %s, want about the 2s lease", after)
	}
	again, err := api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{
		NodeId: 7, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: "127.0.0.1:1"}})
	if err != nil || again.GetNode().GetIncarnation() != reg.GetNode().GetIncarnation()+1 ||
		again.GetNode().GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("re-registration: %v %v", again, err)
	}
}
