package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/replication"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// fuzzMaxBatchBytes is the leader's batch limit in FuzzAppend, small so
// fuzzed batches reach it.
const fuzzMaxBatchBytes = 4 << 10

// fixFrame sets the length field and recomputes the CRC-32C of an encoded
// batch in place (recordbatch layout: magic 0, crc 1..5, length 5..9), so
// mutated bytes get past the CRC check to the deeper validation.
func fixFrame(b []byte) {
	if len(b) < recordbatch.HeaderSize || uint64(len(b)) > math.MaxUint32 {
		return
	}
	binary.BigEndian.PutUint32(b[5:], uint32(len(b)))
	binary.BigEndian.PutUint32(b[1:], crc32.Checksum(b[5:], crc32.MakeTable(crc32.Castagnoli)))
}

// segmentLog is the local replica's state and its batches from the start
// to the log end, failing t unless the log is whole (contiguous, every
// batch verified and decodable, bytes adding up, LAC within the log).
type segmentLog struct {
	exists  bool
	st      segstore.SegmentState
	batches [][]byte
}

func readLog(t *testing.T, s *segstore.Store, id segstore.SegmentID) segmentLog {
	t.Helper()
	st, err := s.Describe(id)
	if errors.Is(err, segstore.ErrNotFound) {
		return segmentLog{}
	}
	if err != nil {
		t.Fatalf("Describe(%s): %v", id, err)
	}
	l := segmentLog{exists: true, st: st}
	if st.LAC > st.LogEnd || st.LAC < st.StartOffset {
		t.Fatalf("%s: start %d LAC %d log end %d", id, st.StartOffset, st.LAC, st.LogEnd)
	}
	next, total := st.StartOffset, uint64(0)
	for next < st.LogEnd {
		got, err := s.Read(id, next, math.MaxInt, st.LogEnd)
		if err != nil || len(got) == 0 {
			t.Fatalf("%s: Read(%d) up to the log end %d: %d batches, %v", id, next, st.LogEnd, len(got), err)
		}
		for _, b := range got {
			if b.Header.FirstOffset != next {
				t.Fatalf("%s: batch at %d, expected %d", id, b.Header.FirstOffset, next)
			}
			if _, err := recordbatch.Decode(b.Data, recordbatch.Limits{}); err != nil {
				t.Fatalf("%s: stored batch at %d does not decode: %v", id, next, err)
			}
			l.batches = append(l.batches, b.Data)
			total += uint64(len(b.Data))
			next = b.Header.NextOffset()
		}
	}
	if next != st.LogEnd || total != st.Bytes {
		t.Fatalf("%s: batches end at %d holding %d bytes; state says log end %d, %d bytes", id, next, total, st.LogEnd, st.Bytes)
	}
	return l
}

// same reports whether o holds what l does. The stored LAC is left out:
// the leader persists LAC moves in the background.
func (l segmentLog) same(o segmentLog) bool {
	a, b := l.st, o.st
	a.LAC, b.LAC = 0, 0
	if l.exists != o.exists || a != b || len(l.batches) != len(o.batches) {
		return false
	}
	for i := range l.batches {
		if !bytes.Equal(l.batches[i], o.batches[i]) {
			return false
		}
	}
	return true
}

// appendErrCodes are the codes the leader may answer a bad append with.
var appendErrCodes = map[codes.Code]bool{
	codes.InvalidArgument:    true, // bad batch, producer sequence or epoch
	codes.ResourceExhausted:  true, // over max_batch_bytes / max_batch_records
	codes.FailedPrecondition: true, // Fenced (stale epoch)
	codes.Unavailable:        true, // epoch above this node's view
}

