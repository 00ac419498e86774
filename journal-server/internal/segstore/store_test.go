package segstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/robustmq/robustmq-go/common/recordbatch"
)

func TestAppendReadRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	id := segID(1)
	const start = 1000
	mustCreate(t, s, id, start, 1)

	var sizes []int
	next := uint64(start)
	for i := 0; i < 120; i++ {
		n := 1 + i%7
		batch := mkBatch(fmt.Sprintf("b%d", i), n, int64(i))
		first, nxt := mustAppend(t, s, id, 1, batch)
		if first != next || nxt != first+uint64(n) {
			t.Fatalf("batch %d: got [%d,%d), want first %d count %d", i, first, nxt, next, n)
		}
		// Append patched the caller's buffer into the stored form.
		h, err := recordbatch.DecodeHeader(batch)
		if err != nil || h.FirstOffset != first || h.Epoch != 1 || recordbatch.Verify(batch) != nil {
			t.Fatalf("batch %d buffer not patched: %+v %v", i, h, err)
		}
		sizes = append(sizes, len(batch))
		next = nxt
	}
	st := mustDescribe(t, s, id)
	if st.LogEnd != next || st.StartOffset != start || st.Status != StatusOpen || st.LAC != start {
		t.Fatalf("state = %+v", st)
	}

	for _, maxBytes := range []int{0, 300, 1 << 20} {
		got := readAll(t, s, id, start, maxBytes, math.MaxUint64)
		if len(got) != 120 {
			t.Fatalf("maxBytes %d: read %d batches, want 120", maxBytes, len(got))
		}
		for i, b := range got {
			if len(b.Data) != sizes[i] || valueOf(t, b, 0) != fmt.Sprintf("b%d/0", i) {
				t.Fatalf("batch %d: %d bytes, first value %q", i, len(b.Data), valueOf(t, b, 0))
			}
		}
	}
	// maxBytes bounds a single read but always yields one batch.
	one, err := s.Read(id, start, 1, math.MaxUint64)
	if err != nil || len(one) != 1 {
		t.Fatalf("Read with maxBytes 1: %d batches, %v", len(one), err)
	}
	// From an offset inside a batch: that batch comes first.
	mid := uint64(start + 5) // batch 2 holds offsets 1003..1005
	got, err := s.Read(id, mid, 1<<20, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Header.FirstOffset != start+3 || len(got) != 118 {
		t.Fatalf("read from %d: first batch at %d, %d batches", mid, got[0].Header.FirstOffset, len(got))
	}
	// At the log end: nothing, no error.
	if got, err := s.Read(id, next, 1<<20, math.MaxUint64); err != nil || len(got) != 0 {
		t.Fatalf("read at log end: %d batches, %v", len(got), err)
	}
}

func TestReadOutOfRange(t *testing.T) {
	s, _ := openTemp(t)
	id := segID(1)
	mustCreate(t, s, id, 100, 1)
	mustAppend(t, s, id, 1, mkBatch("a", 3, 1))
	for _, from := range []uint64{0, 99, 104, math.MaxUint64} {
		_, err := s.Read(id, from, 1<<20, math.MaxUint64)
		e := wantErr[*OutOfRangeError](t, err, ErrOutOfRange)
		if e.Start != 100 || e.End != 103 || e.Offset != from {
			t.Fatalf("from %d: %+v", from, e)
		}
	}
	if got, err := s.Read(id, 100, 1<<20, 100); err != nil || len(got) != 0 {
		t.Fatalf("empty range: %d, %v", len(got), err)
	}
}

