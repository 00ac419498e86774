package server

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// TestRestartedLeaderWaitsForRegistration: leaders replicate before their
// own fsync, so a restarted journal process must not append at an epoch
// its previous process led (the crash may have lost a tail the followers
// hold and acknowledged). With AwaitRegistration (the journal server's
// setting) the restarted leader answers Unavailable and writes nothing
// while it is unregistered, and while the metadata it sees still shows
// the old leadership OPEN at a version not above its registration's (the
// placement update its registration made, old epoch -> RECOVERING at
// epoch+1, not yet in its cache). It leads again only a segment placed
// after the registration, and acknowledged data survives throughout.
func TestRestartedLeaderWaitsForRegistration(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	n1 := c.nodes[1]
	a := openAppend(t, dial(t, n1.addr))
	var acked uint64
	for i := range 5 {
		acked = a.mustDo(seg, batch("before"+string(rune('a'+i)), 10)).GetNextOffset()
	}

	// Restart node 1 (same data dir and port) as the journal server runs it.
	n1.stop()
	n1.awaitReg = true
	n1.start()
	cl := dial(t, n1.addr)
	a = openAppend(t, cl)
	logEnd := func() uint64 {
		t.Helper()
		d, err := describe(t, cl, seg)
		if err != nil {
			t.Fatal(err)
		}
		return d.GetLogEnd()
	}
	refused := func(what string) {
		t.Helper()
		resp := a.do(seg, batch("refused", 3))
		if err := rpcerr.FromProto(resp.GetError()); status.Code(err) != codes.Unavailable {
			t.Fatalf("%s: append answered %v (%v), want Unavailable", what, resp, err)
		}
		time.Sleep(150 * time.Millisecond) // a few manager checks
		if got := logEnd(); got != acked {
			t.Fatalf("%s: local log end %d, want %d (nothing appended)", what, got, acked)
		}
	}
	refused("before registration")

	// Registered (at a placement version above the segment's), but the
	// metadata still shows the old leadership OPEN: a stale view.
	c.meta.mu.Lock()
	c.meta.version++
	reg := c.meta.version
	c.meta.mu.Unlock()
	n1.mgr.SetRegistered(reg)
	refused("registered, metadata from before the registration")

	// The registration's own entry moved the segment to RECOVERING at
	// epoch 2: Fenced. Then (standing in for recovery and a roll) the
	// segment is handed to node 1 again at epoch 2 by a later entry: it
	// leads it and takes appends at the new epoch only.
	c.meta.mu.Lock()
	cur := c.meta.segments[segKey("default", "s", 0)]
	cur.Status, cur.Epoch, cur.Version = placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING, 2, reg
	c.meta.changed()
	c.meta.mu.Unlock()
	resp := a.do(seg, batch("fenced", 3))
	if _, ok := rpcerr.AsFenced(rpcerr.FromProto(resp.GetError())); !ok {
		t.Fatalf("RECOVERING: append answered %v, want Fenced", resp)
	}
	c.meta.mu.Lock()
	c.meta.version++
	cur.Status, cur.Version = placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, c.meta.version
	seg2 := proto.Clone(cur).(*placementpb.Segment)
	c.meta.changed()
	c.meta.mu.Unlock()
	resp = a.do(seg, batch("old epoch", 3))
	if _, ok := rpcerr.AsFenced(rpcerr.FromProto(resp.GetError())); !ok {
		t.Fatalf("epoch 1 append at epoch 2: %v, want Fenced", resp)
	}
	r := a.mustDo(seg2, batch("after", 3))
	if r.GetFirstOffset() != acked {
		t.Fatalf("first append at epoch 2 at %d, want %d", r.GetFirstOffset(), acked)
	}
	// Every batch acknowledged before the restart is still there.
	d, err := describe(t, dial(t, c.nodes[2].addr), seg2)
	if err != nil || d.GetLogEnd() < acked {
		t.Fatalf("follower 2: %v, %v (want log end >= %d)", d, err, acked)
	}
}
