package server

import (
	"context"
	"errors"
	"fmt"
	"io"
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

func describe(t *testing.T, cl journalpb.JournalServiceClient, seg *placementpb.Segment) (*journalpb.DescribeResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.Describe(ctx, &journalpb.DescribeRequest{Segment: ref(seg)})
}

// readAll reads a segment without follow and returns its batch headers.
func readAll(t *testing.T, cl journalpb.JournalServiceClient, seg *placementpb.Segment, from uint64) ([]recordbatch.Header, *journalpb.ReadResponse) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := cl.Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), FromOffset: from, MaxBytes: 512})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	var hs []recordbatch.Header
	var last *journalpb.ReadResponse
	for i := 0; i < 10000; i++ {
		resp, err := s.Recv()
		if err == io.EOF {
			return hs, last
		}
		if err != nil {
			t.Fatalf("Read recv: %v", err)
		}
		last = resp
		for _, b := range resp.GetBatches() {
			b, err := recordbatch.Decode(b, recordbatch.Limits{})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			hs = append(hs, b.Header)
		}
	}
	t.Fatal("read did not end")
	return nil, nil
}

func TestAppendReplicatesAndAcksInOrder(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	a := openAppend(t, dial(t, c.nodes[1].addr))
	const n = 20
	for i := 0; i < n; i++ {
		a.send(seg, seg.GetEpoch(), batch(fmt.Sprintf("b%d", i), 3))
	}
	for i := 0; i < n; i++ {
		resp := a.recv()
		if err := rpcerr.FromProto(resp.GetError()); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if resp.GetRequestId() != uint64(i+1) || resp.GetFirstOffset() != uint64(3*i) || resp.GetNextOffset() != uint64(3*i+3) {
			t.Fatalf("response %d = %v", i, resp)
		}
	}
	// The leader serves everything acked.
	hs, last := readAll(t, dial(t, c.nodes[1].addr), seg, 0)
	if len(hs) != n || last.GetLac() != 3*n {
		t.Fatalf("leader read %d batches, lac %d", len(hs), last.GetLac())
	}
	// Every follower gets every batch and, by piggyback, the LAC.
	for _, id := range []uint64{2, 3} {
		cl := dial(t, c.nodes[id].addr)
		eventually(t, 5*time.Second, fmt.Sprintf("follower %d caught up", id), func() error {
			d, err := describe(t, cl, seg)
			if err != nil {
				return err
			}
			if d.GetLogEnd() != 3*n || d.GetLac() != 3*n {
				return fmt.Errorf("log end %d lac %d", d.GetLogEnd(), d.GetLac())
			}
			return nil
		})
		if hs, _ := readAll(t, cl, seg, 0); len(hs) != n {
			t.Fatalf("follower %d read %d batches", id, len(hs))
		}
	}
}

func TestReadsBoundedByLACAndFollowerCatchUp(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 3, nil) // every replica must confirm
	leader := dial(t, c.nodes[1].addr)
	a := openAppend(t, leader)
	a.mustDo(seg, batch("first", 2))

	c.nodes[3].stop() // still ALIVE in placement: no early seal
	a.send(seg, seg.GetEpoch(), batch("second", 2))
	time.Sleep(300 * time.Millisecond)
	d, err := describe(t, leader, seg)
	if err != nil {
		t.Fatal(err)
	}
	if d.GetLogEnd() != 4 || d.GetLac() != 2 {
		t.Fatalf("leader log end %d lac %d, want 4 and 2", d.GetLogEnd(), d.GetLac())
	}
	if hs, last := readAll(t, leader, seg, 0); len(hs) != 1 || last.GetLac() != 2 {
		t.Fatalf("read past the LAC: %d batches, lac %d", len(hs), last.GetLac())
	}
	if hs, _ := readAll(t, leader, seg, 2); len(hs) != 0 {
		t.Fatalf("read at LAC returned %d batches", len(hs))
	}

	c.nodes[3].start()
	resp := a.recv()
	if err := rpcerr.FromProto(resp.GetError()); err != nil || resp.GetFirstOffset() != 2 || resp.GetNextOffset() != 4 {
		t.Fatalf("second append after the follower came back: %v %v", resp, err)
	}
	eventually(t, 5*time.Second, "restarted follower caught up", func() error {
		d, err := describe(t, dial(t, c.nodes[3].addr), seg)
		if err != nil {
			return err
		}
		if d.GetLogEnd() != 4 || d.GetLac() != 4 {
			return fmt.Errorf("log end %d lac %d", d.GetLogEnd(), d.GetLac())
		}
		return nil
	})
}