func TestConcurrentAppendsToEightSegments(t *testing.T) {
	s, _ := openTemp(t)
	const segments, writersPerSeg, batchesPerWriter = 8, 2, 25
	for i := uint32(0); i < segments; i++ {
		mustCreate(t, s, segID(i), uint64(i)*1_000_000, 1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, segments*writersPerSeg+segments)
	for seg := uint32(0); seg < segments; seg++ {
		for w := 0; w < writersPerSeg; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < batchesPerWriter; i++ {
					tag := fmt.Sprintf("s%d-w%d-%d", seg, w, i)
					if _, _, err := s.Append(segID(seg), 1, mkBatch(tag, 1+i%3, int64(i))); err != nil {
						errs <- fmt.Errorf("%s: %w", tag, err)
						return
					}
				}
			}()
		}
		// A reader per segment runs alongside the writers and must only
		// ever see a consistent, verified prefix.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				st, err := s.Describe(segID(seg))
				if err != nil {
					errs <- err
					return
				}
				if _, err := s.Read(segID(seg), st.StartOffset, 1<<20, st.LogEnd); err != nil {
					errs <- fmt.Errorf("concurrent read: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for seg := uint32(0); seg < segments; seg++ {
		id := segID(seg)
		st := mustDescribe(t, s, id)
		got := readAll(t, s, id, st.StartOffset, 1<<20, st.LogEnd)
		if len(got) != writersPerSeg*batchesPerWriter {
			t.Fatalf("segment %d: %d batches, want %d", seg, len(got), writersPerSeg*batchesPerWriter)
		}
		seen := map[string]bool{}
		for _, b := range got {
			tag := valueOf(t, b, 0)
			if seen[tag] {
				t.Fatalf("segment %d: batch %s stored twice", seg, tag)
			}
			seen[tag] = true
		}
		if got[len(got)-1].Header.NextOffset() != st.LogEnd {
			t.Fatalf("segment %d: last batch ends at %d, log end %d", seg, got[len(got)-1].Header.NextOffset(), st.LogEnd)
		}
	}
}

func TestFencingPersistsAcrossReopen(t *testing.T) {
	s, dir := openTemp(t)
	id := segID(1)
	mustCreate(t, s, id, 0, 1)
	mustAppend(t, s, id, 1, mkBatch("a", 2, 1))

	logEnd, err := s.Fence(id, 2)
	if err != nil || logEnd != 2 {
		t.Fatalf("Fence = %d, %v; want 2", logEnd, err)
	}
	_, _, err = s.Append(id, 1, mkBatch("old", 1, 1))
	if e := wantErr[*FencedError](t, err, ErrFenced); e.Epoch != 2 {
		t.Fatalf("fenced at %d, want 2", e.Epoch)
	}
	// A lower fence changes nothing and still reports the log end.
	if logEnd, err := s.Fence(id, 1); err != nil || logEnd != 2 {
		t.Fatalf("lower Fence = %d, %v", logEnd, err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, dir, nil)
	st := mustDescribe(t, s, id)
	if st.FenceEpoch != 2 || st.Status != StatusFenced || st.LogEnd != 2 {
		t.Fatalf("after reopen: %+v", st)
	}
	_, _, err = s.Append(id, 1, mkBatch("old", 1, 1))
	wantErr[*FencedError](t, err, ErrFenced)
	_, err = s.AppendReplica(id, 1, mkBatch("old", 1, 1))
	wantErr[*FencedError](t, err, ErrFenced)
	// The fencing epoch itself may still write.
	if first, _ := mustAppend(t, s, id, 2, mkBatch("new", 1, 1)); first != 2 {
		t.Fatalf("append at fence epoch: first %d", first)
	}
}

func TestAppendAtHigherEpochRaisesFence(t *testing.T) {
	s, _ := openTemp(t)
	id := segID(1)
	mustCreate(t, s, id, 0, 1)
	mustAppend(t, s, id, 3, mkBatch("a", 1, 1))
	_, _, err := s.Append(id, 2, mkBatch("b", 1, 1))
	if e := wantErr[*FencedError](t, err, ErrFenced); e.Epoch != 3 {
		t.Fatalf("fenced at %d, want 3", e.Epoch)
	}
}

// TestSealTrimsOldLeaderTail: an old leader wrote 10 batches but only 7
// reached a quorum; the recovery seals at the end of batch 7 and this
// replica must drop batches 8..10.
func TestSealTrimsOldLeaderTail(t *testing.T) {
	s, dir := openTemp(t)
	id := segID(1)
	mustCreate(t, s, id, 0, 1)
	var ends []uint64
	for i := 0; i < 10; i++ {
		_, next := mustAppend(t, s, id, 1, mkBatch(fmt.Sprintf("b%d", i+1), 2, int64(100*(i+1))))
		ends = append(ends, next)
	}
	if err := s.AdvanceLAC(id, ends[4]); err != nil {
		t.Fatal(err)
	}
	bytesBefore := mustDescribe(t, s, id).Bytes
	sealEnd := ends[6] // end of batch 7

	if _, err := s.Fence(id, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(id, sealEnd); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	check := func(s *Store) {
		t.Helper()
		st := mustDescribe(t, s, id)
		if !st.Sealed || st.Status != StatusSealed || st.SealedEnd != sealEnd || st.LogEnd != sealEnd || st.LAC != sealEnd {
			t.Fatalf("state after seal: %+v", st)
		}
		if st.Bytes >= bytesBefore || st.MaxTimestampMs != 700 {
			t.Fatalf("bytes %d (before %d), max ts %d", st.Bytes, bytesBefore, st.MaxTimestampMs)
		}
		got := readAll(t, s, id, 0, 1<<20, math.MaxUint64)
		if len(got) != 7 || valueOf(t, got[6], 0) != "b7/0" {
			t.Fatalf("read %d batches after seal", len(got))
		}
		if n := keysUnder(t, s, segPrefix(kindBatch, id, 0)); n != 7 {
			t.Fatalf("%d batch keys stored, want 7", n)
		}
		if off, err := s.FindOffsetByTime(id, 800); err != nil || off != sealEnd {
			t.Fatalf("FindOffsetByTime(800) = %d, %v; want %d (the trimmed batches are gone)", off, err, sealEnd)
		}
		_, _, err := s.Append(id, 2, mkBatch("late", 1, 1))
		if e := wantErr[*SealedError](t, err, ErrSealed); e.End != sealEnd {
			t.Fatalf("sealed at %d", e.End)
		}
		_, err = s.AppendRecovered(id, mkBatch("late", 1, 1))
		wantErr[*SealedError](t, err, ErrSealed)
		if _, err := s.Read(id, sealEnd+1, 1<<20, math.MaxUint64); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("read past seal: %v", err)
		}
	}
	check(s)
	// Sealing again at the same end is idempotent; at another end it fails.
	if err := s.Seal(id, sealEnd); err != nil {
		t.Fatalf("reseal: %v", err)
	}
	wantErr[*SealedError](t, s.Seal(id, ends[5]), ErrSealed)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openAt(t, dir, nil))
}

func TestSealErrorsAndRecovery(t *testing.T) {
	s, _ := openTemp(t)
	id := segID(1)
	mustCreate(t, s, id, 10, 1)
	_, end1 := mustAppend(t, s, id, 1, mkBatch("a", 3, 1)) // [10,13)
	_, end2 := mustAppend(t, s, id, 1, mkBatch("b", 3, 2)) // [13,16)

	// Inside batch b.
	if err := s.Seal(id, end1+1); !errors.Is(err, ErrNotBatchBoundary) {
		t.Fatalf("seal inside a batch: %v", err)
	}
	if err := s.Seal(id, 9); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("seal below start: %v", err)
	}
	if err := s.AdvanceLAC(id, end2); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(id, end1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("seal below LAC: %v", err)
	}

	// The recovery wants end 19, which another replica has.
	other, _ := openTemp(t)
	mustCreate(t, other, id, 10, 1)
	var tail [][]byte
	for i, tag := range []string{"a", "b", "c"} {
		b := mkBatch(tag, 3, int64(i+1))
		mustAppend(t, other, id, 1, b)
		tail = append(tail, b)
	}
	err := s.Seal(id, 19)
	if e := wantErr[*IncompleteError](t, err, ErrIncomplete); e.Have != end2 {
		t.Fatalf("incomplete: have %d, want %d", e.Have, end2)
	}
	if mustDescribe(t, s, id).Sealed {
		t.Fatal("an incomplete seal marked the segment sealed")
	}
	if _, err := s.Fence(id, 2); err != nil {
		t.Fatal(err)
	}
	// Recovery ignores the fence (the batch was written at epoch 1) but
	// keeps contiguity: resending b is a no-op, c lands.
	if next, err := s.AppendRecovered(id, tail[1]); err != nil || next != end2 {
		t.Fatalf("resend of b: %d, %v", next, err)
	}
	if next, err := s.AppendRecovered(id, tail[2]); err != nil || next != 19 {
		t.Fatalf("copy of c: %d, %v", next, err)
	}
	if err := s.Seal(id, 19); err != nil {
		t.Fatalf("seal after recovery: %v", err)
	}
	if got := readAll(t, s, id, 10, 1<<20, math.MaxUint64); len(got) != 3 || !bytes.Equal(got[2].Data, tail[2]) {
		t.Fatalf("after recovery: %d batches", len(got))
	}
}

