package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// fuzzLimits are the follower store's batch limits in FuzzReplicate: small,
// so fuzzed batches can reach them.
var fuzzLimits = recordbatch.Limits{MaxBatchBytes: 4 << 10, MaxRecords: 64, MaxRecordBytes: 2 << 10, MaxHeadersPerRecord: 8}

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

// storedBatch is a batch as a leader stores it: records tagged tag, at
// first with the leader's epoch.
func storedBatch(tag byte, n int, first, epoch uint64) []byte {
	b := recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1}}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, recordbatch.Record{TimestampMs: int64(1000 + i), Key: []byte{tag}, Value: []byte{tag, byte(i)}})
	}
	enc := recordbatch.Encode(b)
	if err := recordbatch.SetFirstOffsetAndEpoch(enc, first, epoch); err != nil {
		panic(err)
	}
	return enc
}

// replicaView is everything observable about one replica.
type replicaView struct {
	exists  bool
	st      segstore.SegmentState
	batches [][]byte
}

// viewReplica reads the replica's state and every batch from its start to
// its log end, failing t unless the log is whole: contiguous, every batch
// verified by the store and valid under the store's limits, bytes adding
// up, LAC within [start, log end].
func viewReplica(t *testing.T, s *segstore.Store, id segstore.SegmentID, limits recordbatch.Limits) replicaView {
	t.Helper()
	st, err := s.Describe(id)
	if errors.Is(err, segstore.ErrNotFound) {
		return replicaView{}
	}
	if err != nil {
		t.Fatalf("Describe(%s): %v", id, err)
	}
	v := replicaView{exists: true, st: st}
	if st.LAC > st.LogEnd || st.LAC < st.StartOffset || st.LogEnd < st.StartOffset {
		t.Fatalf("%s: start %d LAC %d log end %d", id, st.StartOffset, st.LAC, st.LogEnd)
	}
	next, total := st.StartOffset, uint64(0)
	for next < st.LogEnd {
		got, err := s.Read(id, next, math.MaxInt, st.LogEnd)
		if err != nil {
			t.Fatalf("%s: Read(%d) up to the log end %d: %v", id, next, st.LogEnd, err)
		}
		if len(got) == 0 {
			t.Fatalf("%s: Read(%d) returned nothing below the log end %d", id, next, st.LogEnd)
		}
		for _, b := range got {
			if b.Header.FirstOffset != next {
				t.Fatalf("%s: batch at %d, expected %d", id, b.Header.FirstOffset, next)
			}
			if _, err := recordbatch.Validate(b.Data, limits); err != nil {
				t.Fatalf("%s: stored batch at %d does not validate: %v", id, next, err)
			}
			v.batches = append(v.batches, b.Data)
			total += uint64(len(b.Data))
			next = b.Header.NextOffset()
		}
	}
	if next != st.LogEnd {
		t.Fatalf("%s: batches end at %d, log end %d", id, next, st.LogEnd)
	}
	if total != st.Bytes {
		t.Fatalf("%s: batches hold %d bytes, state says %d", id, total, st.Bytes)
	}
	return v
}