func TestWritesContinueWithOneFollowerDown(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	a := openAppend(t, dial(t, c.nodes[1].addr))
	a.mustDo(seg, batch("x", 1))
	c.nodes[2].stop()
	for i := 0; i < 30; i++ {
		resp := a.mustDo(seg, batch("y", 2))
		if resp.GetFirstOffset() != uint64(1+2*i) {
			t.Fatalf("append %d at %d", i, resp.GetFirstOffset())
		}
	}
	c.nodes[2].start()
	a.mustDo(seg, batch("z", 1))
	eventually(t, 10*time.Second, "follower 2 caught up from its log end", func() error {
		d, err := describe(t, dial(t, c.nodes[2].addr), seg)
		if err != nil {
			return err
		}
		if d.GetLogEnd() != 62 {
			return fmt.Errorf("log end %d, want 62", d.GetLogEnd())
		}
		return nil
	})
	if hs, _ := readAll(t, dial(t, c.nodes[2].addr), seg, 0); len(hs) != 32 {
		t.Fatalf("follower 2 holds %d batches", len(hs))
	}
}

// TestLazyFollowerSyncsWhenTheQuorumNeedsIt: with replicas 3 and ack
// quorum 2 the second follower in replica order is lazy. With an interval
// too long to ever run out in the test it holds every batch unsynced while
// the leader and the first follower ack them; once the first follower is
// down its copy is needed, so it syncs before it answers and every ack
// from then on is durable on it.
func TestLazyFollowerSyncsWhenTheQuorumNeedsIt(t *testing.T) {
	c := newCluster(t, 3, testLimits{lazySync: time.Hour})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	a := openAppend(t, dial(t, c.nodes[1].addr))
	var end uint64
	for i := 0; i < 5; i++ {
		end = a.mustDo(seg, batch("x", 2)).GetNextOffset()
	}
	id := segstore.SegmentID{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}
	eventually(t, 10*time.Second, "lazy follower 3 holds every batch", func() error {
		st, err := c.nodes[3].store.Describe(id)
		if err != nil {
			return err
		}
		if st.LogEnd != end {
			return fmt.Errorf("log end %d, want %d", st.LogEnd, end)
		}
		return nil
	})
	st, err := c.nodes[3].store.Describe(id)
	if err != nil {
		t.Fatal(err)
	}
	if st.DurableEnd >= st.LogEnd {
		t.Fatalf("follower 3 synced its batches although the quorum did not need them: %+v", st)
	}
	if st2, err := c.nodes[2].store.Describe(id); err != nil || st2.DurableEnd != end {
		t.Fatalf("eager follower 2: %+v, %v", st2, err)
	}

	c.nodes[2].stop()
	for i := 0; i < 5; i++ {
		end = a.mustDo(seg, batch("y", 2)).GetNextOffset()
		st, err := c.nodes[3].store.Describe(id)
		if err != nil {
			t.Fatal(err)
		}
		if st.DurableEnd < end {
			t.Fatalf("append acked at %d, follower 3 durable only to %d", end, st.DurableEnd)
		}
	}
}