func TestAppendReplicaContiguity(t *testing.T) {
	leader, _ := openTemp(t)
	follower, _ := openTemp(t)
	id := segID(7)
	mustCreate(t, leader, id, 50, 4)
	mustCreate(t, follower, id, 50, 4)

	var stored [][]byte
	for i := 0; i < 4; i++ {
		b := mkBatch(fmt.Sprintf("r%d", i), 2, int64(i))
		mustAppend(t, leader, id, 4, b)
		stored = append(stored, b) // patched by Append: the bytes to forward
	}
	if next, err := follower.AppendReplica(id, 4, stored[0]); err != nil || next != 52 {
		t.Fatalf("replica batch 0: %d, %v", next, err)
	}
	// Skipping batch 1.
	_, err := follower.AppendReplica(id, 4, stored[2])
	if e := wantErr[*NotContiguousError](t, err, ErrNotContiguous); e.Expected != 52 || e.Got != 54 {
		t.Fatalf("not contiguous: %+v", e)
	}
	if next, err := follower.AppendReplica(id, 4, stored[1]); err != nil || next != 54 {
		t.Fatalf("replica batch 1: %d, %v", next, err)
	}
	// An exact duplicate of the last batch is acknowledged without a write.
	before := mustDescribe(t, follower, id)
	if next, err := follower.AppendReplica(id, 4, stored[1]); err != nil || next != 54 {
		t.Fatalf("duplicate: %d, %v", next, err)
	}
	if after := mustDescribe(t, follower, id); after != before {
		t.Fatalf("duplicate changed state: %+v -> %+v", before, after)
	}
	// A different batch claiming an already stored offset is rejected.
	other := mkBatch("x", 2, 0)
	if err := recordbatch.SetFirstOffsetAndEpoch(other, 52, 4); err != nil {
		t.Fatal(err)
	}
	_, err = follower.AppendReplica(id, 4, other)
	wantErr[*NotContiguousError](t, err, ErrNotContiguous)
	// A batch stamped with an epoch above its sender's is refused.
	if _, err := follower.AppendReplica(id, 3, stored[2]); !errors.Is(err, ErrFenced) {
		t.Fatalf("sender below fence: %v", err)
	}
	if _, err := follower.AppendReplica(id, 5, stored[2]); err != nil {
		t.Fatalf("newer sender forwarding an older batch: %v", err)
	}
	future := mkBatch("f", 1, 0)
	if err := recordbatch.SetFirstOffsetAndEpoch(future, 56, 9); err != nil {
		t.Fatal(err)
	}
	if _, err := follower.AppendReplica(id, 5, future); !errors.Is(err, ErrInvalidBatch) {
		t.Fatalf("batch epoch above sender: %v", err)
	}
	// Follower and leader hold the same bytes.
	lb := readAll(t, leader, id, 50, 1<<20, 56)
	fb := readAll(t, follower, id, 50, 1<<20, 56)
	if len(lb) != 3 || len(fb) != 3 {
		t.Fatalf("leader %d, follower %d batches", len(lb), len(fb))
	}
	for i := range lb {
		if !bytes.Equal(lb[i].Data, fb[i].Data) {
			t.Fatalf("batch %d differs between leader and follower", i)
		}
	}
}

