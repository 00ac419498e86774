package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/journal-server/internal/reconcile"
	"github.com/robustmq/robustmq-go/journal-server/internal/recovery"
	"github.com/robustmq/robustmq-go/journal-server/internal/recovery/replicatest"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

var segID = segstore.SegmentID{Tenant: "default", Shard: "orders/0", Seq: 0}

type env struct {
	cl     *replicatest.Cluster
	meta   *replicatest.Meta
	pl     *replicatest.Placement
	stored [][]byte

	mu      sync.Mutex
	sealed  map[segstore.SegmentID]uint64
	changed map[segstore.SegmentID]int
}

func (e *env) hookSealed(id segstore.SegmentID) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sealed[id]
}

func (e *env) hookChanged(id segstore.SegmentID) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed[id]
}

// newEnv: leader 1 wrote five batches of 3 records at epoch 1, follower 2
// has four, follower 3 two (as in the recovery tests: the old LAC is the
// end of the fourth). The shard exists in placement; the segment is not
// published (each test says what placement knows).
func newEnv(t *testing.T, ready bool) *env {
	t.Helper()
	e := &env{cl: replicatest.NewCluster(t, 1, 2, 3), meta: replicatest.NewMeta(ready),
		sealed: map[segstore.SegmentID]uint64{}, changed: map[segstore.SegmentID]int{}}
	e.pl = replicatest.NewPlacement(e.meta)
	var batches [][]byte
	for _, tag := range []string{"b0", "b1", "b2", "b3", "b4"} {
		batches = append(batches, replicatest.Batch(tag, 3))
	}
	e.stored = replicatest.Write(t, segID, 0, 1, e.cl.Nodes[1].Store, batches,
		[]*segstore.Store{e.cl.Nodes[2].Store, e.cl.Nodes[3].Store}, []int{4, 2}, []uint64{9, 6})
	e.pl.PutShard(&placementpb.Shard{Tenant: segID.Tenant, Name: segID.Shard, ReplicaCount: 3, AckQuorum: 2,
		Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE})
	return e
}

func (e *env) end(t *testing.T, k int) uint64 { return replicatest.End(t, 0, e.stored, k) }

// sealedSegment publishes segment 0 SEALED at end, as a finished recovery
// leaves it, and seals node 2 (the replica recovery used) there.
func (e *env) sealedSegment(t *testing.T, end uint64) {
	t.Helper()
	s2 := e.cl.Nodes[2].Store
	if _, err := s2.Fence(segID, 2); err != nil {
		t.Fatal(err)
	}
	if err := s2.Seal(segID, end); err != nil {
		t.Fatal(err)
	}
	e.pl.PutSegment(&placementpb.Segment{Tenant: segID.Tenant, Shard: segID.Shard, Seq: 0,
		Replicas: []uint64{1, 2, 3}, Leader: 1, Epoch: 2, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED,
		StartOffset: 0, EndOffset: end, AckQuorum: 2})
}

func (e *env) config(t *testing.T, node uint64) reconcile.Config {
	return reconcile.Config{
		NodeID:     node,
		Store:      e.cl.Nodes[node].Store,
		Cache:      e.meta,
		Placement:  e.pl,
		Dial:       e.cl.Dial,
		Log:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
		RPCTimeout: 2 * time.Second,
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
		Rescan:     time.Second,
		Hooks: recovery.Hooks{
			OnSealed:  func(id segstore.SegmentID, end uint64) { e.mu.Lock(); e.sealed[id] = end; e.mu.Unlock() },
			OnChanged: func(id segstore.SegmentID) { e.mu.Lock(); e.changed[id]++; e.mu.Unlock() },
		},
	}
}

// run starts a reconciler on node; it is stopped (and must return) at
// cleanup.
func (e *env) run(t *testing.T, node uint64) {
	t.Helper()
	r, err := reconcile.New(e.config(t, node))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	startRun(t, r.Run)
}

