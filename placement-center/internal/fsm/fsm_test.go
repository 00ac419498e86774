package fsm

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/placement-center/internal/raftnode"
	"github.com/robustmq/robustmq-go/placement-center/internal/watch"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// nextResponse waits for one watch response.
func nextResponse(t *testing.T, w *watch.Watcher) *placementpb.WatchResponse {
	t.Helper()
	select {
	case resp, ok := <-w.C():
		if !ok {
			t.Fatal("watch channel closed")
		}
		return resp
	case <-time.After(10 * time.Second):
		t.Fatal("no watch response")
	}
	return nil
}

func TestJournalDeathStartsRecovery(t *testing.T) {
	f := newTestFSM(t)
	for id := uint64(1); id <= 3; id++ {
		f.mustApply(t, regJournal(id))
	}
	// Node 2, the first replica after the leader, is dead already: recovery
	// must go to node 3.
	f.mustApply(t, setStatus(2, dead, 0))
	f.mustApply(t, createShard(DefaultTenant, "s", placement([]uint64{1, 2, 3}, 1, 2, 1)))
	f.mustApply(t, createShard(DefaultTenant, "other", placement([]uint64{2, 3}, 3, 1, 1)))

	w, err := f.hub.Subscribe(0, []placementpb.ResourceKind{
		placementpb.ResourceKind_RESOURCE_KIND_SEGMENT, placementpb.ResourceKind_RESOURCE_KIND_NODE}, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	deathIndex := f.next
	out := f.mustApply(t, setStatus(1, dead, 1))
	if n := out.Value.(*placementpb.ClusterNode); n.GetStatus() != dead || n.GetVersion() != deathIndex {
		t.Fatalf("node after death: %v", n)
	}
	seg, err := f.GetSegment(DefaultTenant, "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	if seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING || seg.GetEpoch() != 2 ||
		seg.GetRecoveryNode() != 3 || seg.GetVersion() != deathIndex {
		t.Fatalf("segment after leader death: %v", seg)
	}
	other, err := f.GetSegment(DefaultTenant, "other", 0)
	if err != nil || other.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN || other.GetEpoch() != 1 {
		t.Fatalf("segment led by a live node changed: %v, %v", other, err)
	}

	resp := nextResponse(t, w)
	if len(resp.GetEvents()) != 2 {
		t.Fatalf("events %v, want node and segment", resp.GetEvents())
	}
	nodeEv, segEv := resp.GetEvents()[0], resp.GetEvents()[1]
	if nodeEv.GetNode().GetStatus() != dead || nodeEv.GetRevision() != deathIndex {
		t.Fatalf("node event %v", nodeEv)
	}
	if segEv.GetType() != placementpb.EventType_EVENT_TYPE_PUT || segEv.GetRevision() != deathIndex ||
		!proto.Equal(segEv.GetSegment(), seg) {
		t.Fatalf("segment event %v, want %v", segEv, seg)
	}

	// The recovery node seals at the version it saw; a stale version loses.
	stale := f.apply(t, sealAndRoll(DefaultTenant, "s", 0, 42, 5, placement([]uint64{3}, 3, 1, 1)))[0]
	if vm, ok := rpcerr.AsVersionMismatch(stale.Err); !ok || vm.GetCurrentVersion() != deathIndex {
		t.Fatalf("stale seal: %v", stale.Err)
	}
	rolled := f.mustApply(t, sealAndRoll(DefaultTenant, "s", 0, 42, deathIndex, placement([]uint64{3}, 3, 1, 1)))
	r := rolled.Value.(*placementpb.SealAndRollResponse)
	if r.GetSealed().GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED || r.GetSealed().GetEndOffset() != 42 ||
		r.GetNext().GetStartOffset() != 42 || r.GetNext().GetSeq() != 1 {
		t.Fatalf("roll after recovery: %v", r)
	}
	again := f.apply(t, sealAndRoll(DefaultTenant, "s", 0, 42, deathIndex, placement([]uint64{3}, 3, 1, 1)))[0]
	if ss, ok := rpcerr.AsSegmentSealed(again.Err); !ok || ss.GetEndOffset() != 42 {
		t.Fatalf("repeated seal: %v", again.Err)
	}
}

// TestRecoveryNodeReassigned: a RECOVERING segment whose recovery node is
// missing (every replica was down when its leader died) or dies gets the
// first live replica as recovery node when one registers or comes back.
func TestRecoveryNodeReassigned(t *testing.T) {
	f := newTestFSM(t)
	for id := uint64(1); id <= 3; id++ {
		f.mustApply(t, regJournal(id))
	}
	f.mustApply(t, createShard(DefaultTenant, "s", placement([]uint64{1, 2, 3}, 1, 2, 1)))
	// Everything goes down; the leader is declared dead last.
	f.mustApply(t, setStatus(2, dead, 0))
	f.mustApply(t, setStatus(3, dead, 0))
	f.mustApply(t, setStatus(1, dead, 0))
	seg, err := f.GetSegment(DefaultTenant, "s", 0)
	if err != nil || seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING || seg.GetRecoveryNode() != 0 {
		t.Fatalf("after total outage: %v, %v", seg, err)
	}
	// Node 3 registers again: it is a replica, so it now drives recovery.
	at := f.next
	f.mustApply(t, regJournal(3))
	seg, _ = f.GetSegment(DefaultTenant, "s", 0)
	if seg.GetRecoveryNode() != 3 || seg.GetVersion() != at || seg.GetEpoch() != 2 {
		t.Fatalf("after node 3 returned: %v (want recovery node 3, version %d, epoch 2)", seg, at)
	}
	// Node 2 comes back through SetNodeStatus: recovery stays with 3.
	f.mustApply(t, setStatus(2, alive, 0))
	if seg2, _ := f.GetSegment(DefaultTenant, "s", 0); seg2.GetRecoveryNode() != 3 || seg2.GetVersion() != at {
		t.Fatalf("a live recovery node was replaced: %v", seg2)
	}
	// The recovery node dies: the recovery moves to node 2.
	at = f.next
	f.mustApply(t, setStatus(3, dead, 0))
	if seg3, _ := f.GetSegment(DefaultTenant, "s", 0); seg3.GetRecoveryNode() != 2 || seg3.GetVersion() != at {
		t.Fatalf("after the recovery node died: %v", seg3)
	}
}

func TestRecoveryWithoutLiveReplica(t *testing.T) {
	f := newTestFSM(t)
	f.mustApply(t, regJournal(1))
	f.mustApply(t, regNode(2, broker, "127.0.0.1:1")) // a broker is never a recovery node
	f.mustApply(t, createShard(DefaultTenant, "s", placement([]uint64{1, 2}, 1, 1, 1)))
	f.mustApply(t, setStatus(1, dead, 0))
	seg, err := f.GetSegment(DefaultTenant, "s", 0)
	if err != nil || seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING || seg.GetRecoveryNode() != 0 {
		t.Fatalf("segment %v, %v", seg, err)
	}
	// A broker's death touches no segment.
	f.mustApply(t, createShard(DefaultTenant, "b", placement([]uint64{2}, 2, 1, 1)))
	f.mustApply(t, setStatus(2, dead, 0))
	if seg, _ := f.GetSegment(DefaultTenant, "b", 0); seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN {
		t.Fatalf("broker death changed segment: %v", seg)
	}
}

func TestWatchEventsFollowChanges(t *testing.T) {
	f := newTestFSM(t)
	w, err := f.hub.Subscribe(1, nil, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p := placement([]uint64{1}, 1, 1, 1)
	// One batch: entries 1..4, then a nil entry at 5 and a rejected one at 6.
	f.apply(t, putKV("k", "v", nil), createShard(DefaultTenant, "s", p),
		sealAndRoll(DefaultTenant, "s", 0, 5, 2, p), deleteShard(DefaultTenant, "s"), nil, delKV("missing", nil))
	type ev struct {
		rev  uint64
		typ  placementpb.EventType
		kind placementpb.ResourceKind
	}
	put, del := placementpb.EventType_EVENT_TYPE_PUT, placementpb.EventType_EVENT_TYPE_DELETE
	kv, shard, seg := placementpb.ResourceKind_RESOURCE_KIND_KV, placementpb.ResourceKind_RESOURCE_KIND_SHARD,
		placementpb.ResourceKind_RESOURCE_KIND_SEGMENT
	want := []ev{
		{1, put, kv}, {2, put, shard}, {2, put, seg},
		{3, put, seg}, {3, put, seg}, {3, put, shard},
		{4, del, seg}, {4, del, seg}, {4, del, shard},
	}
	resp := nextResponse(t, w)
	if resp.GetRevision() != 6 || len(resp.GetEvents()) != len(want) {
		t.Fatalf("response at %d with %d events, want 6 and %d", resp.GetRevision(), len(resp.GetEvents()), len(want))
	}
	for i, e := range resp.GetEvents() {
		if (ev{e.GetRevision(), e.GetType(), e.GetKind()}) != want[i] {
			t.Fatalf("event %d = %v, want %v", i, e, want[i])
		}
	}
	// DELETE carries the last stored object.
	last := resp.GetEvents()[8].GetShard()
	if last.GetName() != "s" || last.GetActiveSegment() != 1 || last.GetVersion() != 3 {
		t.Fatalf("deleted shard event carries %v", last)
	}
	if f.AppliedIndex() != 6 {
		t.Fatalf("applied index %d, want 6", f.AppliedIndex())
	}
}

func TestDefaultTenantAlwaysPresent(t *testing.T) {
	f := newTestFSM(t)
	tenants, err := f.ListTenants()
	if err != nil || len(tenants) != 1 || !proto.Equal(tenants[0], &placementpb.Tenant{Name: DefaultTenant}) {
		t.Fatalf("ListTenants on a fresh FSM = %v, %v", tenants, err)
	}
	f.mustApply(t, createTenant("t1"))
	tenants, _ = f.ListTenants()
	if len(tenants) != 2 || tenants[0].GetName() != DefaultTenant || tenants[1].GetName() != "t1" {
		t.Fatalf("ListTenants = %v", tenants)
	}
	// Two fresh members hold byte-identical state.
	g := newTestFSM(t)
	if d := diffDumps(dumpState(t, newTestFSM(t).FSM), dumpState(t, g.FSM)); d != "" {
		t.Fatal(d)
	}
}

func TestReadsReturnFreshMessages(t *testing.T) {
	f := newTestFSM(t)
	f.mustApply(t, putKV("k", "v", nil))
	a, _ := f.GetKV("k")
	a.Value[0] = 'x'
	a.Version = 99
	b, _ := f.GetKV("k")
	if string(b.GetValue()) != "v" || b.GetVersion() != 1 {
		t.Fatalf("mutating a returned message changed the state: %v", b)
	}
}

func TestListFilters(t *testing.T) {
	f := newTestFSM(t)
	p := placement([]uint64{1}, 1, 1, 1)
	f.mustApply(t, regJournal(1))
	f.mustApply(t, regNode(2, broker, "127.0.0.1:2"))
	f.mustApply(t, createTenant("t1"))
	for _, c := range []*placementpb.Command{
		createShard(DefaultTenant, "orders-0", p), createShard(DefaultTenant, "orders-1", p),
		createShard(DefaultTenant, "pay", p), createShard("t1", "orders-0", p),
		putKV("a/1", "", nil), putKV("a/2", "", nil), putKV("a/3", "", nil), putKV("b", "", nil),
	} {
		f.mustApply(t, c)
	}
	tests := []struct {
		name string
		got  func() (int, error)
		want int
	}{
		{"all nodes", func() (int, error) {
			n, err := f.ListNodes(placementpb.NodeKind_NODE_KIND_UNSPECIFIED)
			return len(n), err
		}, 2},
		{"brokers", func() (int, error) { n, err := f.ListNodes(broker); return len(n), err }, 1},
		{"shards of default by prefix", func() (int, error) { s, err := f.ListShards(DefaultTenant, "orders-"); return len(s), err }, 2},
		{"shards of all tenants by prefix", func() (int, error) { s, err := f.ListShards("", "orders-"); return len(s), err }, 3},
		{"all shards", func() (int, error) { s, err := f.ListShards("", ""); return len(s), err }, 4},
		{"kv prefix", func() (int, error) { k, err := f.ListKV("a/", 0); return len(k), err }, 3},
		{"kv prefix with limit", func() (int, error) { k, err := f.ListKV("a/", 2); return len(k), err }, 2},
		{"all kv", func() (int, error) { k, err := f.ListKV("", -1); return len(k), err }, 4},
	}
	for _, tc := range tests {
		got, err := tc.got()
		if err != nil || got != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	if _, err := f.ListShards("t9", ""); status.Code(err) != codes.NotFound {
		t.Errorf("ListShards of missing tenant: %v", err)
	}
	if _, err := f.ListSegments(DefaultTenant, "nope"); status.Code(err) != codes.NotFound {
		t.Errorf("ListSegments of missing shard: %v", err)
	}
}

func TestEntriesAtOrBelowAppliedIndexAreSkipped(t *testing.T) {
	f := newTestFSM(t)
	f.mustApply(t, regJournal(1)) // index 1
	before := dumpState(t, f.FSM)
	out, err := f.Apply([]raftnode.Committed{{Index: 1, Cmd: regJournal(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if status.Code(out[0].Err) != codes.FailedPrecondition {
		t.Fatalf("replayed entry: %v", out[0].Err)
	}
	if d := diffDumps(before, dumpState(t, f.FSM)); d != "" {
		t.Fatalf("replayed entry changed state: %s", d)
	}
	// Entries without a command still advance the index.
	f.apply(t, nil, nil)
	if f.AppliedIndex() != 3 {
		t.Fatalf("applied index %d, want 3", f.AppliedIndex())
	}
}

func TestSnapshotRestoreAndCorruption(t *testing.T) {
	src := newTestFSM(t)
	src.mustApply(t, regJournal(1))
	src.mustApply(t, createTenant("t1"))
	src.mustApply(t, createACL("t1", "u"))
	src.mustApply(t, createShard("t1", "s", placement([]uint64{1}, 1, 1, 1)))
	data, index, err := src.Snapshot()
	if err != nil || index != 4 {
		t.Fatalf("Snapshot: index %d, %v", index, err)
	}

	dst := newTestFSM(t)
	dst.mustApply(t, putKV("stale", "x", nil))
	w, err := dst.hub.Subscribe(0, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	before := dumpState(t, dst.FSM)
	for _, corrupt := range [][]byte{
		nil,
		data[:len(data)-1],
		append(append([]byte(nil), data[:10]...), append([]byte{data[10] ^ 1}, data[11:]...)...),
	} {
		if err := dst.Restore(corrupt, index); err == nil {
			t.Fatal("Restore accepted a corrupt snapshot")
		}
	}
	if d := diffDumps(before, dumpState(t, dst.FSM)); d != "" {
		t.Fatalf("failed Restore changed state: %s", d)
	}

	if err := dst.Restore(data, index); err != nil {
		t.Fatal(err)
	}
	if dst.AppliedIndex() != 4 {
		t.Fatalf("applied index %d after restore", dst.AppliedIndex())
	}
	if d := diffDumps(dumpState(t, src.FSM), dumpState(t, dst.FSM)); d != "" {
		t.Fatalf("restored state differs: %s", d)
	}
	if resp := nextResponse(t, w); !resp.GetResync() || resp.GetRevision() != 4 {
		t.Fatalf("watcher after restore got %v, want resync at 4", resp)
	}
	if _, err := dst.GetKV("stale"); status.Code(err) != codes.NotFound {
		t.Fatalf("key from before restore survived: %v", err)
	}
	// The ACL counter travelled with the snapshot.
	dst.next = 5
	if r := dst.mustApply(t, createACL("t1", "v")).Value.(*placementpb.AclRule); r.GetId() != 2 {
		t.Fatalf("acl id %d after restore, want 2", r.GetId())
	}
}

func TestSyncCloseReopen(t *testing.T) {
	dir := t.TempDir()
	f := openTestFSM(t, dir)
	f.mustApply(t, putKV("k", "v", nil))
	f.mustApply(t, regJournal(1))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	want := dumpState(t, f.FSM)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g := openTestFSM(t, dir)
	defer g.Close()
	if g.AppliedIndex() != 2 || g.hub.Revision() != 2 {
		t.Fatalf("reopened at index %d, hub at %d", g.AppliedIndex(), g.hub.Revision())
	}
	if d := diffDumps(want, dumpState(t, g.FSM)); d != "" {
		t.Fatal(d)
	}
}

// TestConcurrentReadsSeeAppliedIndex checks the promise readers rely on:
// data read after AppliedIndex is at least as new as that index.
func TestConcurrentReadsSeeAppliedIndex(t *testing.T) {
	f := newTestFSM(t)
	f.mustApply(t, createShard(DefaultTenant, "s", placement([]uint64{1}, 1, 1, 1)))
	f.mustApply(t, putKV("k", "0", nil))
	const rounds = 300
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 8)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rev := f.AppliedIndex()
				kv, err := f.GetKV("k")
				if err != nil {
					errs <- err.Error()
					return
				}
				shard, segs, err := f.GetShardWithSegments(DefaultTenant, "s")
				if err != nil {
					errs <- err.Error()
					return
				}
				// Every batch ends by writing k; every other one also rolls the shard.
				if kv.GetVersion() < rev {
					errs <- fmt.Sprintf("read kv at version %d after applied index %d", kv.GetVersion(), rev)
					return
				}
				if len(segs) != int(shard.GetActiveSegment())+1 {
					errs <- fmt.Sprintf("shard %v with %d segments", shard, len(segs))
					return
				}
			}
		}()
	}
	seg := uint32(0)
	for i := range rounds {
		cmds := []*placementpb.Command{putKV("k", "v", nil)}
		if i%2 == 0 {
			s, err := f.GetSegment(DefaultTenant, "s", seg)
			if err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, sealAndRoll(DefaultTenant, "s", seg, uint64(i), s.GetVersion(), placement([]uint64{1}, 1, 1, 1)),
				putKV("k", "v", nil))
			seg++
		}
		for _, o := range f.apply(t, cmds...) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestJournalReRegistrationEndsLeadership: a journal node registering again
// (a restart, possibly before it was declared dead) loses every OPEN
// segment it leads: they go RECOVERING at epoch+1 in the registration's
// own entry, recovered by the first live replica (the restarted node
// itself when it is first). Re-registration of a node that leads nothing,
// and a first registration, change no segment.
func TestJournalReRegistrationEndsLeadership(t *testing.T) {
	f := newTestFSM(t)
	for id := uint64(1); id <= 3; id++ {
		f.mustApply(t, regJournal(id))
	}
	f.mustApply(t, createShard(DefaultTenant, "a", placement([]uint64{1, 2, 3}, 1, 2, 1)))
	f.mustApply(t, createShard(DefaultTenant, "b", placement([]uint64{2, 1, 3}, 1, 2, 4)))
	f.mustApply(t, createShard(DefaultTenant, "c", placement([]uint64{1, 2, 3}, 2, 2, 1)))
	get := func(shard string) *placementpb.Segment {
		t.Helper()
		seg, err := f.GetSegment(DefaultTenant, shard, 0)
		if err != nil {
			t.Fatal(err)
		}
		return seg
	}
	before := map[string]*placementpb.Segment{"a": get("a"), "b": get("b"), "c": get("c")}

	// First registration of a new node: nothing changes.
	f.mustApply(t, regJournal(4))
	for name, seg := range before {
		if got := get(name); !proto.Equal(got, seg) {
			t.Fatalf("first registration of node 4 changed %s: %v -> %v", name, seg, got)
		}
	}
	// Re-registration of a node that leads nothing (3): nothing changes.
	f.mustApply(t, regJournal(3))
	for name, seg := range before {
		if got := get(name); !proto.Equal(got, seg) {
			t.Fatalf("re-registration of non-leader 3 changed %s: %v -> %v", name, seg, got)
		}
	}
	// Re-registration of node 1, still ALIVE (restarted before any probe
	// or lease noticed): its open segments go RECOVERING at epoch+1.
	at := f.next
	out := f.mustApply(t, regJournal(1))
	if n := out.Value.(*placementpb.ClusterNode); n.GetIncarnation() != 2 || n.GetVersion() != at {
		t.Fatalf("node 1 after re-registration: %v", n)
	}
	a, b, c := get("a"), get("b"), get("c")
	if a.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING || a.GetEpoch() != 2 ||
		a.GetRecoveryNode() != 1 || a.GetVersion() != at || a.GetLeader() != 1 {
		t.Fatalf("segment a (led by 1, first replica 1) after re-registration: %v", a)
	}
	if b.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING || b.GetEpoch() != 5 ||
		b.GetRecoveryNode() != 2 || b.GetVersion() != at {
		t.Fatalf("segment b (led by 1, first replica 2) after re-registration: %v", b)
	}
	if !proto.Equal(c, before["c"]) {
		t.Fatalf("segment c, led by 2, changed: %v -> %v", before["c"], c)
	}
	// Registering once more: the segments are no longer OPEN, nothing
	// moves again.
	f.mustApply(t, regJournal(1))
	if got := get("a"); !proto.Equal(got, a) {
		t.Fatalf("second re-registration changed a: %v -> %v", a, got)
	}
}