func TestLACBoundsReads(t *testing.T) {
	s, _ := openTemp(t)
	id := segID(1)
	mustCreate(t, s, id, 0, 1)
	var ends []uint64
	for i := 0; i < 5; i++ {
		_, next := mustAppend(t, s, id, 1, mkBatch(fmt.Sprintf("b%d", i), 2, 1))
		ends = append(ends, next)
	}
	if err := s.AdvanceLAC(id, ends[2]); err != nil {
		t.Fatal(err)
	}
	lac := mustDescribe(t, s, id).LAC
	if lac != ends[2] {
		t.Fatalf("LAC = %d, want %d", lac, ends[2])
	}
	if got := readAll(t, s, id, 0, 1<<20, lac); len(got) != 3 {
		t.Fatalf("read up to LAC: %d batches, want 3", len(got))
	}
	// upTo inside a batch: that batch is not served.
	if got := readAll(t, s, id, 0, 1<<20, ends[2]+1); len(got) != 3 {
		t.Fatalf("read up to mid-batch: %d batches, want 3", len(got))
	}
	if got, err := s.Read(id, ends[2], 1<<20, ends[2]+1); err != nil || len(got) != 0 {
		t.Fatalf("read of a batch crossing upTo: %d, %v", len(got), err)
	}
	// The LAC never moves back and never passes the log end.
	if err := s.AdvanceLAC(id, 1); err != nil || mustDescribe(t, s, id).LAC != lac {
		t.Fatalf("LAC moved back: %v", err)
	}
	if err := s.AdvanceLAC(id, 1000); err != nil || mustDescribe(t, s, id).LAC != ends[4] {
		t.Fatalf("LAC not clamped to log end: %d, %v", mustDescribe(t, s, id).LAC, err)
	}
}