func TestIdempotentProducer(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	a := openAppend(t, dial(t, c.nodes[1].addr))
	first := a.mustDo(seg, idemBatch("p", 3, 7, 1, 0))
	if first.GetDuplicate() || first.GetFirstOffset() != 0 || first.GetNextOffset() != 3 {
		t.Fatalf("first: %v", first)
	}
	dup := a.mustDo(seg, idemBatch("p", 3, 7, 1, 0))
	if !dup.GetDuplicate() || dup.GetFirstOffset() != 0 || dup.GetNextOffset() != 3 {
		t.Fatalf("retry: %v", dup)
	}
	if r := a.mustDo(seg, idemBatch("p", 2, 7, 1, 3)); r.GetDuplicate() || r.GetFirstOffset() != 3 {
		t.Fatalf("next sequence: %v", r)
	}
	// Out of order and stale epoch: typed errors, stream still usable.
	gap := a.do(seg, idemBatch("p", 1, 7, 1, 9))
	if d, ok := rpcerr.Detail[*commonpb.InvalidArgument](rpcerr.FromProto(gap.GetError())); !ok || d.GetField() != "base_sequence" {
		t.Fatalf("gap: %v", gap)
	}
	old := a.do(seg, idemBatch("p", 1, 7, 0, 5))
	if d, ok := rpcerr.Detail[*commonpb.InvalidArgument](rpcerr.FromProto(old.GetError())); !ok || d.GetField() != "producer_epoch" {
		t.Fatalf("old epoch: %v", old)
	}
	if r := a.mustDo(seg, idemBatch("p", 1, 7, 2, 0)); r.GetDuplicate() || r.GetFirstOffset() != 5 {
		t.Fatalf("new producer epoch: %v", r)
	}
	if hs, _ := readAll(t, dial(t, c.nodes[1].addr), seg, 0); len(hs) != 3 {
		t.Fatalf("%d batches stored, want 3", len(hs))
	}
}

func TestBadInputGetsTypedErrorsAndStreamStaysUsable(t *testing.T) {
	c := newCluster(t, 3, testLimits{maxBatchBytes: 64 << 10, maxRequest: 256 << 10})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	a := openAppend(t, dial(t, c.nodes[1].addr))
	good := func(want uint64) {
		t.Helper()
		if r := a.mustDo(seg, batch("ok", 1)); r.GetFirstOffset() != want {
			t.Fatalf("good append at %d, want %d", r.GetFirstOffset(), want)
		}
	}
	good(0)

	corrupt := batch("c", 2)
	corrupt[len(corrupt)-1] ^= 0xff
	big := recordbatch.Encode(recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1},
		Records: []recordbatch.Record{{Value: make([]byte, 100<<10)}}})
	cases := []struct {
		name  string
		seg   *placementpb.Segment
		epoch uint64
		batch []byte
		code  codes.Code
		check func(error) bool
	}{
		{"garbage", seg, 1, []byte("not a batch"), codes.InvalidArgument, nil},
		{"crc", seg, 1, corrupt, codes.InvalidArgument, nil},
		{"empty", seg, 1, nil, codes.InvalidArgument, nil},
		{"oversized", seg, 1, big, codes.ResourceExhausted, nil},
		{"old epoch", seg, 0, batch("e", 1), codes.FailedPrecondition, func(err error) bool {
			f, ok := rpcerr.AsFenced(err)
			return ok && f.GetEpoch() == 1
		}},
		{"unknown segment", &placementpb.Segment{Tenant: "default", Shard: "nope"}, 1, batch("u", 1), codes.NotFound, nil},
		{"no shard name", &placementpb.Segment{Tenant: "default"}, 1, batch("u", 1), codes.InvalidArgument, nil},
	}
	for _, tc := range cases {
		a.send(tc.seg, tc.epoch, tc.batch)
		err := rpcerr.FromProto(a.recv().GetError())
		if status.Code(err) != tc.code || (tc.check != nil && !tc.check(err)) {
			t.Fatalf("%s: got %v, want %v", tc.name, err, tc.code)
		}
	}
	good(1)

	// Wrong leader: node 2 answers NotLeader naming node 1 and its address.
	b := openAppend(t, dial(t, c.nodes[2].addr))
	err := rpcerr.FromProto(b.do(seg, batch("w", 1)).GetError())
	nl, ok := rpcerr.AsNotLeader(err)
	if !ok || nl.GetLeaderId() != 1 || nl.GetLeaderAddr() != c.nodes[1].addr {
		t.Fatalf("wrong leader: %v", err)
	}
	good(2)

	// A request over the gRPC limit ends that stream with ResourceExhausted;
	// the server stays up.
	huge := openAppend(t, dial(t, c.nodes[1].addr))
	_ = huge.stream.Send(&journalpb.AppendRequest{RequestId: 1, Segment: ref(seg), Epoch: 1, Batch: make([]byte, 512<<10)})
	if _, err := huge.stream.Recv(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("huge request: %v", err)
	}
	good(3)

	// Reads outside the replica: OutOfRange; unknown segment: NotFound.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl := dial(t, c.nodes[1].addr)
	s, _ := cl.Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), FromOffset: 100})
	if _, err := s.Recv(); status.Code(err) != codes.OutOfRange {
		t.Fatalf("read past the log end: %v", err)
	}
	s, _ = cl.Read(ctx, &journalpb.ReadRequest{Segment: &journalpb.SegmentRef{Tenant: "default", Shard: "nope"}})
	if _, err := s.Recv(); status.Code(err) != codes.NotFound {
		t.Fatalf("read of unknown segment: %v", err)
	}
}

