package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/journal-server/internal/reconcile"
	"github.com/robustmq/robustmq-go/journal-server/internal/recovery/replicatest"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// rereplicated: nodes 1..4; segment 1 of orders/0 (start 100, epoch 3) was
// written by 1 to 2 and 3 completely and sealed on all three; then node 2
// died and placement moved its replica to node 4 (replicas 1, 4, 3).
type rereplicated struct {
	cl     *replicatest.Cluster
	meta   *replicatest.Meta
	pl     *replicatest.Placement
	id     segstore.SegmentID
	end    uint64
	stored [][]byte
}

func newRereplicated(t *testing.T) *rereplicated {
	t.Helper()
	e := &rereplicated{cl: replicatest.NewCluster(t, 1, 2, 3, 4), meta: replicatest.NewMeta(true),
		id: segstore.SegmentID{Tenant: "default", Shard: "orders/0", Seq: 1}}
	e.pl = replicatest.NewPlacement(e.meta)
	var batches [][]byte
	for _, tag := range []string{"a", "b", "c", "d", "e", "f"} {
		batches = append(batches, replicatest.Batch(tag, 4))
	}
	s1, s2, s3 := e.cl.Nodes[1].Store, e.cl.Nodes[2].Store, e.cl.Nodes[3].Store
	e.stored = replicatest.Write(t, e.id, 100, 3, s1, batches, []*segstore.Store{s2, s3}, []int{6, 6}, []uint64{124, 124})
	e.end = replicatest.End(t, 100, e.stored, 6)
	for _, s := range []*segstore.Store{s1, s2, s3} {
		if err := s.Seal(e.id, e.end); err != nil {
			t.Fatal(err)
		}
	}
	e.pl.PutShard(&placementpb.Shard{Tenant: "default", Name: "orders/0", ReplicaCount: 3, AckQuorum: 2,
		Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, ActiveSegment: 2})
	e.pl.PutSegment(&placementpb.Segment{Tenant: "default", Shard: "orders/0", Seq: 1, Replicas: []uint64{1, 4, 3},
		Leader: 1, Epoch: 3, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, StartOffset: 100, EndOffset: e.end, AckQuorum: 2})
	e.pl.PutSegment(&placementpb.Segment{Tenant: "default", Shard: "orders/0", Seq: 2, Replicas: []uint64{1, 3, 4},
		Leader: 3, Epoch: 4, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, StartOffset: e.end, AckQuorum: 2})
	return e
}

func (e *rereplicated) config(t *testing.T, node uint64) reconcile.Config {
	return reconcile.Config{NodeID: node, Store: e.cl.Nodes[node].Store, Cache: e.meta, Placement: e.pl, Dial: e.cl.Dial,
		Log: zerolog.New(zerolog.NewTestWriter(t)), RPCTimeout: 2 * time.Second, MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, Rescan: time.Second}
}

func (e *rereplicated) run(t *testing.T, node uint64) {
	t.Helper()
	r, err := reconcile.New(e.config(t, node))
	if err != nil {
		t.Fatal(err)
	}
	startRun(t, r.Run)
}