func TestCorruptBatchNeverServed(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, s *Store, id SegmentID, firsts []uint64)
	}{
		{"flipped byte", func(t *testing.T, s *Store, id SegmentID, firsts []uint64) {
			v, closer, err := s.db.Get(batchKey(id, firsts[1]))
			if err != nil {
				t.Fatal(err)
			}
			bad := append([]byte(nil), v...)
			_ = closer.Close()
			bad[len(bad)-2] ^= 0x40
			if err := s.db.Set(batchKey(id, firsts[1]), bad, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated value", func(t *testing.T, s *Store, id SegmentID, firsts []uint64) {
			if err := s.db.Set(batchKey(id, firsts[1]), []byte{recordbatch.Version, 1, 2}, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}},
		{"valid batch under the wrong key", func(t *testing.T, s *Store, id SegmentID, firsts []uint64) {
			b := mkBatch("evil", 2, 1)
			if err := recordbatch.SetFirstOffsetAndEpoch(b, firsts[1]+100, 1); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Set(batchKey(id, firsts[1]), b, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing batch", func(t *testing.T, s *Store, id SegmentID, firsts []uint64) {
			if err := s.db.Delete(batchKey(id, firsts[1]), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTemp(t)
			id := segID(1)
			mustCreate(t, s, id, 0, 1)
			var firsts []uint64
			for i := 0; i < 3; i++ {
				first, _ := mustAppend(t, s, id, 1, mkBatch(fmt.Sprintf("b%d", i), 2, 1))
				firsts = append(firsts, first)
			}
			tt.corrupt(t, s, id, firsts)

			for _, from := range []uint64{firsts[0], firsts[1], firsts[1] + 1} {
				got, err := s.Read(id, from, 1<<20, math.MaxUint64)
				e := wantErr[*CorruptError](t, err, ErrCorrupt)
				if e.Offset != firsts[1] || e.ID != id || got != nil {
					t.Fatalf("from %d: %+v, %d batches returned", from, e, len(got))
				}
			}
			// The healthy batches around it are still served.
			if got, err := s.Read(id, firsts[0], 1<<20, firsts[1]); err != nil || len(got) != 1 {
				t.Fatalf("read before the damage: %d, %v", len(got), err)
			}
			if got, err := s.Read(id, firsts[2], 1<<20, math.MaxUint64); err != nil || len(got) != 1 {
				t.Fatalf("read after the damage: %d, %v", len(got), err)
			}
		})
	}
}

// TestCrashKeepsAcknowledgedAppends: on a crashable in-memory file system,
// a clone that keeps only synced data (what a power cut leaves) holds every
// append, creation, fence and seal that returned.
func TestCrashKeepsAcknowledgedAppends(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openAt(t, "db", fs)
	a, b := segID(1), segID(2)
	mustCreate(t, s, a, 0, 1)
	mustCreate(t, s, b, 500, 1)
	var batches [][]byte
	for i := 0; i < 20; i++ {
		batch := mkBatch(fmt.Sprintf("a%d", i), 3, int64(i))
		mustAppend(t, s, a, 1, batch)
		batches = append(batches, batch)
		mustAppend(t, s, b, 1, mkBatch(fmt.Sprintf("b%d", i), 1, int64(i)))
	}
	if _, err := s.Fence(b, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(b, 510); err != nil {
		t.Fatal(err)
	}
	if err := s.AdvanceLAC(a, 30); err != nil {
		t.Fatal(err)
	}

	crashed := openAt(t, "db", fs.CrashClone(vfs.CrashCloneCfg{}))
	sa := mustDescribe(t, crashed, a)
	if sa.LogEnd != 60 {
		t.Fatalf("segment a log end after crash: %d, want 60", sa.LogEnd)
	}
	// The LAC write is unsynced: it may be lost, never invented.
	if sa.LAC != 0 && sa.LAC != 30 {
		t.Fatalf("LAC after crash: %d", sa.LAC)
	}
	got := readAll(t, crashed, a, 0, 1<<20, math.MaxUint64)
	if len(got) != 20 {
		t.Fatalf("%d batches after crash, want 20", len(got))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, batches[i]) {
			t.Fatalf("batch %d differs after crash", i)
		}
	}
	sb := mustDescribe(t, crashed, b)
	if !sb.Sealed || sb.SealedEnd != 510 || sb.LogEnd != 510 || sb.FenceEpoch != 2 {
		t.Fatalf("segment b after crash: %+v", sb)
	}
	if got := readAll(t, crashed, b, 500, 1<<20, math.MaxUint64); len(got) != 10 {
		t.Fatalf("segment b: %d batches after crash, want 10", len(got))
	}
}

// TestCrashUnsyncedAppends: appends made without sync may be lost by a
// crash (always a suffix of the WAL, so the store stays consistent: the
// metadata matches the batches that survived), the durable end never
// counts them, and after a Sync, a synced append, a fence or a seal every
// earlier append survives, on any segment.
func TestCrashUnsyncedAppends(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openAt(t, "db", fs)
	a, b := segID(1), segID(2)
	mustCreate(t, s, a, 0, 1)
	mustCreate(t, s, b, 100, 1)
	appendU := func(id SegmentID, tag string) uint64 {
		t.Helper()
		_, next, err := s.AppendUnsynced(id, 1, mkBatch(tag, 2, 1))
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	for i := 0; i < 5; i++ {
		appendU(a, fmt.Sprintf("a%d", i))
	}
	if st := mustDescribe(t, s, a); st.LogEnd != 10 || st.DurableEnd != 0 {
		t.Fatalf("after unsynced appends: %+v", st)
	}
	// A crash now may lose any suffix of them; whatever survived is
	// consistent.
	checkConsistent := func(st *Store, id SegmentID, start, minEnd uint64) uint64 {
		t.Helper()
		sd := mustDescribe(t, st, id)
		if sd.LogEnd < minEnd || sd.DurableEnd != sd.LogEnd {
			t.Fatalf("%s after crash: %+v, want log end >= %d", id, sd, minEnd)
		}
		got := readAll(t, st, id, start, 1<<20, math.MaxUint64)
		if n := uint64(len(got)) * 2; n != sd.LogEnd-start {
			t.Fatalf("%s after crash: %d batches for log end %d", id, len(got), sd.LogEnd)
		}
		return sd.LogEnd
	}
	for i := 0; i < 8; i++ {
		c := openAt(t, "db", fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(uint64(i), 7))}))
		checkConsistent(c, a, 0, 0)
	}
	ends, err := s.Sync(a)
	if err != nil || len(ends) != 1 || ends[0] != 10 {
		t.Fatalf("Sync = %v, %v", ends, err)
	}
	// Unsynced appends to b, then a synced append to a: the sync covers b.
	appendU(b, "b0")
	appendU(b, "b1")
	mustAppend(t, s, a, 1, mkBatch("a5", 2, 1))
	if st := mustDescribe(t, s, b); st.DurableEnd != 100 {
		t.Fatalf("b durable end %d before its own sync", st.DurableEnd)
	}
	c := openAt(t, "db", fs.CrashClone(vfs.CrashCloneCfg{}))
	checkConsistent(c, a, 0, 12)
	checkConsistent(c, b, 100, 104)
	// Sync with nothing new writes nothing and reports the durable ends.
	if ends, err := s.Sync(a, b); err != nil || ends[0] != 12 || ends[1] != 104 {
		t.Fatalf("Sync = %v, %v", ends, err)
	}
	// A fence and a seal order after unsynced appends.
	appendU(a, "a6")
	if end, err := s.Fence(a, 1); err != nil || end != 14 {
		t.Fatalf("Fence at the same epoch = %d, %v", end, err)
	}
	if st := mustDescribe(t, s, a); st.DurableEnd != 14 {
		t.Fatalf("durable end after fence: %+v", st)
	}
	appendU(a, "a7")
	appendU(b, "b2")
	if err := s.Seal(a, 14); err != nil { // trims a7
		t.Fatal(err)
	}
	if st := mustDescribe(t, s, a); st.DurableEnd != 14 || st.LogEnd != 14 {
		t.Fatalf("after the trimming seal: %+v", st)
	}
	c = openAt(t, "db", fs.CrashClone(vfs.CrashCloneCfg{}))
	if sa := mustDescribe(t, c, a); !sa.Sealed || sa.LogEnd != 14 {
		t.Fatalf("a after crash: %+v", sa)
	}
	checkConsistent(c, a, 0, 14)
	checkConsistent(c, b, 100, 106)
}

func TestFindOffsetByTime(t *testing.T) {
	s, _ := openTemp(t)
	id := segID(1)
	mustCreate(t, s, id, 1000, 1)
	if off, err := s.FindOffsetByTime(id, 0); err != nil || off != 1000 {
		t.Fatalf("empty segment: %d, %v", off, err)
	}
	// Timestamps are not monotonic across batches.
	var firsts []uint64
	for i, ts := range []int64{100, 50, 200, 150, 300} {
		first, _ := mustAppend(t, s, id, 1, mkBatch(fmt.Sprintf("b%d", i), 2, ts))
		firsts = append(firsts, first)
	}
	tests := []struct {
		ts   int64
		want uint64
	}{
		{math.MinInt64, firsts[0]},
		{-5, firsts[0]},
		{50, firsts[0]},
		{100, firsts[0]},
		{101, firsts[2]},
		{150, firsts[2]},
		{200, firsts[2]},
		{201, firsts[4]},
		{300, firsts[4]},
		{301, 1010},
		{math.MaxInt64, 1010},
	}
	for _, tt := range tests {
		if got, err := s.FindOffsetByTime(id, tt.ts); err != nil || got != tt.want {
			t.Errorf("FindOffsetByTime(%d) = %d, %v; want %d", tt.ts, got, err, tt.want)
		}
	}
	if n := keysUnder(t, s, segPrefix(kindTime, id, 0)); n != 3 {
		t.Fatalf("time index holds %d entries, want 3 (sparse)", n)
	}
}

func TestDeleteSegment(t *testing.T) {
	s, dir := openTemp(t)
	// Names that are prefixes of each other must not share keys.
	a := SegmentID{Tenant: "t", Shard: "ab", Seq: 1}
	b := SegmentID{Tenant: "ta", Shard: "b", Seq: 1}
	c := SegmentID{Tenant: "t", Shard: "ab", Seq: 2}
	for _, id := range []SegmentID{a, b, c} {
		mustCreate(t, s, id, 0, 1)
		for i := 0; i < 3; i++ {
			mustAppend(t, s, id, 1, mkBatch(id.String(), 2, int64(i)))
		}
	}
	if err := s.DeleteSegment(a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Describe(a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Describe deleted: %v", err)
	}
	if _, err := s.Read(a, 0, 1<<20, math.MaxUint64); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read deleted: %v", err)
	}
	if err := s.DeleteSegment(a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	for _, kind := range []byte{kindMeta, kindBatch, kindTime} {
		if n := keysUnder(t, s, segPrefix(kind, a, 0)); n != 0 {
			t.Fatalf("kind %c: %d keys left", kind, n)
		}
	}
	for _, id := range []SegmentID{b, c} {
		if got := readAll(t, s, id, 0, 1<<20, math.MaxUint64); len(got) != 3 {
			t.Fatalf("%s: %d batches after deleting %s", id, len(got), a)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, dir, nil)
	list, err := s.ListSegments()
	if err != nil || len(list) != 2 || list[0].ID != c || list[1].ID != b {
		t.Fatalf("ListSegments after reopen = %+v, %v", list, err)
	}
	// The id can be created afresh.
	mustCreate(t, s, a, 40, 2)
	if st := mustDescribe(t, s, a); st.LogEnd != 40 || st.Bytes != 0 {
		t.Fatalf("recreated: %+v", st)
	}
}

func TestCreateSegment(t *testing.T) {
	s, _ := openTemp(t)
	id := segID(1)
	mustCreate(t, s, id, 5, 2)
	mustCreate(t, s, id, 5, 2) // identical: idempotent
	for _, args := range [][2]uint64{{6, 2}, {5, 3}} {
		err := s.CreateSegment(id, args[0], args[1])
		if e := wantErr[*AlreadyExistsError](t, err, ErrAlreadyExists); e.StartOffset != 5 || e.Epoch != 2 {
			t.Fatalf("exists: %+v", e)
		}
	}
	for _, bad := range []SegmentID{{Shard: "s"}, {Tenant: "t"}, {Tenant: string(make([]byte, MaxNameLen+1)), Shard: "s"}} {
		if err := s.CreateSegment(bad, 0, 1); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("CreateSegment(%+v): %v", bad, err)
		}
	}
	st := mustDescribe(t, s, id)
	want := SegmentState{ID: id, Status: StatusOpen, StartOffset: 5, Epoch: 2, FenceEpoch: 2, LogEnd: 5, DurableEnd: 5, LAC: 5, MaxTimestampMs: math.MinInt64}
	if st != want {
		t.Fatalf("Describe = %+v, want %+v", st, want)
	}

	// Concurrent creations of one id: all succeed, one write.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.CreateSegment(segID(9), 0, 1)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnknownSegmentAndClosedStore(t *testing.T) {
	s, _ := openTemp(t)
	id := segID(404)
	calls := map[string]func() error{
		"Append":           func() error { _, _, err := s.Append(id, 1, mkBatch("a", 1, 1)); return err },
		"AppendReplica":    func() error { _, err := s.AppendReplica(id, 1, mkBatch("a", 1, 1)); return err },
		"AppendRecovered":  func() error { _, err := s.AppendRecovered(id, mkBatch("a", 1, 1)); return err },
		"AdvanceLAC":       func() error { return s.AdvanceLAC(id, 1) },
		"Fence":            func() error { _, err := s.Fence(id, 1); return err },
		"Seal":             func() error { return s.Seal(id, 0) },
		"Read":             func() error { _, err := s.Read(id, 0, 1, 1); return err },
		"FindOffsetByTime": func() error { _, err := s.FindOffsetByTime(id, 0); return err },
		"Describe":         func() error { _, err := s.Describe(id); return err },
		"DeleteSegment":    func() error { return s.DeleteSegment(id) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s on unknown segment: %v", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if _, err := s.ListSegments(); !errors.Is(err, ErrClosed) {
		t.Errorf("ListSegments after Close: %v", err)
	}
}

func TestInvalidBatchesRejected(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Limits: recordbatch.Limits{MaxRecords: 4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	id := segID(1)
	mustCreate(t, s, id, 0, 1)
	damaged := mkBatch("a", 1, 1)
	damaged[len(damaged)-1] ^= 1
	tests := []struct {
		name  string
		batch []byte
		also  error
	}{
		{"garbage", []byte("not a batch"), recordbatch.ErrUnsupported},
		{"damaged", damaged, recordbatch.ErrCorrupt},
		{"too many records", mkBatch("a", 5, 1), recordbatch.ErrTooLarge},
		{"empty", mkBatch("a", 0, 1), ErrInvalidBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]byte(nil), tt.batch...)
			_, _, err := s.Append(id, 1, tt.batch)
			if !errors.Is(err, ErrInvalidBatch) || !errors.Is(err, tt.also) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("Append: %v", err)
			}
			if !bytes.Equal(before, tt.batch) {
				t.Fatal("a rejected batch was modified")
			}
			if _, err := s.AppendRecovered(id, tt.batch); !errors.Is(err, ErrInvalidBatch) {
				t.Fatalf("AppendRecovered: %v", err)
			}
		})
	}
	if st := mustDescribe(t, s, id); st.LogEnd != 0 || st.Bytes != 0 {
		t.Fatalf("rejected batches changed the segment: %+v", st)
	}
}