func TestReadFollowLongPolls(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	a := openAppend(t, dial(t, c.nodes[1].addr))
	a.mustDo(seg, batch("a", 1))
	for _, id := range []uint64{1, 3} { // the leader and a follower
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		s, err := dial(t, c.nodes[id].addr).Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		got := uint64(0)
		want := got + 1
		for round := 0; round < 3; round++ {
			for got < want {
				resp, err := s.Recv()
				if err != nil {
					t.Fatalf("node %d follow: %v", id, err)
				}
				for _, b := range resp.GetBatches() {
					h, _ := recordbatch.DecodeHeader(b)
					if h.FirstOffset != got {
						t.Fatalf("node %d: batch at %d, want %d", id, h.FirstOffset, got)
					}
					got = h.NextOffset()
				}
			}
			r := a.mustDo(seg, batch("more", 2))
			want = r.GetNextOffset()
		}
		cancel()
	}
}

func TestEarlySealOnDeadReplicaAndSeededDuplicates(t *testing.T) {
	for _, remote := range []bool{false, true} {
		t.Run(fmt.Sprintf("seed_remote=%v", remote), func(t *testing.T) { testEarlySeal(t, remote) })
	}
}

// testEarlySeal: with remote, a fourth node that holds no replica of
// segment 0 leads segment 1 and seeds its producer table over ReadReplica.
func testEarlySeal(t *testing.T, remote bool) {
	nodes := 3
	if remote {
		nodes = 4
	}
	c := newCluster(t, nodes, testLimits{})
	c.meta.leaderLast = remote
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	leader := dial(t, c.nodes[1].addr)
	a := openAppend(t, leader)
	a.mustDo(seg, idemBatch("p", 2, 9, 0, 0))
	a.mustDo(seg, batch("plain", 3))

	// A reader following segment 0 on a follower.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	follow, err := dial(t, c.nodes[2].addr).Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), Follow: true})
	if err != nil {
		t.Fatal(err)
	}

	c.nodes[3].stop()
	c.meta.setNodeStatus(3, placementpb.NodeStatus_NODE_STATUS_DEAD)
	var next *placementpb.Segment
	eventually(t, 10*time.Second, "segment 1 opened by SealAndRoll", func() error {
		s, ok := c.meta.Segment("default", "s", 1)
		if !ok {
			return errors.New("no segment 1")
		}
		next = s
		return nil
	})
	sealed, _ := c.meta.Segment("default", "s", 0)
	if sealed.GetEndOffset() != 5 || sealed.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
		t.Fatalf("segment 0 = %v", sealed)
	}
	c.meta.mu.Lock()
	roll := c.meta.rolls[0]
	c.meta.mu.Unlock()
	if len(roll.GetExcludeNodes()) != 1 || roll.GetExcludeNodes()[0] != 3 {
		t.Fatalf("SealAndRoll excluded %v", roll.GetExcludeNodes())
	}

	// Appends to segment 0 now answer SegmentSealed{5}.
	err = rpcerr.FromProto(a.do(seg, batch("late", 1)).GetError())
	if s, ok := rpcerr.AsSegmentSealed(err); !ok || s.GetEndOffset() != 5 {
		t.Fatalf("append to sealed segment: %v", err)
	}
	// The follower's reader ends with sealed_end.
	var end *journalpb.ReadResponse
	for i := 0; i < 100; i++ {
		resp, err := follow.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("follow: %v", err)
		}
		if resp.GetSealed() {
			end = resp
		}
	}
	if end == nil || end.GetSealedEnd() != 5 {
		t.Fatalf("follow ended without sealed_end 5: %v", end)
	}

	// Segment 1 takes appends; the producer retry is recognised as a
	// duplicate of segment 0's batch (table seeded from segment 0).
	if next.GetStartOffset() != 5 || next.GetEpoch() != 2 || (remote && next.GetLeader() != 4) {
		t.Fatalf("segment 1 = %v", next)
	}
	b := openAppend(t, dial(t, c.nodes[next.GetLeader()].addr))
	dup := b.mustDo(next, idemBatch("p", 2, 9, 0, 0))
	if !dup.GetDuplicate() || dup.GetFirstOffset() != 0 || dup.GetNextOffset() != 2 {
		t.Fatalf("retry after the roll: %v", dup)
	}
	r := b.mustDo(next, idemBatch("p", 1, 9, 0, 2))
	if r.GetDuplicate() || r.GetFirstOffset() != 5 {
		t.Fatalf("next sequence in segment 1: %v", r)
	}
}

