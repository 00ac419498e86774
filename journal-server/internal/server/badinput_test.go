package server

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// storeSnapshot is every replica's state and batches on every node.
type storeSnapshot map[string]segmentLog

func snapshotStores(t *testing.T, c *cluster) storeSnapshot {
	t.Helper()
	out := storeSnapshot{}
	for id, n := range c.nodes {
		segs, err := n.store.ListSegments()
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range segs {
			out[fmt.Sprintf("node %d %s", id, st.ID)] = readLog(t, n.store, st.ID)
		}
	}
	return out
}

func (s storeSnapshot) diff(o storeSnapshot) string {
	for k, v := range s {
		w, ok := o[k]
		if !ok {
			return k + " gone"
		}
		if !v.same(w) || v.st.LAC != w.st.LAC {
			return fmt.Sprintf("%s: %+v -> %+v", k, v.st, w.st)
		}
	}
	for k := range o {
		if _, ok := s[k]; !ok {
			return k + " appeared"
		}
	}
	return ""
}

// TestBadInputLeavesStoresUnchanged sends what server_test's bad input
// test does not, through real clients, and checks every store on every
// node is unchanged after each (log end, LAC, bytes and batches): appends
// to a deleted stream and to an unknown segment seq, batches over each
// limit, a request over the gRPC limit, stale epochs (also on a
// follower's Replicate), a non-contiguous replicated batch, and reads and
// replica reads before the start or past the end of a segment.
func TestBadInputLeavesStoresUnchanged(t *testing.T) {
	c := newCluster(t, 3, testLimits{maxBatchBytes: 64 << 10, maxRequest: 256 << 10})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	gone := c.meta.addShard("gone", []uint64{1, 2, 3}, 2, nil)
	late := c.meta.addShard("late", []uint64{1}, 1, nil)
	// A segment that starts at 10 (as seq n > 0 does after a roll).
	c.meta.mu.Lock()
	c.meta.segments[segKey("default", "late", 0)].StartOffset = 10
	c.meta.mu.Unlock()
	late.StartOffset = 10

	cl := dial(t, c.nodes[1].addr)
	a := openAppend(t, cl)
	for i := 0; i < 3; i++ {
		a.mustDo(seg, batch(fmt.Sprint("s", i), 2))
		a.mustDo(gone, batch(fmt.Sprint("g", i), 1))
	}
	if r := a.mustDo(late, batch("l", 2)); r.GetFirstOffset() != 10 {
		t.Fatalf("late segment starts at %d", r.GetFirstOffset())
	}
	// Wait until every replica holds everything, durably (a lazy
	// follower syncs within the leader's LazySyncInterval), with its LAC
	// at the end.
	eventually(t, 10*time.Second, "replicas settled", func() error {
		for id, n := range c.nodes {
			segs, err := n.store.ListSegments()
			if err != nil {
				return err
			}
			want := 2
			if id == 1 {
				want = 3
			}
			if len(segs) != want {
				return fmt.Errorf("node %d holds %d segments", id, len(segs))
			}
			for _, st := range segs {
				if st.LAC != st.LogEnd || st.DurableEnd != st.LogEnd || st.LogEnd == st.StartOffset {
					return fmt.Errorf("node %d %s: LAC %d durable end %d log end %d", id, st.ID, st.LAC, st.DurableEnd, st.LogEnd)
				}
			}
		}
		return nil
	})
	// The stream "gone" is deleted: its shard and segments leave placement
	// (the replicas stay until reconcile removes them).
	c.meta.mu.Lock()
	delete(c.meta.shards, "default/gone")
	delete(c.meta.segments, segKey("default", "gone", 0))
	c.meta.changed()
	c.meta.mu.Unlock()
	base := snapshotStores(t, c)
	unchanged := func(what string) {
		t.Helper()
		if d := base.diff(snapshotStores(t, c)); d != "" {
			t.Fatalf("%s changed a store: %s", what, d)
		}
	}

	manyHeaders := recordbatch.Record{Value: []byte("v")}
	for i := 0; i < recordbatch.DefaultLimits().MaxHeadersPerRecord+1; i++ {
		manyHeaders.Headers = append(manyHeaders.Headers, recordbatch.RecordHeader{Key: "h"})
	}
	manyRecords := recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1}}
	for i := 0; i < 1001; i++ { // the harness's MaxBatchRecords is 1000
		manyRecords.Records = append(manyRecords.Records, recordbatch.Record{})
	}
	appends := []struct {
		name  string
		seg   *placementpb.Segment
		epoch uint64
		batch []byte
		code  codes.Code
	}{
		{"deleted stream", gone, gone.GetEpoch(), batch("g", 1), codes.NotFound},
		{"unknown seq", &placementpb.Segment{Tenant: "default", Shard: "s", Seq: 7}, 1, batch("u", 1), codes.NotFound},
		{"unknown tenant", &placementpb.Segment{Tenant: "nobody", Shard: "s"}, 1, batch("u", 1), codes.NotFound},
		{"over max_batch_bytes", seg, 1, recordbatch.Encode(recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1},
			Records: []recordbatch.Record{{Value: make([]byte, 65<<10)}}}), codes.ResourceExhausted},
		{"over max_batch_records", seg, 1, recordbatch.Encode(manyRecords), codes.ResourceExhausted},
		{"over max_headers_per_record", seg, 1, recordbatch.Encode(recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1},
			Records: []recordbatch.Record{manyHeaders}}), codes.ResourceExhausted},
		{"stale epoch", seg, 0, batch("e", 1), codes.FailedPrecondition},
		{"epoch from the future", seg, 2, batch("e", 1), codes.Unavailable},
	}
	for _, tc := range appends {
		a.send(tc.seg, tc.epoch, tc.batch)
		err := rpcerr.FromProto(a.recv().GetError())
		if status.Code(err) != tc.code {
			t.Fatalf("%s: got %v, want %v", tc.name, err, tc.code)
		}
		if tc.name == "stale epoch" {
			if f, ok := rpcerr.AsFenced(err); !ok || f.GetEpoch() != 1 {
				t.Fatalf("stale epoch: %v", err)
			}
		}
		if tc.code == codes.ResourceExhausted {
			if _, ok := rpcerr.Detail[*commonpb.ResourceExhausted](err); !ok {
				t.Fatalf("%s: no ResourceExhausted detail in %v", tc.name, err)
			}
		}
		unchanged(tc.name)
	}

	// Over the gRPC limit: that stream ends with ResourceExhausted.
	huge := openAppend(t, cl)
	_ = huge.stream.Send(&journalpb.AppendRequest{RequestId: 1, Segment: ref(seg), Epoch: 1, Batch: make([]byte, 300<<10)})
	if _, err := huge.stream.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("request over max_request_bytes: %v", err)
	}
	unchanged("request over max_request_bytes")

	// A follower refuses stale and non-contiguous replication.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := dial(t, c.nodes[2].addr).Replicate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := func(first, epoch uint64) []byte {
		b := batch("r", 1)
		if err := recordbatch.SetFirstOffsetAndEpoch(b, first, epoch); err != nil {
			t.Fatal(err)
		}
		return b
	}
	logEnd := base[fmt.Sprintf("node 2 %s", segstore.SegmentID{Tenant: "default", Shard: "s"})].st.LogEnd
	reps := []struct {
		name string
		req  *journalpb.ReplicateRequest
		code codes.Code
	}{
		{"stale epoch", &journalpb.ReplicateRequest{Segment: ref(seg), Epoch: 0, Batch: at(logEnd, 0), Lac: logEnd + 1}, codes.FailedPrecondition},
		{"stale epoch, LAC only", &journalpb.ReplicateRequest{Segment: ref(seg), Epoch: 0, Lac: logEnd + 1}, codes.FailedPrecondition},
		{"gap", &journalpb.ReplicateRequest{Segment: ref(seg), Epoch: 1, Batch: at(logEnd+5, 1), Lac: logEnd + 6}, codes.FailedPrecondition},
		{"overlap", &journalpb.ReplicateRequest{Segment: ref(seg), Epoch: 1, Batch: at(logEnd-1, 1), Lac: logEnd}, codes.FailedPrecondition},
		{"batch epoch above the sender's", &journalpb.ReplicateRequest{Segment: ref(seg), Epoch: 1, Batch: at(logEnd, 2)}, codes.InvalidArgument},
		{"garbage", &journalpb.ReplicateRequest{Segment: ref(seg), Epoch: 1, Batch: []byte("garbage")}, codes.InvalidArgument},
	}
	for _, tc := range reps {
		if err := rs.Send(tc.req); err != nil {
			t.Fatal(err)
		}
		resp, err := rs.Recv()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := rpcerr.FromProto(resp.GetError()); status.Code(err) != tc.code || resp.GetLogEnd() != logEnd {
			t.Fatalf("%s: got %v log end %d, want %v log end %d", tc.name, err, resp.GetLogEnd(), tc.code, logEnd)
		}
		unchanged("replicate: " + tc.name)
	}

	// Reads outside a replica: OutOfRange, for Read and ReadReplica.
	for _, r := range []struct {
		name string
		seg  *placementpb.Segment
		from uint64
	}{
		{"past the end", seg, 7},
		{"far past the end", seg, math.MaxUint64},
		{"before the start", late, 9},
		{"at 0 before the start", late, 0},
		{"past the end of a late segment", late, 13},
	} {
		for _, replica := range []bool{false, true} {
			got, err := readErr(t, cl, r.seg, r.from, replica)
			if status.Code(err) != codes.OutOfRange || len(got) != 0 {
				t.Fatalf("%s (replica=%v): got %v, %v; want OutOfRange", r.name, replica, got, err)
			}
		}
		unchanged("read " + r.name)
	}
	// The edges themselves are fine.
	if got, err := readErr(t, cl, late, 10, false); err != nil || len(got) != 1 {
		t.Fatalf("read at the start: %v %v", got, err)
	}
	if got, err := readErr(t, cl, late, 12, true); err != nil || len(got) != 0 {
		t.Fatalf("replica read at the log end: %v %v", got, err)
	}

	// The stream still works, and a batch carrying an offset of its own
	// is appended at the log end (the leader assigns offsets).
	r := a.mustDo(seg, storedCopy(t, c, seg))
	if r.GetFirstOffset() != 6 {
		t.Fatalf("append after the bad input at %d, want 6", r.GetFirstOffset())
	}
}

// storedCopy returns a copy of the first stored batch of seg on node 1:
// a batch with its offset and epoch already set.
func storedCopy(t *testing.T, c *cluster, seg *placementpb.Segment) []byte {
	t.Helper()
	got, err := c.nodes[1].store.Read(segstore.SegmentID{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}, seg.GetStartOffset(), 1, math.MaxUint64)
	if err != nil || len(got) == 0 {
		t.Fatalf("read stored batch: %v", err)
	}
	return bytes.Clone(got[0].Data)
}
