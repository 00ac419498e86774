package recovery_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/journal-server/internal/recovery"
	"github.com/robustmq/robustmq-go/journal-server/internal/recovery/replicatest"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

var segID = segstore.SegmentID{Tenant: "default", Shard: "orders/0", Seq: 0}

// env is three journal nodes (1 = the old leader), a placement and a cache.
type env struct {
	cl     *replicatest.Cluster
	meta   *replicatest.Meta
	pl     *replicatest.Placement
	stored [][]byte // the five batches the leader wrote, with offsets
	seg    *placementpb.Segment
	hooks  hookLog
}

// hookLog records the hook calls of the driver on its local replica.
type hookLog struct {
	mu     sync.Mutex
	fenced map[segstore.SegmentID]uint64
	sealed map[segstore.SegmentID]uint64
}

func (h *hookLog) hooks() recovery.Hooks {
	h.mu.Lock()
	h.fenced, h.sealed = map[segstore.SegmentID]uint64{}, map[segstore.SegmentID]uint64{}
	h.mu.Unlock()
	return recovery.Hooks{
		OnFenced: func(id segstore.SegmentID, epoch uint64) { h.mu.Lock(); h.fenced[id] = epoch; h.mu.Unlock() },
		OnSealed: func(id segstore.SegmentID, end uint64) { h.mu.Lock(); h.sealed[id] = end; h.mu.Unlock() },
	}
}

func (h *hookLog) get() (fenced, sealed uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fenced[segID], h.sealed[segID]
}

// newEnv writes five batches of 3 records at epoch 1 on leader 1; follower
// 2 got four of them (LAC known to it: end of the third), follower 3 two
// (LAC: end of the second). With ack quorum 2 the leader acknowledged up
// to the end of the fourth batch (itself and node 2): that is the old LAC.
// The fifth batch only the leader had. Placement then marks the segment
// RECOVERING at epoch 2 with recoveryNode. followers lists which of 2 and
// 3 hold the segment at all.
func newEnv(t *testing.T, recoveryNode uint64, followers ...uint64) *env {
	t.Helper()
	return newEnvWith(t, nil, recoveryNode, followers...)
}

// newEnvWith is newEnv with nodes serving the JournalService server makes
// (nil: replicatest's).
func newEnvWith(t *testing.T, server func(*replicatest.Meta, *replicatest.Placement) replicatest.Register, recoveryNode uint64, followers ...uint64) *env {
	t.Helper()
	e := &env{meta: replicatest.NewMeta(true)}
	e.pl = replicatest.NewPlacement(e.meta)
	var reg replicatest.Register
	if server != nil {
		reg = server(e.meta, e.pl)
	}
	e.cl = replicatest.NewClusterWith(t, reg, 1, 2, 3)
	var batches [][]byte
	for _, tag := range []string{"b0", "b1", "b2", "b3", "b4"} {
		batches = append(batches, replicatest.Batch(tag, 3))
	}
	if len(followers) == 0 {
		followers = []uint64{2, 3}
	}
	var stores []*segstore.Store
	var per []int
	var lacs []uint64
	for _, f := range followers {
		stores = append(stores, e.cl.Nodes[f].Store)
		switch f {
		case 2:
			per, lacs = append(per, 4), append(lacs, 9)
		case 3:
			per, lacs = append(per, 2), append(lacs, 6)
		}
	}
	e.stored = replicatest.Write(t, segID, 0, 1, e.cl.Nodes[1].Store, batches, stores, per, lacs)
	e.pl.PutShard(&placementpb.Shard{Tenant: segID.Tenant, Name: segID.Shard, ReplicaCount: 3, AckQuorum: 2,
		Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE})
	e.seg = e.pl.PutSegment(&placementpb.Segment{Tenant: segID.Tenant, Shard: segID.Shard, Seq: 0,
		Replicas: []uint64{1, 2, 3}, Leader: 1, Epoch: 2, Status: placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING,
		StartOffset: 0, AckQuorum: 2, RecoveryNode: recoveryNode})
	return e
}

// end is the offset after the first k batches.
func (e *env) end(t *testing.T, k int) uint64 { return replicatest.End(t, 0, e.stored, k) }

