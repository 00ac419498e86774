package replication

import (
	"testing"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// TestApplyGroupReportsDurableEnds: a group of Replicate requests is
// applied in order with one response each, and every log end it reports
// is durable when the responses are returned (the leader counts them in
// the LAC); a request out of order inside the group is answered
// NotContiguous with the durable log end, and the group's highest LAC is
// applied once.
func TestApplyGroupReportsDurableEnds(t *testing.T) {
	store, err := segstore.Open(t.TempDir(), segstore.Options{CacheBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	f := NewFollower(store, NewChanges())
	const epoch = 2
	ref := &journalpb.SegmentRef{Tenant: "t", Shard: "s/0", Seq: 0}
	req := func(batch []byte, lacV uint64) *journalpb.ReplicateRequest {
		return &journalpb.ReplicateRequest{Segment: ref, Epoch: epoch, Batch: batch, Lac: lacV, StartOffset: 10}
	}
	reqs := []*journalpb.ReplicateRequest{
		req(nil, 10),
		req(storedBatch('a', 2, 10, epoch), 10),
		req(storedBatch('b', 3, 12, epoch), 12),
		req(storedBatch('x', 1, 40, epoch), 12), // a gap
		req(storedBatch('c', 1, 15, epoch), 15),
	}
	resps := f.ApplyGroup(reqs)
	if len(resps) != len(reqs) {
		t.Fatalf("%d responses for %d requests", len(resps), len(reqs))
	}
	want := []uint64{10, 12, 15, 15, 16}
	for i, r := range resps {
		if r.GetLogEnd() != want[i] {
			t.Fatalf("response %d: log end %d, want %d (%v)", i, r.GetLogEnd(), want[i], r.GetError())
		}
		if gotErr := rpcerr.FromProto(r.GetError()) != nil; gotErr != (i == 3) {
			t.Fatalf("response %d: error %v", i, r.GetError())
		}
	}
	id, _ := SegmentID(ref)
	st, err := store.Describe(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.LogEnd != 16 || st.DurableEnd != 16 || st.LAC != 15 {
		t.Fatalf("replica after the group: %+v", st)
	}
}