func startRun(t *testing.T, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
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

func sealedAt(s *segstore.Store, id segstore.SegmentID, end uint64) bool {
	st, err := s.Describe(id)
	return err == nil && st.Sealed && st.SealedEnd == end
}

// checkHolds asserts the replica is sealed at end with exactly want.
func checkHolds(t *testing.T, s *segstore.Store, end uint64, want [][]byte) {
	t.Helper()
	st, err := s.Describe(segID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Sealed || st.SealedEnd != end || st.LogEnd != end || st.LAC != end {
		t.Fatalf("state %+v, want sealed at %d", st, end)
	}
	got := replicatest.Contents(t, s, segID)
	if len(got) != len(want) {
		t.Fatalf("holds %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

// The old leader comes back after the recovery sealed at the old LAC: its
// unacknowledged fifth batch is trimmed.
func TestReconcileTrimsOldLeaderTail(t *testing.T) {
	e := newEnv(t, true)
	e.sealedSegment(t, e.end(t, 4))
	e.run(t, 1)
	waitFor(t, 10*time.Second, "node 1 sealed", func() bool { return sealedAt(e.cl.Nodes[1].Store, segID, e.end(t, 4)) })
	checkHolds(t, e.cl.Nodes[1].Store, e.end(t, 4), e.stored[:4])
	if got := e.hookSealed(segID); got != e.end(t, 4) {
		t.Fatalf("OnSealed saw end %d, want %d", got, e.end(t, 4))
	}
}

// A follower that missed batches copies them from another replica and
// seals; with no other replica reachable it waits and retries. Node 1 (the
// first replica listed) stays down, so the copy comes from node 2.
func TestReconcileCompletesFollower(t *testing.T) {
	e := newEnv(t, true)
	e.sealedSegment(t, e.end(t, 4))
	e.cl.Nodes[1].Stop()
	e.cl.Nodes[2].Stop()
	e.run(t, 3)

	time.Sleep(500 * time.Millisecond)
	st, err := e.cl.Nodes[3].Store.Describe(segID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sealed || st.LogEnd != e.end(t, 2) {
		t.Fatalf("node 3 changed with no source reachable: %+v", st)
	}

	e.cl.Nodes[2].Start(t)
	waitFor(t, 10*time.Second, "node 3 sealed", func() bool { return sealedAt(e.cl.Nodes[3].Store, segID, e.end(t, 4)) })
	checkHolds(t, e.cl.Nodes[3].Store, e.end(t, 4), e.stored[:4])
	if e.hookSealed(segID) != e.end(t, 4) || e.hookChanged(segID) < 2 {
		t.Fatalf("hooks: sealed %d changed %d times; want sealed at %d after a change", e.hookSealed(segID), e.hookChanged(segID), e.end(t, 4))
	}
}

// Open and recovering segments are never sealed by reconcile.
func TestReconcileLeavesUnsealedSegments(t *testing.T) {
	for _, status := range []placementpb.SegmentStatus{placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING} {
		t.Run(status.String(), func(t *testing.T) {
			e := newEnv(t, true)
			e.pl.PutSegment(&placementpb.Segment{Tenant: segID.Tenant, Shard: segID.Shard, Seq: 0,
				Replicas: []uint64{1, 2, 3}, Leader: 1, Epoch: 2, Status: status, AckQuorum: 2, RecoveryNode: 2})
			r, err := reconcile.New(e.config(t, 1))
			if err != nil {
				t.Fatal(err)
			}
			r.Pass(context.Background())
			if st, _ := e.cl.Nodes[1].Store.Describe(segID); st.Sealed || st.LogEnd != e.end(t, 5) || st.FenceEpoch != 1 {
				t.Fatalf("replica changed: %+v", st)
			}
		})
	}
}

// Replicas of deleted shards (or deleted segments) are dropped, but only
// once the cache is ready and placement confirms; a segment the cache lacks
// but placement has is kept, and so is everything while placement cannot
// be asked.
func TestReconcileDropsDeletedShards(t *testing.T) {
	e := newEnv(t, false)
	s := e.cl.Nodes[1].Store
	mk := func(shard string, seq uint32) segstore.SegmentID {
		id := segstore.SegmentID{Tenant: "default", Shard: shard, Seq: seq}
		if err := s.CreateSegment(id, 0, 1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Append(id, 1, replicatest.Batch("x", 2)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	gone0, gone1 := mk("gone/0", 0), mk("gone/0", 1)
	lagging := mk("lagging/0", 0)
	orphan := mk(segID.Shard, 7) // shard exists, segment does not
	// segment 0 of orders/0 exists (open) in placement and cache.
	e.pl.PutSegment(&placementpb.Segment{Tenant: segID.Tenant, Shard: segID.Shard, Seq: 0, Replicas: []uint64{1, 2, 3},
		Leader: 1, Epoch: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, AckQuorum: 2})
	// lagging/0 exists in placement but the cache has not seen it yet.
	e.pl.SetMeta(nil)
	e.pl.PutShard(&placementpb.Shard{Tenant: "default", Name: "lagging/0", ReplicaCount: 3, AckQuorum: 2})
	e.pl.PutSegment(&placementpb.Segment{Tenant: "default", Shard: "lagging/0", Seq: 0, Replicas: []uint64{1, 2, 3},
		Leader: 1, Epoch: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, AckQuorum: 2})
	e.pl.SetMeta(e.meta)

	exists := func(id segstore.SegmentID) bool {
		_, err := s.Describe(id)
		if err != nil && !errors.Is(err, segstore.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	e.pl.FailGetShard(3)
	e.run(t, 1)

	time.Sleep(300 * time.Millisecond)
	if e.pl.GetShardCalls() != 0 {
		t.Fatalf("asked placement before the cache was ready")
	}
	for _, id := range []segstore.SegmentID{gone0, gone1, lagging, orphan, segID} {
		if !exists(id) {
			t.Fatalf("%s deleted before the cache was ready", id)
		}
	}

	e.meta.SetReady()
	waitFor(t, 10*time.Second, "deleted shard's replicas dropped", func() bool {
		return !exists(gone0) && !exists(gone1) && !exists(orphan)
	})
	if e.hookChanged(gone0) != 1 || e.hookChanged(orphan) != 1 {
		t.Fatalf("OnChanged not told of the deletions")
	}
	if e.pl.GetShardCalls() <= 3 {
		t.Fatalf("GetShard calls %d: the failing ones must have been retried", e.pl.GetShardCalls())
	}
	time.Sleep(200 * time.Millisecond)
	for _, id := range []segstore.SegmentID{lagging, segID} {
		if !exists(id) {
			t.Fatalf("%s deleted although placement has it", id)
		}
	}
}

// One pass does at most MaxActionsPerPass seals and says when more is due.
func TestReconcileBoundsWorkPerPass(t *testing.T) {
	e := newEnv(t, true)
	s := e.cl.Nodes[1].Store
	for seq := uint32(1); seq <= 3; seq++ {
		id := segstore.SegmentID{Tenant: segID.Tenant, Shard: segID.Shard, Seq: seq}
		if err := s.CreateSegment(id, 0, 1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Append(id, 1, replicatest.Batch("x", 2)); err != nil {
			t.Fatal(err)
		}
		e.pl.PutSegment(&placementpb.Segment{Tenant: segID.Tenant, Shard: segID.Shard, Seq: seq, Replicas: []uint64{1},
			Leader: 1, Epoch: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, EndOffset: 2, AckQuorum: 1})
	}
	cfg := e.config(t, 1)
	cfg.MaxActionsPerPass = 1
	r, err := reconcile.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	countSealed := func() int {
		n := 0
		for seq := uint32(1); seq <= 3; seq++ {
			if sealedAt(s, segstore.SegmentID{Tenant: segID.Tenant, Shard: segID.Shard, Seq: seq}, 2) {
				n++
			}
		}
		return n
	}
	for pass := 1; pass <= 3; pass++ {
		wait := r.Pass(context.Background())
		if got := countSealed(); got != pass {
			t.Fatalf("after pass %d: %d sealed, want %d", pass, got, pass)
		}
		if pass < 3 && wait > 10*time.Millisecond {
			t.Fatalf("pass %d left work but waits %v", pass, wait)
		}
	}
	if wait := r.Pass(context.Background()); wait < 500*time.Millisecond {
		t.Fatalf("nothing left to do but the next pass is due in %v", wait)
	}
}

// The whole failover: the leader dies with an unacknowledged tail, node 3
// recovers, every node reconciles; when the old leader comes back its
// reconcile trims it to the sealed end, and all three replicas are equal.
func TestFailoverEndToEnd(t *testing.T) {
	e := newEnv(t, true)
	e.cl.Nodes[1].Stop()
	seg := e.pl.PutSegment(&placementpb.Segment{Tenant: segID.Tenant, Shard: segID.Shard, Seq: 0,
		Replicas: []uint64{1, 2, 3}, Leader: 1, Epoch: 2, Status: placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING,
		AckQuorum: 2, RecoveryNode: 3})
	d, err := recovery.New(recovery.Config{NodeID: 3, Store: e.cl.Nodes[3].Store, Cache: e.meta, Placement: e.pl,
		Dial: e.cl.Dial, Log: zerolog.New(zerolog.NewTestWriter(t)), MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, FenceGrace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	startRun(t, d.Run)
	for _, n := range []uint64{1, 2, 3} {
		e.run(t, n)
	}
	end := e.end(t, 4)
	waitFor(t, 15*time.Second, "recovery to seal in placement", func() bool {
		s, ok := e.pl.Segment(segID.Tenant, segID.Shard, 0)
		return ok && s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED
	})
	calls := e.pl.Calls()
	if len(calls) != 1 || calls[0].GetEndOffset() != end || calls[0].GetExpectedVersion() != seg.GetVersion() {
		t.Fatalf("SealAndRoll calls %v, want one at end %d version %d", calls, end, seg.GetVersion())
	}
	e.cl.Nodes[1].Start(t) // the old leader is back
	for _, n := range []uint64{1, 2, 3} {
		waitFor(t, 10*time.Second, "replicas sealed", func() bool { return sealedAt(e.cl.Nodes[n].Store, segID, end) })
		checkHolds(t, e.cl.Nodes[n].Store, end, e.stored[:4])
	}
}