// run starts a driver on node; it is stopped (and must return) at cleanup.
func (e *env) run(t *testing.T, node uint64) {
	t.Helper()
	d, err := recovery.New(recovery.Config{
		NodeID:     node,
		Store:      e.cl.Nodes[node].Store,
		Cache:      e.meta,
		Placement:  e.pl,
		Dial:       e.cl.Dial,
		Log:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
		RPCTimeout: 2 * time.Second,
		FenceGrace: 200 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
		Rescan:     time.Second,
		Hooks:      e.hooks.hooks(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of cancel")
		}
	})
}

// waitFor polls cond every 10ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) waitSealedInPlacement(t *testing.T) *placementpb.Segment {
	t.Helper()
	var seg *placementpb.Segment
	waitFor(t, 15*time.Second, "placement to seal the segment", func() bool {
		s, ok := e.pl.Segment(segID.Tenant, segID.Shard, segID.Seq)
		seg = s
		return ok && s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED
	})
	return seg
}

// checkSealed asserts node's replica is sealed at end and holds exactly
// want.
func (e *env) checkSealed(t *testing.T, node uint64, end uint64, want [][]byte) {
	t.Helper()
	st, err := e.cl.Nodes[node].Store.Describe(segID)
	if err != nil {
		t.Fatalf("node %d: describe: %v", node, err)
	}
	if !st.Sealed || st.SealedEnd != end || st.LogEnd != end || st.LAC != end {
		t.Fatalf("node %d: state %+v, want sealed at %d", node, st, end)
	}
	got := replicatest.Contents(t, e.cl.Nodes[node].Store, segID)
	if len(got) != len(want) {
		t.Fatalf("node %d holds %d batches, want %d", node, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("node %d: batch %d differs from what the leader wrote", node, i)
		}
	}
}

// checkOneCall asserts exactly one SealAndRoll (also after a pause) with
// the expected fields.
func (e *env) checkOneCall(t *testing.T, end uint64) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // a duplicate would show up by now
	calls := e.pl.Calls()
	if len(calls) != 1 {
		t.Fatalf("SealAndRoll called %d times, want 1: %v", len(calls), calls)
	}
	c := calls[0]
	if c.GetEndOffset() != end || c.GetExpectedVersion() != e.seg.GetVersion() || c.GetSeq() != 0 ||
		c.GetTenant() != segID.Tenant || c.GetShard() != segID.Shard ||
		len(c.GetExcludeNodes()) != 1 || c.GetExcludeNodes()[0] != 1 {
		t.Fatalf("SealAndRoll %v, want end %d version %d exclude [1]", c, end, e.seg.GetVersion())
	}
}

// The leader (node 1) is dead; node 2 has four batches, node 3 two. The
// end is node 2's log end (= the old LAC): every acknowledged batch is kept,
// the batch only the dead leader had is not. Run once with the longer
// replica recovering (copy to a remote replica over Replicate) and once
// with the shorter one (copy to the local replica with AppendRecovered).
func TestRecoveryDifferentLogEnds(t *testing.T) {
	for _, node := range []uint64{2, 3} {
		t.Run(map[uint64]string{2: "recovery node has the longer log", 3: "recovery node has the shorter log"}[node], func(t *testing.T) {
			e := newEnv(t, node)
			e.cl.Nodes[1].Stop()
			e.run(t, node)
			sealed := e.waitSealedInPlacement(t)
			oldLAC := e.end(t, 4)
			if sealed.GetEndOffset() != oldLAC {
				t.Fatalf("sealed at %d, want the old LAC %d", sealed.GetEndOffset(), oldLAC)
			}
			e.checkOneCall(t, oldLAC)
			e.checkSealed(t, 2, oldLAC, e.stored[:4])
			e.checkSealed(t, 3, oldLAC, e.stored[:4])
			if fenced, sealed := e.hooks.get(); fenced != 2 || sealed != oldLAC {
				t.Fatalf("hooks saw the local replica fenced at %d, sealed at %d; want 2, %d", fenced, sealed, oldLAC)
			}
			// The dead leader's replica is untouched (reconcile trims it
			// when it comes back).
			if st, _ := e.cl.Nodes[1].Store.Describe(segID); st.Sealed || st.LogEnd != e.end(t, 5) {
				t.Fatalf("old leader's replica changed: %+v", st)
			}
			// The next segment starts at the end and excludes the leader.
			next, ok := e.pl.Segment(segID.Tenant, segID.Shard, 1)
			if !ok || next.GetStartOffset() != oldLAC || next.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN {
				t.Fatalf("next segment %v", next)
			}
			for _, r := range next.GetReplicas() {
				if r == 1 {
					t.Fatalf("next segment placed on the dead leader: %v", next)
				}
			}
		})
	}
}