func sameBatches(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// replicateErrCodes are the codes a follower may answer a bad request
// with; anything else (Internal, Unknown, DataLoss...) is a bug.
var replicateErrCodes = map[codes.Code]bool{
	codes.InvalidArgument:    true, // bad segment ref, bad batch
	codes.FailedPrecondition: true, // fenced, sealed, not contiguous
	codes.ResourceExhausted:  true, // over the limits
	codes.AlreadyExists:      true,
}

// applyChecked applies req and checks the follower's answer and the
// replica before and after: a typed error leaves the replica as it was
// (a replica created on first contact stays empty); a success appends at
// most the request's batch and moves the LAC as asked, never past the log
// end. It returns whether req succeeded.
func applyChecked(t *testing.T, f *Follower, s *segstore.Store, req *journalpb.ReplicateRequest) bool {
	t.Helper()
	id, idErr := SegmentID(req.GetSegment())
	var before replicaView
	if idErr == nil {
		before = viewReplica(t, s, id, fuzzLimits)
	}
	resp := f.Apply(req)
	if !proto.Equal(resp.GetSegment(), req.GetSegment()) {
		t.Fatalf("response names segment %v, request %v", resp.GetSegment(), req.GetSegment())
	}
	err := rpcerr.FromProto(resp.GetError())
	if idErr != nil {
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("bad segment ref %v answered %v", req.GetSegment(), err)
		}
		return false
	}
	after := viewReplica(t, s, id, fuzzLimits)
	if after.exists && resp.GetLogEnd() != after.st.LogEnd {
		t.Fatalf("answered log end %d, replica's is %d (err %v)", resp.GetLogEnd(), after.st.LogEnd, err)
	}
	if err != nil {
		if _, ok := status.FromError(err); !ok || !replicateErrCodes[status.Code(err)] {
			t.Fatalf("untyped or unexpected error %v (code %v)", err, status.Code(err))
		}
		switch {
		case before.exists:
			if after.st != before.st || !sameBatches(after.batches, before.batches) {
				t.Fatalf("failed request (%v) changed the replica: %+v -> %+v", err, before.st, after.st)
			}
		case after.exists:
			// Created on first contact, then the batch was refused:
			// nothing but the empty replica may be there.
			if st := after.st; st.LogEnd != req.GetStartOffset() || st.StartOffset != req.GetStartOffset() ||
				st.LAC != st.StartOffset || st.FenceEpoch != req.GetEpoch() || st.Bytes != 0 {
				t.Fatalf("failed request (%v) left a replica that is not empty: %+v", err, st)
			}
		}
		return false
	}
	if !after.exists {
		t.Fatalf("success but no replica")
	}
	prev := before
	if !before.exists {
		prev = replicaView{st: segstore.SegmentState{StartOffset: req.GetStartOffset(), LogEnd: req.GetStartOffset(), LAC: req.GetStartOffset()}}
	}
	switch n := len(after.batches) - len(prev.batches); {
	case n == 0 && sameBatches(after.batches, prev.batches):
		// A LAC update or a resend of a batch already held.
		if len(req.GetBatch()) > 0 {
			h, herr := recordbatch.DecodeHeader(req.GetBatch())
			if herr != nil || h.FirstOffset >= prev.st.LogEnd || h.FirstOffset < prev.st.StartOffset {
				t.Fatalf("batch accepted (%v) without being stored", herr)
			}
		}
	case n == 1 && sameBatches(after.batches[:len(prev.batches)], prev.batches):
		if !bytes.Equal(after.batches[len(prev.batches)], req.GetBatch()) {
			t.Fatalf("stored batch differs from the replicated one")
		}
		if h, _ := recordbatch.DecodeHeader(req.GetBatch()); h.FirstOffset != prev.st.LogEnd || h.Epoch > req.GetEpoch() {
			t.Fatalf("accepted batch at %d epoch %d; log end was %d, sender epoch %d", h.FirstOffset, h.Epoch, prev.st.LogEnd, req.GetEpoch())
		}
		if req.GetEpoch() < prev.st.FenceEpoch {
			t.Fatalf("accepted a batch at epoch %d below the fence %d", req.GetEpoch(), prev.st.FenceEpoch)
		}
	default:
		t.Fatalf("success changed the stored batches: %d -> %d", len(prev.batches), len(after.batches))
	}
	if want := max(prev.st.LAC, min(req.GetLac(), after.st.LogEnd)); after.st.LAC != want {
		t.Fatalf("LAC %d after asking %d (was %d, log end %d)", after.st.LAC, req.GetLac(), prev.st.LAC, after.st.LogEnd)
	}
	return true
}

