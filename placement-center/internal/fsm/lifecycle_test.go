package fsm

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func deleteSegments(tenant, shard string, upTo uint32, expected *uint64) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_DeleteSegments{DeleteSegments: &placementpb.DeleteSegmentsCmd{
		Tenant: tenant, Shard: shard, UpToSeq: upTo, ExpectedVersion: expected,
	}}}
}

// rollN seals the active segment of shard n times, each segment 10 offsets
// long, on placement p.
func rollN(t *testing.T, f *testFSM, shard string, n int, p *placementpb.Segment) {
	t.Helper()
	for range n {
		sh, err := f.GetShard(DefaultTenant, shard)
		if err != nil {
			t.Fatal(err)
		}
		seg, err := f.GetSegment(DefaultTenant, shard, sh.GetActiveSegment())
		if err != nil {
			t.Fatal(err)
		}
		f.mustApply(t, sealAndRoll(DefaultTenant, shard, seg.GetSeq(), seg.GetStartOffset()+10, seg.GetVersion(), p))
	}
}

func seqs(segs []*placementpb.Segment) []uint32 {
	var out []uint32
	for _, s := range segs {
		out = append(out, s.GetSeq())
	}
	return out
}

func TestDeleteSegments(t *testing.T) {
	f := newTestFSM(t)
	for id := uint64(1); id <= 3; id++ {
		f.mustApply(t, regJournal(id))
	}
	p := placement([]uint64{1, 2, 3}, 1, 2, 1)
	f.mustApply(t, createShard(DefaultTenant, "s", p))
	f.mustApply(t, createShard(DefaultTenant, "s/x", p)) // segment keys of "s/x" must stay
	rollN(t, f, "s", 4, p)                               // seqs 0..3 sealed, 4 open at 40

	w, err := f.hub.Subscribe(0, nil, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	sh, _ := f.GetShard(DefaultTenant, "s")
	stale := f.apply(t, deleteSegments(DefaultTenant, "s", 2, ver(sh.GetVersion()-1)))[0]
	if vm, ok := rpcerr.AsVersionMismatch(stale.Err); !ok || vm.GetCurrentVersion() != sh.GetVersion() {
		t.Fatalf("stale version: %v", stale.Err)
	}
	idx := f.next
	out := f.mustApply(t, deleteSegments(DefaultTenant, "s", 2, ver(sh.GetVersion())))
	resp := out.Value.(*placementpb.DeleteSegmentsResponse)
	if !slices.Equal(seqs(resp.GetDeleted()), []uint32{0, 1}) || resp.GetShard().GetFirstSegment() != 2 ||
		resp.GetShard().GetFirstOffset() != 20 || resp.GetShard().GetVersion() != idx {
		t.Fatalf("delete below 2: %v", resp)
	}
	segs, err := f.ListSegments(DefaultTenant, "s")
	if err != nil || !slices.Equal(seqs(segs), []uint32{2, 3, 4}) {
		t.Fatalf("segments left %v, %v", seqs(segs), err)
	}
	if other, _ := f.ListSegments(DefaultTenant, "s/x"); len(other) != 1 {
		t.Fatalf("segments of s/x: %v", other)
	}
	// The watch sees two DELETEs and the shard's PUT, all at one revision.
	ev := nextResponse(t, w).GetEvents()
	if len(ev) != 3 || ev[0].GetType() != placementpb.EventType_EVENT_TYPE_DELETE || ev[0].GetSegment().GetSeq() != 0 ||
		ev[1].GetType() != placementpb.EventType_EVENT_TYPE_DELETE || ev[1].GetSegment().GetSeq() != 1 ||
		ev[2].GetShard().GetFirstOffset() != 20 || ev[2].GetRevision() != idx {
		t.Fatalf("events %v", ev)
	}

	// Repeating (unconditionally) is a no-op that still succeeds.
	again := f.mustApply(t, deleteSegments(DefaultTenant, "s", 2, nil)).Value.(*placementpb.DeleteSegmentsResponse)
	if len(again.GetDeleted()) != 0 || again.GetShard().GetVersion() != idx {
		t.Fatalf("repeat: %v", again)
	}

	// The open segment is never deleted; nothing changes.
	for _, upTo := range []uint32{5, 9} {
		res := f.apply(t, deleteSegments(DefaultTenant, "s", upTo, nil))[0]
		d, ok := rpcerr.Detail[*placementpb.SegmentNotSealed](res.Err)
		if status.Code(res.Err) != codes.FailedPrecondition || !ok || d.GetSeq() != 4 ||
			d.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN {
			t.Fatalf("delete up to %d: %v", upTo, res.Err)
		}
	}
	if segs, _ := f.ListSegments(DefaultTenant, "s"); len(segs) != 3 {
		t.Fatalf("refused delete changed segments: %v", seqs(segs))
	}
	// Up to the open one: every sealed segment goes.
	f.mustApply(t, deleteSegments(DefaultTenant, "s", 4, nil))
	sh, _ = f.GetShard(DefaultTenant, "s")
	if segs, _ := f.ListSegments(DefaultTenant, "s"); !slices.Equal(seqs(segs), []uint32{4}) || sh.GetFirstOffset() != 40 || sh.GetActiveSegment() != 4 {
		t.Fatalf("after deleting every sealed segment: %v %v", seqs(segs), sh)
	}

	if res := f.apply(t, deleteSegments(DefaultTenant, "nope", 1, nil))[0]; status.Code(res.Err) != codes.NotFound {
		t.Fatalf("missing shard: %v", res.Err)
	}
}

func TestDeleteSegmentsRefusesARecoveringSegment(t *testing.T) {
	f := newTestFSM(t)
	for id := uint64(1); id <= 3; id++ {
		f.mustApply(t, regJournal(id))
	}
	f.mustApply(t, createShard(DefaultTenant, "s", placement([]uint64{1, 2, 3}, 1, 2, 1)))
	f.mustApply(t, setStatus(1, dead, 0)) // seq 0 RECOVERING
	res := f.apply(t, deleteSegments(DefaultTenant, "s", 1, nil))[0]
	if d, ok := rpcerr.Detail[*placementpb.SegmentNotSealed](res.Err); !ok || d.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING {
		t.Fatalf("delete of a recovering segment: %v", res.Err)
	}
}

func TestDeathReplicatesSealedSegmentsElsewhere(t *testing.T) {
	f := newTestFSM(t)
	for id := uint64(1); id <= 4; id++ {
		f.mustApply(t, regJournal(id))
	}
	p := placement([]uint64{1, 2, 3}, 2, 2, 1)
	f.mustApply(t, createShard(DefaultTenant, "s", p))
	rollN(t, f, "s", 2, p) // seqs 0, 1 sealed on 1,2,3 led by 2; seq 2 open
	f.mustApply(t, createShard(DefaultTenant, "other", placement([]uint64{1, 3, 4}, 1, 2, 1)))

	w, err := f.hub.Subscribe(0, []placementpb.ResourceKind{placementpb.ResourceKind_RESOURCE_KIND_SEGMENT}, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	before, _ := f.GetSegment(DefaultTenant, "s", 0)
	idx := f.next
	f.mustApply(t, setStatus(2, dead, 0))
	for seq := uint32(0); seq < 2; seq++ {
		seg, _ := f.GetSegment(DefaultTenant, "s", seq)
		// Node 4 is the only live journal not holding it; the leader
		// moves to the first surviving replica; nothing else changes.
		if !slices.Equal(seg.GetReplicas(), []uint64{1, 4, 3}) || seg.GetLeader() != 1 || seg.GetVersion() != idx ||
			seg.GetEpoch() != before.GetEpoch() || seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED ||
			seg.GetEndOffset() != uint64(seq+1)*10 {
			t.Fatalf("seq %d after its replica died: %v", seq, seg)
		}
	}
	// The open segment led by 2 is recovering, its replicas unchanged.
	open, _ := f.GetSegment(DefaultTenant, "s", 2)
	if open.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING || !slices.Equal(open.GetReplicas(), []uint64{1, 2, 3}) {
		t.Fatalf("open segment: %v", open)
	}
	if other, _ := f.GetSegment(DefaultTenant, "other", 0); other.GetVersion() >= idx {
		t.Fatalf("unrelated segment changed: %v", other)
	}
	if ev := nextResponse(t, w).GetEvents(); len(ev) != 3 {
		t.Fatalf("events: %v", ev)
	}

	// Recovery seals seq 2 excluding the dead leader: the sealed segment
	// gets node 4 instead of 2 in the same entry.
	f.mustApply(t, sealAndRoll(DefaultTenant, "s", 2, 25, open.GetVersion(), placement([]uint64{1, 3, 4}, 3, 2, 3)))
	sealed, _ := f.GetSegment(DefaultTenant, "s", 2)
	if !slices.Equal(sealed.GetReplicas(), []uint64{1, 4, 3}) || sealed.GetEndOffset() != 25 {
		t.Fatalf("recovered segment: %v", sealed)
	}

	// Replaying the death changes nothing more.
	snapshot := dumpState(t, f.FSM)
	f.mustApply(t, setStatus(2, dead, 0))
	if d := diffDumps(snapshot, dumpState(t, f.FSM), keyAppliedIndex); d != "" {
		t.Fatalf("repeated death changed the state: %s", d)
	}
}

func TestRereplicationWaitsForASpareNode(t *testing.T) {
	f := newTestFSM(t)
	for id := uint64(1); id <= 3; id++ {
		f.mustApply(t, regJournal(id))
	}
	p := placement([]uint64{1, 2, 3}, 1, 2, 1)
	f.mustApply(t, createShard(DefaultTenant, "s", p))
	rollN(t, f, "s", 1, p)
	f.mustApply(t, setStatus(3, dead, 0))
	seg, _ := f.GetSegment(DefaultTenant, "s", 0)
	if !slices.Equal(seg.GetReplicas(), []uint64{1, 2, 3}) {
		t.Fatalf("no spare, yet replicas changed: %v", seg)
	}
	// A broker is no spare.
	f.mustApply(t, regNode(9, broker, "h:9"))
	if seg, _ = f.GetSegment(DefaultTenant, "s", 0); !slices.Equal(seg.GetReplicas(), []uint64{1, 2, 3}) {
		t.Fatalf("broker took a replica: %v", seg)
	}
	// A new journal node registering is.
	f.mustApply(t, regJournal(4))
	if seg, _ = f.GetSegment(DefaultTenant, "s", 0); !slices.Equal(seg.GetReplicas(), []uint64{1, 2, 4}) || seg.GetLeader() != 1 {
		t.Fatalf("after a spare registered: %v", seg)
	}
	// Node 3 coming back does not get it back (reconcile drops its copy).
	f.mustApply(t, regJournal(3))
	if seg, _ = f.GetSegment(DefaultTenant, "s", 0); !slices.Equal(seg.GetReplicas(), []uint64{1, 2, 4}) {
		t.Fatalf("after node 3 returned: %v", seg)
	}
}

// TestDrainingJournalTakesNoNewReplicaButRecovers: a DRAINING journal node
// is no spare for re-replication, yet it drives the recovery of a segment
// whose only other surviving replica it is.
func TestDrainingJournalTakesNoNewReplicaButRecovers(t *testing.T) {
	f := newTestFSM(t)
	for id := uint64(1); id <= 4; id++ {
		f.mustApply(t, regJournal(id))
	}
	p := placement([]uint64{1, 2, 3}, 1, 2, 1)
	f.mustApply(t, createShard(DefaultTenant, "s", p))
	rollN(t, f, "s", 1, p) // seq 0 sealed on 1,2,3 led by 1; seq 1 open, same replicas
	f.mustApply(t, setStatusFrom(4, draining, alive, draining))
	f.mustApply(t, setStatusFrom(2, draining, alive, draining))

	// Node 3 dies: node 4, the only journal not holding seq 0, drains, so
	// seq 0 keeps its dead replica until a spare comes.
	f.mustApply(t, setStatus(3, dead, 0))
	if seg, _ := f.GetSegment(DefaultTenant, "s", 0); !slices.Equal(seg.GetReplicas(), []uint64{1, 2, 3}) {
		t.Fatalf("a draining node took a replica: %v", seg)
	}
	// The leader dies: the draining replica 2 is the one left to recover.
	f.mustApply(t, setStatus(1, dead, 0))
	open, _ := f.GetSegment(DefaultTenant, "s", 1)
	if open.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING || open.GetRecoveryNode() != 2 {
		t.Fatalf("recovery with a draining survivor: %v", open)
	}
	// Node 4 undrained is a spare again: seq 0 gets it for dead 3 and 1.
	f.mustApply(t, setStatusFrom(4, alive, draining, alive))
	seg, _ := f.GetSegment(DefaultTenant, "s", 0)
	if !slices.Contains(seg.GetReplicas(), 4) {
		t.Fatalf("undrained node is no spare: %v", seg)
	}
}