// When the old leader answers the fence too, its tail is among the replies
// and is kept: all three replicas seal at the leader's log end.
func TestRecoveryAllReachableKeepsLongestTail(t *testing.T) {
	e := newEnv(t, 3)
	e.run(t, 3)
	sealed := e.waitSealedInPlacement(t)
	end := e.end(t, 5)
	if sealed.GetEndOffset() != end {
		t.Fatalf("sealed at %d, want %d", sealed.GetEndOffset(), end)
	}
	e.checkOneCall(t, end)
	for _, n := range []uint64{1, 2, 3} {
		e.checkSealed(t, n, end, e.stored)
	}
	// Fenced at the recovery epoch everywhere: the old leader cannot write.
	if _, _, err := e.cl.Nodes[1].Store.Append(segID, 1, replicatest.Batch("late", 1)); err == nil {
		t.Fatal("old leader appended after recovery")
	}
}

// With two of three replicas unreachable the recovery cannot know the end:
// it must not seal, keeps retrying, and completes once one comes back.
func TestRecoveryWaitsForQuorum(t *testing.T) {
	e := newEnv(t, 3)
	e.cl.Nodes[1].Stop()
	e.cl.Nodes[2].Stop()
	e.run(t, 3)

	time.Sleep(1500 * time.Millisecond) // many attempts at 20-100ms backoff
	if calls := e.pl.Calls(); len(calls) != 0 {
		t.Fatalf("SealAndRoll called without a quorum: %v", calls)
	}
	st, err := e.cl.Nodes[3].Store.Describe(segID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sealed || st.LogEnd != e.end(t, 2) {
		t.Fatalf("node 3 changed without a quorum: %+v", st)
	}
	if st.FenceEpoch != 2 {
		t.Fatalf("node 3 fence epoch %d, want 2", st.FenceEpoch)
	}

	e.cl.Nodes[2].Start(t)
	sealed := e.waitSealedInPlacement(t)
	if sealed.GetEndOffset() != e.end(t, 4) {
		t.Fatalf("sealed at %d, want %d", sealed.GetEndOffset(), e.end(t, 4))
	}
	e.checkOneCall(t, e.end(t, 4))
	e.checkSealed(t, 2, e.end(t, 4), e.stored[:4])
	e.checkSealed(t, 3, e.end(t, 4), e.stored[:4])
}

// A replica already sealed by an earlier attempt fixes the end, even when
// the old leader, answering now, has a longer tail: it is trimmed.
func TestRecoveryAdoptsAnEarlierSeal(t *testing.T) {
	e := newEnv(t, 3)
	s3 := e.cl.Nodes[3].Store
	for _, b := range e.stored[2:4] {
		if _, err := s3.AppendRecovered(segID, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s3.Fence(segID, 2); err != nil {
		t.Fatal(err)
	}
	if err := s3.Seal(segID, e.end(t, 4)); err != nil {
		t.Fatal(err)
	}
	e.run(t, 3)
	sealed := e.waitSealedInPlacement(t)
	if sealed.GetEndOffset() != e.end(t, 4) {
		t.Fatalf("sealed at %d, want the earlier seal %d", sealed.GetEndOffset(), e.end(t, 4))
	}
	e.checkOneCall(t, e.end(t, 4))
	for _, n := range []uint64{1, 2, 3} {
		e.checkSealed(t, n, e.end(t, 4), e.stored[:4])
	}
}

// A replica that never received the segment is created fenced at the new
// epoch (the old leader can no longer reach it) and completed.
func TestRecoveryCreatesAMissingReplica(t *testing.T) {
	e := newEnv(t, 2, 2) // node 3 never got the segment
	e.cl.Nodes[1].Stop()
	e.run(t, 2)
	sealed := e.waitSealedInPlacement(t)
	if sealed.GetEndOffset() != e.end(t, 4) {
		t.Fatalf("sealed at %d, want %d", sealed.GetEndOffset(), e.end(t, 4))
	}
	e.checkSealed(t, 2, e.end(t, 4), e.stored[:4])
	e.checkSealed(t, 3, e.end(t, 4), e.stored[:4])
	if st, _ := e.cl.Nodes[3].Store.Describe(segID); st.FenceEpoch != 2 {
		t.Fatalf("created replica fence epoch %d, want 2", st.FenceEpoch)
	}
}

// A failing SealAndRoll is retried with the same end until it succeeds.
func TestRecoveryRetriesSealAndRoll(t *testing.T) {
	e := newEnv(t, 3)
	e.cl.Nodes[1].Stop()
	e.pl.FailSealAndRoll(2)
	e.run(t, 3)
	e.waitSealedInPlacement(t)
	time.Sleep(300 * time.Millisecond)
	calls := e.pl.Calls()
	if len(calls) != 3 {
		t.Fatalf("SealAndRoll called %d times, want 3 (2 failures + 1)", len(calls))
	}
	for _, c := range calls {
		if c.GetEndOffset() != e.end(t, 4) {
			t.Fatalf("call with end %d, want %d", c.GetEndOffset(), e.end(t, 4))
		}
	}
}

// VersionMismatch means the segment changed under us: the worker stops at
// once (no retry loop), and a new worker runs when the cache shows the new
// version.
func TestRecoveryStopsOnVersionMismatch(t *testing.T) {
	e := newEnv(t, 3)
	e.cl.Nodes[1].Stop()
	// Placement moves on (a newer version) while the cache still shows the
	// old one: publish only to placement.
	e.pl.SetMeta(nil)
	newer := e.pl.PutSegment(e.seg)
	e.run(t, 3)
	waitFor(t, 10*time.Second, "a SealAndRoll call", func() bool { return len(e.pl.Calls()) > 0 })
	time.Sleep(500 * time.Millisecond)
	if n := len(e.pl.Calls()); n != 1 {
		t.Fatalf("SealAndRoll called %d times after VersionMismatch, want 1", n)
	}
	// The cache catches up: a new worker completes at the new version.
	e.pl.SetMeta(e.meta)
	e.meta.PutSegment(newer)
	e.waitSealedInPlacement(t)
	calls := e.pl.Calls()
	if len(calls) != 2 || calls[1].GetExpectedVersion() != newer.GetVersion() {
		t.Fatalf("calls %v, want a second one at version %d", calls, newer.GetVersion())
	}
}

// Segments recovered by another node, or not recovering, are left alone.
func TestRecoveryIgnoresOtherSegments(t *testing.T) {
	e := newEnv(t, 2) // node 2 is the recovery node, not 3
	e.run(t, 3)
	time.Sleep(500 * time.Millisecond)
	if calls := e.pl.Calls(); len(calls) != 0 {
		t.Fatalf("node 3 called SealAndRoll for node 2's recovery: %v", calls)
	}
	for _, n := range []uint64{1, 2, 3} {
		if st, _ := e.cl.Nodes[n].Store.Describe(segID); st.FenceEpoch != 1 || st.Sealed {
			t.Fatalf("node %d touched: %+v", n, st)
		}
	}
}

func TestDialerFollowsAddress(t *testing.T) {
	cl := replicatest.NewCluster(t, 7)
	meta := replicatest.NewMeta(true)
	d := recovery.NewDialer(meta)
	t.Cleanup(func() { _ = d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.Dial(ctx, 7); err == nil {
		t.Fatal("Dial of an unknown node succeeded")
	}
	for round := 0; round < 2; round++ {
		meta.PutNode(&placementpb.ClusterNode{NodeId: 7, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: cl.Nodes[7].Addr()})
		c, err := d.Dial(ctx, 7)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if err := cl.Nodes[7].Store.CreateSegment(segstore.SegmentID{Tenant: "t", Shard: "s", Seq: uint32(round)}, 0, 1); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Fence(ctx, &journalpb.FenceRequest{Segment: recovery.Ref(segstore.SegmentID{Tenant: "t", Shard: "s", Seq: uint32(round)}), Epoch: 1})
		if err != nil {
			t.Fatalf("round %d: Fence through the dialer: %v", round, err)
		}
		if resp.GetLogEnd() != 0 {
			t.Fatalf("log end %d", resp.GetLogEnd())
		}
		// Move the node to a new address.
		cl.Nodes[7].Stop()
		cl.Nodes[7].Start(t)
	}
}