// appendChecked runs one AppendRequest through the server's append path
// (Manager.Append, then the in-order answer that waits for the LAC) and
// checks the answer against the local replica before and after. It
// returns the response.
func appendChecked(t *testing.T, srv *Server, store *segstore.Store, req *journalpb.AppendRequest) *journalpb.AppendResponse {
	t.Helper()
	id, idErr := replication.SegmentID(req.GetSegment())
	var before segmentLog
	if idErr == nil {
		before = readLog(t, store, id)
	}
	sent := bytes.Clone(req.GetBatch())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := pending{reqID: req.GetRequestId(), received: time.Now(), bytes: len(req.GetBatch())}
	p.ack, p.err = srv.o.Manager.Append(ctx, req)
	resp := srv.answer(ctx, p)
	if resp.GetRequestId() != req.GetRequestId() {
		t.Fatalf("response to request %d, want %d", resp.GetRequestId(), req.GetRequestId())
	}
	err := rpcerr.FromProto(resp.GetError())
	if idErr != nil {
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("bad segment ref answered %v", err)
		}
		return resp
	}
	after := readLog(t, store, id)
	if before.exists && after.st.LAC < before.st.LAC {
		t.Fatalf("stored LAC moved back from %d to %d", before.st.LAC, after.st.LAC)
	}
	if err != nil {
		if _, ok := status.FromError(err); !ok || !appendErrCodes[status.Code(err)] {
			t.Fatalf("untyped or unexpected error %v (code %v)", err, status.Code(err))
		}
		if resp.GetFirstOffset() != 0 || resp.GetNextOffset() != 0 {
			t.Fatalf("error %v with offsets [%d, %d)", err, resp.GetFirstOffset(), resp.GetNextOffset())
		}
		// The leader creates its replica on first use; nothing else may
		// change on an error.
		created := !before.exists && after.exists && after.st.LogEnd == after.st.StartOffset && after.st.Bytes == 0
		if !after.same(before) && !created {
			t.Fatalf("failed append (%v) changed the replica: %+v -> %+v", err, before.st, after.st)
		}
		return resp
	}
	h, herr := recordbatch.DecodeHeader(sent)
	if herr != nil {
		t.Fatalf("append of an undecodable batch acked: %v", herr)
	}
	first, next := resp.GetFirstOffset(), resp.GetNextOffset()
	if resp.GetDuplicate() {
		if h.ProducerID == 0 || h.BaseSequence < 0 {
			t.Fatalf("a batch without producer id and sequence acked as a duplicate")
		}
		if !after.same(before) {
			t.Fatalf("duplicate changed the replica: %+v -> %+v", before.st, after.st)
		}
		if first == 0 && next == 0 {
			return resp // a duplicate whose offsets are no longer remembered
		}
		// The original's offsets: a stored batch of the same producer.
		for _, stored := range after.batches {
			sh, _ := recordbatch.DecodeHeader(stored)
			if sh.FirstOffset == first && sh.NextOffset() == next && sh.ProducerID == h.ProducerID {
				return resp
			}
		}
		t.Fatalf("duplicate acked [%d, %d), which is no stored batch of producer %d", first, next, h.ProducerID)
	}
	if next != first+uint64(h.Count) || next <= first {
		t.Fatalf("acked [%d, %d) for %d records", first, next, h.Count)
	}
	if lac, ok := srv.o.Manager.LAC(id); !ok || lac < next {
		t.Fatalf("acked up to %d with LAC %d (%v)", next, lac, ok)
	}
	start := after.st.StartOffset
	if before.exists {
		start = before.st.LogEnd
	}
	if first != start || after.st.LogEnd != next || len(after.batches) != len(before.batches)+1 {
		t.Fatalf("acked [%d, %d); log end was %d, now %d with %d batches (was %d)", first, next, start, after.st.LogEnd, len(after.batches), len(before.batches))
	}
	for i := range before.batches {
		if !bytes.Equal(before.batches[i], after.batches[i]) {
			t.Fatalf("an append changed the stored batch %d", i)
		}
	}
	// What is stored is what was sent, with its offset and epoch.
	want := bytes.Clone(sent)
	if err := recordbatch.SetFirstOffsetAndEpoch(want, first, req.GetEpoch()); err != nil || !bytes.Equal(want, after.batches[len(after.batches)-1]) {
		t.Fatalf("stored batch differs from the appended one (%v)", err)
	}
	return resp
}

// fuzzLeader is one journal node's append path without the network: a
// real segstore in a temp dir, the replication manager over an in-test
// placement (single-replica segments, so the node acks alone) and the
// server.
type fuzzLeader struct {
	meta  *fakePlacement
	store *segstore.Store
	srv   *Server
	n     int
}

func newFuzzLeader(f *testing.F) *fuzzLeader {
	store, err := segstore.Open(f.TempDir(), segstore.Options{CacheBytes: 4 << 20})
	if err != nil {
		f.Fatal(err)
	}
	meta := newFakePlacement()
	meta.setNode(1, "127.0.0.1:1")
	peers := replication.NewPeers(meta, 1<<20)
	changes := replication.NewChanges()
	mgr, err := replication.New(replication.Config{NodeID: 1, Store: store, Meta: meta, Placement: meta, Peers: peers, Changes: changes,
		MaxBatchBytes: fuzzMaxBatchBytes, MaxBatchRecords: 64, CheckInterval: time.Hour, Logger: zerolog.Nop()})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mgr.Run(ctx)
	}()
	f.Cleanup(func() {
		cancel()
		<-done
		peers.Close()
		_ = store.Close()
	})
	srv := New(Options{Store: store, Manager: mgr, Follower: replication.NewFollower(store, changes), Logger: zerolog.Nop()})
	return &fuzzLeader{meta: meta, store: store, srv: srv}
}

// segment returns a new single-replica open segment led by this node.
func (fl *fuzzLeader) segment() *placementpb.Segment {
	fl.n++
	return fl.meta.addShard(fmt.Sprintf("f/%d", fl.n), []uint64{1}, 1, nil)
}

// drop ends the leadership of seg and removes it from placement and the
// store, so every input starts afresh.
func (fl *fuzzLeader) drop(t *testing.T, seg *placementpb.Segment) {
	id := segstore.SegmentID{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}
	fl.srv.o.Manager.Fenced(id, seg.GetEpoch()+1)
	fl.meta.mu.Lock()
	delete(fl.meta.segments, segKey(seg.GetTenant(), seg.GetShard(), seg.GetSeq()))
	delete(fl.meta.shards, seg.GetTenant()+"/"+seg.GetShard())
	fl.meta.mu.Unlock()
	if err := fl.store.DeleteSegment(id); err != nil && !errors.Is(err, segstore.ErrNotFound) {
		t.Fatalf("DeleteSegment: %v", err)
	}
}