// TestReadsRacingTrimAndDeleteNeverSeeCorruption: readers asking for
// everything (upTo unbounded) while a seal trims the tail or the segment is
// deleted see either the before or the after state, never a hole that
// would look like corruption.
func TestReadsRacingTrimAndDeleteNeverSeeCorruption(t *testing.T) {
	s, _ := openTemp(t)
	const rounds, batches = 6, 30
	for r := uint32(0); r < rounds; r++ {
		id := segID(100 + r)
		mustCreate(t, s, id, 0, 1)
		var ends []uint64
		for i := 0; i < batches; i++ {
			_, next := mustAppend(t, s, id, 1, mkBatch(fmt.Sprintf("b%d", i), 1+i%3, int64(i)))
			ends = append(ends, next)
		}
		done := make(chan struct{})
		errs := make(chan error, 2)
		var wg sync.WaitGroup
		for reader := 0; reader < 2; reader++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10_000; i++ {
					select {
					case <-done:
						return
					default:
					}
					got, err := s.Read(id, 0, 1<<30, math.MaxUint64)
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					if n := len(got); n != batches && n != batches/2 {
						errs <- fmt.Errorf("read %d batches", n)
						return
					}
				}
			}()
		}
		if err := s.Seal(id, ends[batches/2-1]); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSegment(id); err != nil {
			t.Fatal(err)
		}
		close(done)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", r, err)
		}
	}
}