func TestRollOnSizeFromShardConfig(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, map[string]string{"segment.max_bytes": "600"})
	a := openAppend(t, dial(t, c.nodes[1].addr))
	var acked uint64
	var sealedErr error
	for i := 0; i < 200 && sealedErr == nil; i++ {
		resp := a.do(seg, batch("r", 4))
		if err := rpcerr.FromProto(resp.GetError()); err != nil {
			sealedErr = err
			break
		}
		acked = resp.GetNextOffset()
		time.Sleep(10 * time.Millisecond)
	}
	s, ok := rpcerr.AsSegmentSealed(sealedErr)
	if !ok || s.GetEndOffset() != acked {
		t.Fatalf("roll: %v after acked %d", sealedErr, acked)
	}
	eventually(t, 5*time.Second, "segment 1 in placement", func() error {
		if _, ok := c.meta.Segment("default", "s", 1); !ok {
			return errors.New("missing")
		}
		return nil
	})
	sealed, _ := c.meta.Segment("default", "s", 0)
	if sealed.GetEndOffset() != acked || acked == 0 {
		t.Fatalf("segment 0 sealed at %d, acked %d", sealed.GetEndOffset(), acked)
	}
}

func TestReadFromTimestampAndReadReplica(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	a := openAppend(t, dial(t, c.nodes[1].addr))
	old := recordbatch.Encode(recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1}, Records: []recordbatch.Record{{TimestampMs: 1000}}})
	a.mustDo(seg, old)
	newer := recordbatch.Encode(recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1}, Records: []recordbatch.Record{{TimestampMs: 5000}, {TimestampMs: 6000}}})
	a.mustDo(seg, newer)
	cl := dial(t, c.nodes[1].addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := cl.Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), FromTimestampMs: 4000})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil || len(resp.GetBatches()) != 1 {
		t.Fatalf("read by time: %v %v", resp, err)
	}
	if h, _ := recordbatch.DecodeHeader(resp.GetBatches()[0]); h.FirstOffset != 1 {
		t.Fatalf("read by time started at %d", h.FirstOffset)
	}
	rr, err := cl.ReadReplica(ctx, &journalpb.ReadReplicaRequest{Segment: ref(seg), FromOffset: 0, ToOffset: 3})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		resp, err := rr.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n += len(resp.GetBatches())
	}
	if n != 2 {
		t.Fatalf("ReadReplica gave %d batches", n)
	}
	// Fence then Seal through the API: the leader stops, appends are fenced.
	fr, err := cl.Fence(ctx, &journalpb.FenceRequest{Segment: ref(seg), Epoch: 2})
	if err != nil || fr.GetLogEnd() != 3 {
		t.Fatalf("fence: %v %v", fr, err)
	}
	err = rpcerr.FromProto(a.do(seg, batch("after fence", 1)).GetError())
	if f, ok := rpcerr.AsFenced(err); !ok || f.GetEpoch() != 2 {
		t.Fatalf("append after fence: %v", err)
	}
	if _, err := cl.Seal(ctx, &journalpb.SealRequest{Segment: ref(seg), EndOffset: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Seal(ctx, &journalpb.SealRequest{Segment: ref(seg), EndOffset: 2}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("seal at another end: %v", err)
	}
	d, _ := describe(t, cl, seg)
	if !d.GetSealed() || d.GetSealedEnd() != 3 {
		t.Fatalf("describe after seal: %v", d)
	}
}

func TestStoppingEndsLongStreams(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	cl := dial(t, c.nodes[1].addr)
	a := openAppend(t, cl)
	a.mustDo(seg, batch("a", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	follow, err := cl.Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), Follow: true, FromOffset: 1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	close(c.nodes[1].quit)
	if _, err := follow.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("follow read on stop: %v", err)
	}
	if _, err := a.stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("append stream on stop: %v", err)
	}
	// A follower's Replicate streams end too.
	close(c.nodes[2].quit)
	rs, err := dial(t, c.nodes[2].addr).Replicate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("replicate stream on stop: %v", err)
	}
}