func present(t *testing.T, s *segstore.Store, id segstore.SegmentID) bool {
	t.Helper()
	_, err := s.Describe(id)
	if err != nil && !errors.Is(err, segstore.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// The node placement chose as the replacement replica copies the whole
// sealed segment from the survivors (the first listed one, node 1, is
// down) and seals it at placement's end: byte-identical to them. The open
// segment listing it is left alone (its leader replicates it).
func TestReconcileCopiesAReassignedSealedSegment(t *testing.T) {
	e := newRereplicated(t)
	e.cl.Nodes[2].Stop() // dead
	e.cl.Nodes[1].Stop() // down for now: the copy must come from node 3
	e.run(t, 4)
	s4 := e.cl.Nodes[4].Store
	waitFor(t, 10*time.Second, "node 4 sealed", func() bool { return sealedAt(s4, e.id, e.end) })
	st, err := s4.Describe(e.id)
	if err != nil || st.StartOffset != 100 || st.LogEnd != e.end || st.LAC != e.end {
		t.Fatalf("copied replica %+v, %v", st, err)
	}
	want := replicatest.Contents(t, e.cl.Nodes[3].Store, e.id)
	got := replicatest.Contents(t, s4, e.id)
	if len(got) != len(want) || len(got) != len(e.stored) {
		t.Fatalf("copied %d batches, node 3 has %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) || !bytes.Equal(got[i], e.stored[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
	if present(t, s4, segstore.SegmentID{Tenant: "default", Shard: "orders/0", Seq: 2}) {
		t.Fatalf("reconcile created the open segment's replica")
	}
}

// With no survivor reachable the copy waits and retries, then completes.
func TestReconcileCopyRetriesUntilASourceIsBack(t *testing.T) {
	e := newRereplicated(t)
	e.cl.Nodes[1].Stop()
	e.cl.Nodes[2].Stop()
	e.cl.Nodes[3].Stop()
	r, err := reconcile.New(e.config(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	r.Pass(context.Background())
	if st, err := e.cl.Nodes[4].Store.Describe(e.id); err != nil || st.Sealed || st.LogEnd != 100 {
		t.Fatalf("without a source: %+v, %v", st, err)
	}
	e.cl.Nodes[3].Start(t)
	startRun(t, r.Run)
	waitFor(t, 10*time.Second, "node 4 sealed", func() bool { return sealedAt(e.cl.Nodes[4].Store, e.id, e.end) })
}

// The dead node comes back: its replica of the segment placement moved
// away is dropped once a linearizable GetShard confirms the move, and not
// while placement still lists it (the cache alone is not enough).
func TestReconcileDropsAReplicaMovedAway(t *testing.T) {
	e := newRereplicated(t)
	s2 := e.cl.Nodes[2].Store
	// Placement still lists node 2 although the cache says otherwise.
	e.pl.SetMeta(nil)
	e.pl.PutSegment(&placementpb.Segment{Tenant: "default", Shard: "orders/0", Seq: 1, Replicas: []uint64{1, 2, 3},
		Leader: 1, Epoch: 3, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, StartOffset: 100, EndOffset: e.end, AckQuorum: 2})
	r, err := reconcile.New(e.config(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	r.Pass(context.Background())
	if !present(t, s2, e.id) || e.pl.GetShardCalls() != 1 {
		t.Fatalf("dropped (or never asked: %d calls) while placement still lists node 2", e.pl.GetShardCalls())
	}
	// Now placement agrees with the cache.
	e.pl.PutSegment(&placementpb.Segment{Tenant: "default", Shard: "orders/0", Seq: 1, Replicas: []uint64{1, 4, 3},
		Leader: 1, Epoch: 3, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, StartOffset: 100, EndOffset: e.end, AckQuorum: 2})
	r.Pass(context.Background())
	if present(t, s2, e.id) {
		t.Fatalf("replica moved away not dropped")
	}
	// The other nodes keep theirs.
	for _, n := range []uint64{1, 3} {
		if !sealedAt(e.cl.Nodes[n].Store, e.id, e.end) {
			t.Fatalf("node %d lost its replica", n)
		}
	}
}

// Retention: segments placement deleted (the cache got the DELETE events)
// are dropped on every replica after confirmation; later ones stay.
func TestReconcileDropsRetainedSegments(t *testing.T) {
	e := newRereplicated(t)
	// Segment 0 exists on node 1 too, then retention deletes it.
	id0 := segstore.SegmentID{Tenant: "default", Shard: "orders/0", Seq: 0}
	s1 := e.cl.Nodes[1].Store
	if err := s1.CreateSegment(id0, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s1.Append(id0, 1, replicatest.Batch("z", 100)); err != nil {
		t.Fatal(err)
	}
	if err := s1.Seal(id0, 100); err != nil {
		t.Fatal(err)
	}
	e.pl.PutSegment(&placementpb.Segment{Tenant: "default", Shard: "orders/0", Seq: 0, Replicas: []uint64{1, 2, 3},
		Leader: 1, Epoch: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, StartOffset: 0, EndOffset: 100, AckQuorum: 2})
	e.run(t, 1)
	time.Sleep(200 * time.Millisecond)
	if !present(t, s1, id0) {
		t.Fatal("dropped a segment placement has")
	}
	e.pl.SetMeta(nil)
	e.pl.RemoveShard("default", "orders/0") // drop everything from placement...
	e.pl.PutShard(&placementpb.Shard{Tenant: "default", Name: "orders/0", ReplicaCount: 3, AckQuorum: 2,
		Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, ActiveSegment: 2, FirstSegment: 1, FirstOffset: 100})
	e.pl.PutSegment(&placementpb.Segment{Tenant: "default", Shard: "orders/0", Seq: 1, Replicas: []uint64{1, 4, 3},
		Leader: 1, Epoch: 3, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, StartOffset: 100, EndOffset: e.end, AckQuorum: 2})
	e.pl.SetMeta(e.meta)
	e.meta.DeleteSegment("default", "orders/0", 0) // ...and the cache sees segment 0 deleted
	waitFor(t, 10*time.Second, "segment 0 dropped", func() bool { return !present(t, s1, id0) })
	if !sealedAt(s1, e.id, e.end) {
		t.Fatal("segment 1 dropped too")
	}
}