// TestAppendReplicasUnsynced checks the follower's group append: one
// commit for the contiguous prefix, stopping (without error) where a
// single AppendReplicaUnsynced would refuse or deduplicate, the same
// stored bytes, index and metadata as one-by-one appends, and durability
// only after Sync.
func TestAppendReplicasUnsynced(t *testing.T) {
	leader, _ := openTemp(t)
	group, dir := openTemp(t)
	single, _ := openTemp(t)
	id := segID(8)
	mustCreate(t, leader, id, 10, 2)
	mustCreate(t, group, id, 10, 2)
	mustCreate(t, single, id, 10, 2)
	var stored [][]byte
	for i := 0; i < 5; i++ {
		b := mkBatch(fmt.Sprintf("g%d", i), 3, int64(100-i*10+i*i*20))
		mustAppend(t, leader, id, 2, b)
		stored = append(stored, b)
	}
	for _, b := range stored {
		if _, err := single.AppendReplicaUnsynced(id, 2, b); err != nil {
			t.Fatal(err)
		}
	}
	// Batch 3 is skipped: the run stops before it.
	ends, err := group.AppendReplicasUnsynced(id, 2, [][]byte{stored[0], stored[1], stored[2], stored[4]})
	if err != nil || !slices.Equal(ends, []uint64{13, 16, 19}) {
		t.Fatalf("group append: %v, %v", ends, err)
	}
	// A resend of stored batches appends nothing (the caller's single
	// append acknowledges it); a lower epoch appends nothing.
	if ends, err := group.AppendReplicasUnsynced(id, 2, [][]byte{stored[1], stored[2]}); err != nil || len(ends) != 0 {
		t.Fatalf("resend: %v, %v", ends, err)
	}
	if ends, err := group.AppendReplicasUnsynced(id, 1, [][]byte{stored[3], stored[4]}); err != nil || len(ends) != 0 {
		t.Fatalf("stale epoch: %v, %v", ends, err)
	}
	if st := mustDescribe(t, group, id); st.LogEnd != 19 || st.DurableEnd > 10 {
		t.Fatalf("before sync: %+v", st)
	}
	if ends, err := group.AppendReplicasUnsynced(id, 2, stored[3:]); err != nil || !slices.Equal(ends, []uint64{22, 25}) {
		t.Fatalf("rest: %v, %v", ends, err)
	}
	if got, err := group.Sync(id); err != nil || got[0] != 25 {
		t.Fatalf("sync: %v, %v", got, err)
	}
	want, got := mustDescribe(t, single, id), mustDescribe(t, group, id)
	want.DurableEnd = got.DurableEnd
	if want != got {
		t.Fatalf("group state %+v, one by one %+v", got, want)
	}
	for _, ts := range []int64{0, 85, 100, 150, 1000} {
		a, errA := single.FindOffsetByTime(id, ts)
		b, errB := group.FindOffsetByTime(id, ts)
		if a != b || (errA == nil) != (errB == nil) {
			t.Fatalf("time index at %d: one by one %d %v, group %d %v", ts, a, errA, b, errB)
		}
	}
	a, b := readAll(t, single, id, 10, 1<<20, 25), readAll(t, group, id, 10, 1<<20, 25)
	if len(a) != len(b) {
		t.Fatalf("read %d batches, want %d", len(b), len(a))
	}
	for i := range a {
		if !bytes.Equal(a[i].Data, b[i].Data) {
			t.Fatalf("batch %d differs", i)
		}
	}
	// Reopened: everything synced is there.
	if err := group.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := openAt(t, dir, nil)
	if st := mustDescribe(t, reopened, id); st.LogEnd != 25 || st.DurableEnd != 25 {
		t.Fatalf("after reopen: %+v", st)
	}
}