func TestLeaderRestartKeepsOffsetsAndProducers(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	a := openAppend(t, dial(t, c.nodes[1].addr))
	a.mustDo(seg, idemBatch("p", 2, 5, 0, 0))
	a.mustDo(seg, batch("x", 3))

	c.nodes[1].stop()
	c.nodes[1].start()
	b := openAppend(t, dial(t, c.nodes[1].addr))
	// The retry of the first batch is still a duplicate (table rebuilt from
	// the local replica), new data continues at the log end.
	var dup *journalpb.AppendResponse
	eventually(t, 5*time.Second, "restarted leader takes appends", func() error {
		dup = b.do(seg, idemBatch("p", 2, 5, 0, 0))
		return rpcerr.FromProto(dup.GetError())
	})
	if !dup.GetDuplicate() || dup.GetFirstOffset() != 0 || dup.GetNextOffset() != 2 {
		t.Fatalf("retry after restart: %v", dup)
	}
	if r := b.mustDo(seg, idemBatch("p", 1, 5, 0, 2)); r.GetFirstOffset() != 5 {
		t.Fatalf("append after restart at %d, want 5", r.GetFirstOffset())
	}
}

func TestRollOnAge(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, map[string]string{"segment.max_age": "300ms"})
	a := openAppend(t, dial(t, c.nodes[1].addr))
	r := a.mustDo(seg, batch("old", 2))
	eventually(t, 5*time.Second, "segment 0 sealed by age", func() error {
		s, _ := c.meta.Segment("default", "s", 0)
		if s.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
			return fmt.Errorf("status %v", s.GetStatus())
		}
		if s.GetEndOffset() != r.GetNextOffset() {
			return fmt.Errorf("end %d, want %d", s.GetEndOffset(), r.GetNextOffset())
		}
		return nil
	})
}

// A replica placement sealed but that was not sealed locally yet (its
// node missed the leader's seal) still ends readers at the placement end.
func TestReadEndsAtPlacementSealOnUnsealedReplica(t *testing.T) {
	c := newCluster(t, 3, testLimits{})
	seg := c.meta.addShard("s", []uint64{1, 2, 3}, 2, nil)
	a := openAppend(t, dial(t, c.nodes[1].addr))
	a.mustDo(seg, batch("a", 2))
	end := a.mustDo(seg, batch("b", 3)).GetNextOffset()
	cl := dial(t, c.nodes[2].addr)
	eventually(t, 5*time.Second, "follower holds the data", func() error {
		d, err := describe(t, cl, seg)
		if err != nil {
			return err
		}
		if d.GetLogEnd() != end {
			return fmt.Errorf("log end %d", d.GetLogEnd())
		}
		return nil
	})
	c.meta.mu.Lock()
	s := c.meta.segments[segKey("default", "s", 0)]
	s.Status, s.EndOffset = placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, end
	c.meta.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := cl.Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	var got uint64
	for i := 0; i < 100; i++ {
		resp, err := rs.Recv()
		if err != nil {
			t.Fatalf("read: %v (at %d)", err, got)
		}
		for _, b := range resp.GetBatches() {
			h, _ := recordbatch.DecodeHeader(b)
			got = h.NextOffset()
		}
		if resp.GetSealed() {
			if resp.GetSealedEnd() != end || got != end {
				t.Fatalf("sealed at %d after reading to %d, want %d", resp.GetSealedEnd(), got, end)
			}
			if _, err := rs.Recv(); err != io.EOF {
				t.Fatalf("stream after sealed: %v", err)
			}
			return
		}
	}
	t.Fatal("no sealed response")
}