// FuzzReplicate feeds arbitrary ReplicateRequests to the follower side
// (Follower.Apply over a real segstore in a temp dir): segment refs,
// epochs, LACs, start offsets, and batches that are raw fuzz bytes, raw
// bytes with a valid frame (length and CRC fixed), or valid stored
// batches mutated with or without their CRC fixed. Every request gets a
// typed error or a success, a failed one changes nothing, and the replica
// stays whole (see applyChecked). The same request is then resent, as a
// leader does after a lost reply.
func FuzzReplicate(f *testing.F) {
	const leaderEpoch = 3
	valid := storedBatch('v', 3, 0, leaderEpoch)
	// tenant, shard, seq, epoch, lac, start, prefix, mode, pos, val, raw
	f.Add("default", "s/0", uint32(0), uint64(leaderEpoch), uint64(2), uint64(0), uint8(0), uint8(1), uint32(0), byte(0), []byte(nil))
	f.Add("default", "s/0", uint32(1), uint64(leaderEpoch), uint64(100), uint64(10), uint8(2), uint8(1), uint32(70), byte(0x40), []byte(nil))
	f.Add("default", "s/0", uint32(0), uint64(leaderEpoch), uint64(5), uint64(0), uint8(3), uint8(2), uint32(27), byte(0x7f), []byte(nil))
	f.Add("default", "s/0", uint32(0), uint64(leaderEpoch), uint64(5), uint64(0), uint8(3), uint8(5), uint32(0), byte(0), []byte(nil)) // resend of the last batch
	f.Add("default", "s/0", uint32(0), uint64(1), uint64(5), uint64(0), uint8(2), uint8(1), uint32(0), byte(0), []byte(nil))           // stale epoch
	f.Add("default", "s/0", uint32(0), uint64(leaderEpoch), uint64(9), uint64(0), uint8(1), uint8(0), uint32(0), byte(0), []byte(nil)) // LAC only
	f.Add("default", "s/0", uint32(0), uint64(leaderEpoch), uint64(9), uint64(0), uint8(1), uint8(0), uint32(0), byte(0), valid)
	f.Add("default", "s/0", uint32(0), uint64(leaderEpoch), uint64(9), uint64(0), uint8(1), uint8(3), uint32(0), byte(0), valid[:70])
	f.Add("default", "s/0", uint32(0), uint64(leaderEpoch), uint64(9), uint64(math.MaxUint64-1), uint8(1), uint8(1), uint32(0), byte(0), []byte(nil))
	f.Add("", "s/0", uint32(0), uint64(leaderEpoch), uint64(0), uint64(0), uint8(0), uint8(1), uint32(0), byte(0), []byte(nil))
	f.Add("default", string(make([]byte, segstore.MaxNameLen+1)), uint32(0), uint64(leaderEpoch), uint64(0), uint64(0), uint8(0), uint8(1), uint32(0), byte(0), []byte(nil))

	store, err := segstore.Open(f.TempDir(), segstore.Options{CacheBytes: 4 << 20, Limits: fuzzLimits})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	follower := NewFollower(store, NewChanges())

	f.Fuzz(func(t *testing.T, tenant, shard string, seq uint32, epoch, lacReq, start uint64, prefix, mode uint8, pos uint32, val byte, raw []byte) {
		// Every input starts from an empty store.
		segs, err := store.ListSegments()
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range segs {
			if err := store.DeleteSegment(st.ID); err != nil {
				t.Fatal(err)
			}
		}
		ref := &journalpb.SegmentRef{Tenant: tenant, Shard: shard, Seq: seq}
		_, refErr := SegmentID(ref)

		// The leader first replicates a valid prefix of batches.
		next := start
		var last []byte
		for i := 0; i < int(prefix%4); i++ {
			if next > math.MaxUint64-8 {
				break
			}
			b := storedBatch(byte('a'+i), 1+i, next, leaderEpoch)
			ok := applyChecked(t, follower, store, &journalpb.ReplicateRequest{Segment: ref, Epoch: leaderEpoch, Batch: b, Lac: next, StartOffset: start})
			if !ok && refErr == nil {
				t.Fatalf("valid batch %d at %d refused", i, next)
			}
			last, next = b, next+uint64(1+i)
		}

		var batch []byte
		switch mode % 4 {
		case 0: // raw fuzz bytes
			batch = bytes.Clone(raw)
		case 1, 2: // a valid stored batch, mutated (2: frame fixed)
			switch (mode >> 2) % 3 {
			case 1: // a resend of the last batch (the next one if none)
				if last != nil {
					batch = bytes.Clone(last)
					break
				}
				fallthrough
			case 0: // the next batch
				batch = storedBatch('z', 1+int(mode>>4), min(next, math.MaxUint64-16), min(epoch, leaderEpoch))
			case 2: // anywhere
				batch = storedBatch('z', 1+int(mode>>4), min(lacReq, math.MaxUint64-16), min(epoch, leaderEpoch))
			}
			batch[int(pos%uint32(len(batch)))] ^= val
			if mode%4 == 2 {
				fixFrame(batch)
			}
		case 3: // raw bytes, framed
			batch = bytes.Clone(raw)
			fixFrame(batch)
		}
		req := &journalpb.ReplicateRequest{Segment: ref, Epoch: epoch, Batch: batch, Lac: lacReq, StartOffset: start}
		ok := applyChecked(t, follower, store, req)
		if again := applyChecked(t, follower, store, req); ok && !again {
			t.Fatalf("resending an applied request failed")
		}
	})
}