// TestObserveSyncAndDiskUsage: synced writes (create, synced append, Sync
// after an unsynced append) are reported to ObserveSync, unsynced ones are
// not, and DiskUsage counts the files written.
func TestObserveSyncAndDiskUsage(t *testing.T) {
	var syncs []time.Duration
	s, err := Open(t.TempDir(), Options{CacheBytes: 8 << 20, ObserveSync: func(d time.Duration) { syncs = append(syncs, d) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	id := segID(1)
	if err := s.CreateSegment(id, 0, 1); err != nil {
		t.Fatal(err)
	}
	if len(syncs) != 1 {
		t.Fatalf("after CreateSegment: %d syncs observed, want 1", len(syncs))
	}
	if _, _, err := s.Append(id, 1, mkBatch("a", 2, 1)); err != nil {
		t.Fatal(err)
	}
	if len(syncs) != 2 {
		t.Fatalf("after a synced append: %d syncs observed, want 2", len(syncs))
	}
	if _, _, err := s.AppendUnsynced(id, 1, mkBatch("b", 2, 1)); err != nil {
		t.Fatal(err)
	}
	if len(syncs) != 2 {
		t.Fatalf("an unsynced append was observed as a sync (%d)", len(syncs))
	}
	if _, err := s.Sync(id); err != nil {
		t.Fatal(err)
	}
	if len(syncs) != 3 {
		t.Fatalf("after Sync: %d syncs observed, want 3", len(syncs))
	}
	if n, err := s.DiskUsage(); err != nil || n == 0 {
		t.Fatalf("DiskUsage = %d, %v", n, err)
	}
}

// TestSSTablesHoldOneSegmentsBatches checks the output split of
// outputSpan: after flushes and a full compaction of interleaved appends to
// two segments, no sstable mixes one segment's batches with another
// segment's batches or with metadata and time index keys (which would make
// every later flush overlap it and drag the batches through merges).
func TestSSTablesHoldOneSegmentsBatches(t *testing.T) {
	s, _ := openTemp(t)
	a := segID(1)
	b := SegmentID{Tenant: "default", Shard: "payments-3", Seq: 7}
	mustCreate(t, s, a, 0, 1)
	mustCreate(t, s, b, 0, 1)

	// spanOf names what a key belongs to: one segment's batches, or the
	// rest of the key space.
	spanOf := func(key []byte) string {
		if len(key) == 0 || key[0] != kindBatch {
			return "other"
		}
		id, _, err := parseSegPrefix(kindBatch, key)
		if err != nil {
			t.Fatalf("malformed batch key %x: %v", key, err)
		}
		return "batches of " + id.String()
	}
	check := func(stage string) {
		t.Helper()
		levels, err := s.db.SSTables()
		if err != nil {
			t.Fatalf("SSTables: %v", err)
		}
		tables := 0
		spans := map[string]bool{}
		for _, level := range levels {
			for _, tbl := range level {
				tables++
				lo, hi := spanOf(tbl.Smallest.UserKey), spanOf(tbl.Largest.UserKey)
				if lo != hi {
					t.Errorf("%s: sstable %s spans %q (%x) to %q (%x)", stage, tbl.FileNum, lo, tbl.Smallest.UserKey, hi, tbl.Largest.UserKey)
				}
				spans[lo] = true
			}
		}
		// Both segments' batches and the metadata are on disk, so at least
		// three spans; a check that saw no tables would prove nothing.
		if len(spans) < 3 {
			t.Fatalf("%s: %d sstables cover only %v", stage, tables, spans)
		}
	}

	for round := range 3 {
		for i := range 20 {
			tag := fmt.Sprintf("r%d-%d", round, i)
			mustAppend(t, s, a, 1, mkBatch("a-"+tag, 3, int64(1000+i)))
			mustAppend(t, s, b, 1, mkBatch("b-"+tag, 2, int64(1000+i)))
		}
		if err := s.db.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		check(fmt.Sprintf("after flush %d", round))
	}
	if err := s.db.Compact(t.Context(), []byte{0}, []byte{0xff}, false); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	check("after compaction")
	// The split changes where tables end, never what is stored.
	if got := len(readAll(t, s, a, 0, 1<<20, mustDescribe(t, s, a).LogEnd)); got != 60 {
		t.Fatalf("segment %s: read %d batches, want 60", a, got)
	}
}

// BenchmarkAppendWriteAmplification appends b.N batches of 16 random
// 1 KiB records to one segment (one synced append each, as a leader under
// load), lets flushes and compactions finish, and reports the sstable
// bytes Pebble wrote per appended byte: 1 would be every batch written
// once into an sstable; the WAL is not counted.
//
//	go test -run '^$' -bench AppendWriteAmplification -benchtime 12000x ./internal/segstore
func BenchmarkAppendWriteAmplification(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	id := segID(1)
	if err := s.CreateSegment(id, 0, 1); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	appended := 0
	b.ResetTimer()
	for range b.N {
		batch := recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1}}
		for range 16 {
			v := make([]byte, 1024)
			for i := range v {
				v[i] = byte(rng.Uint32())
			}
			batch.Records = append(batch.Records, recordbatch.Record{TimestampMs: 1, Value: v})
		}
		raw := recordbatch.Encode(batch)
		if _, _, err := s.Append(id, 1, raw); err != nil {
			b.Fatal(err)
		}
		appended += len(raw)
	}
	if err := s.db.Flush(); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for s.db.Metrics().Compact.NumInProgress > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	tot := s.db.Metrics().Total()
	b.ReportMetric(float64(tot.TableBytesFlushed+tot.TableBytesCompacted)/float64(appended), "sst-bytes/appended-byte")
	b.ReportMetric(float64(appended)/1e6, "appended-MB")
}