// FuzzAppend feeds arbitrary batches to the leader's append path (raw fuzz
// bytes, raw bytes with a valid frame, or valid batches, idempotent or
// not, mutated with or without their CRC fixed), at the segment's epoch or
// a stale or future one, after a prefix of valid appends. Each gets a
// typed error that changes nothing, or an ack of exactly the offsets the
// replica then holds; the replica stays whole, and a valid append still
// succeeds afterwards.
func FuzzAppend(f *testing.F) {
	valid := idemBatch("v", 3, 0, 0, -1)
	// prefix, mode, pos, val, epoch, pid, base, raw
	f.Add(uint8(0), uint8(1), uint32(0), byte(0), uint8(1), uint8(0), int8(-1), []byte(nil))
	f.Add(uint8(2), uint8(1), uint32(0), byte(0), uint8(1), uint8(1), int8(3), []byte(nil))   // next in sequence
	f.Add(uint8(2), uint8(1), uint32(0), byte(0), uint8(1), uint8(1), int8(1), []byte(nil))   // duplicate (known)
	f.Add(uint8(2), uint8(1), uint32(0), byte(0), uint8(1), uint8(1), int8(2), []byte(nil))   // duplicate (not a batch start)
	f.Add(uint8(2), uint8(1), uint32(0), byte(0), uint8(1), uint8(1), int8(9), []byte(nil))   // out of order
	f.Add(uint8(1), uint8(1), uint32(80), byte(1), uint8(1), uint8(0), int8(-1), []byte(nil)) // crc
	f.Add(uint8(1), uint8(2), uint32(27), byte(9), uint8(1), uint8(0), int8(-1), []byte(nil)) // count, framed
	f.Add(uint8(1), uint8(1), uint32(0), byte(0), uint8(0), uint8(0), int8(-1), []byte(nil))  // stale epoch
	f.Add(uint8(1), uint8(1), uint32(0), byte(0), uint8(2), uint8(0), int8(-1), []byte(nil))  // future epoch
	f.Add(uint8(1), uint8(0), uint32(0), byte(0), uint8(1), uint8(0), int8(-1), valid)
	f.Add(uint8(1), uint8(3), uint32(0), byte(0), uint8(1), uint8(0), int8(-1), valid[:70])
	f.Add(uint8(0), uint8(0), uint32(0), byte(0), uint8(1), uint8(0), int8(-1), make([]byte, fuzzMaxBatchBytes+1))
	f.Add(uint8(0), uint8(0), uint32(0), byte(0), uint8(1), uint8(0), int8(-1), []byte("not a batch"))
	fl := newFuzzLeader(f)

	f.Fuzz(func(t *testing.T, prefix, mode uint8, pos uint32, val byte, epoch, pid uint8, base int8, raw []byte) {
		seg := fl.segment()
		defer fl.drop(t, seg)
		segRef := ref(seg)
		reqID := uint64(0)
		do := func(epoch uint64, b []byte) *journalpb.AppendResponse {
			reqID++
			return appendChecked(t, fl.srv, fl.store, &journalpb.AppendRequest{RequestId: reqID, Segment: segRef, Epoch: epoch, Batch: b})
		}
		// A prefix of valid appends: producer 1 writes sequences 0, 1-2,
		// 3-5.
		for i := 0; i < int(prefix%4); i++ {
			if r := do(seg.GetEpoch(), idemBatch(fmt.Sprint("p", i), 1+i, 1, 0, int32(i*(i+1)/2))); r.GetError() != nil {
				t.Fatalf("valid append %d: %v", i, rpcerr.FromProto(r.GetError()))
			}
		}
		var b []byte
		switch mode % 4 {
		case 0:
			b = bytes.Clone(raw)
		case 1, 2:
			seq := int32(base)
			if pid%4 == 0 {
				seq = -1
			}
			b = idemBatch("z", 1+int(mode>>2)%8, uint64(pid%4), uint32(mode>>5), seq)
			b[int(pos%uint32(len(b)))] ^= val
			if mode%4 == 2 {
				fixFrame(b)
			}
		case 3:
			b = bytes.Clone(raw)
			fixFrame(b)
		}
		// epoch: 0 stale, 1 the segment's, 2 from the future.
		do(seg.GetEpoch()+uint64(epoch%3)-1, b)
		// A resend of the same request: a duplicate or the same refusal.
		do(seg.GetEpoch()+uint64(epoch%3)-1, bytes.Clone(b))
		// The segment still takes valid appends.
		if r := do(seg.GetEpoch(), batch("after", 1)); r.GetError() != nil {
			t.Fatalf("valid append after the fuzzed one: %v", rpcerr.FromProto(r.GetError()))
		}
	})
}
