package segstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/robustmq/robustmq-go/common/recordbatch"
)

func openAt(t *testing.T, dir string, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open(dir, Options{FS: fs, CacheBytes: 8 << 20})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	return openAt(t, dir, nil), dir
}

func segID(seq uint32) SegmentID {
	return SegmentID{Tenant: "default", Shard: "orders-0", Seq: seq}
}

// mkBatch encodes a batch of n records whose values name the batch (tag)
// and record index, all stamped ts.
func mkBatch(tag string, n int, ts int64) []byte {
	b := recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1}}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, recordbatch.Record{
			TimestampMs: ts,
			Key:         []byte(tag),
			Value:       []byte(fmt.Sprintf("%s/%d", tag, i)),
		})
	}
	return recordbatch.Encode(b)
}

func mustCreate(t *testing.T, s *Store, id SegmentID, start, epoch uint64) {
	t.Helper()
	if err := s.CreateSegment(id, start, epoch); err != nil {
		t.Fatalf("CreateSegment(%s): %v", id, err)
	}
}

func mustAppend(t *testing.T, s *Store, id SegmentID, epoch uint64, batch []byte) (uint64, uint64) {
	t.Helper()
	first, next, err := s.Append(id, epoch, batch)
	if err != nil {
		t.Fatalf("Append(%s, epoch %d): %v", id, epoch, err)
	}
	return first, next
}

func mustDescribe(t *testing.T, s *Store, id SegmentID) SegmentState {
	t.Helper()
	st, err := s.Describe(id)
	if err != nil {
		t.Fatalf("Describe(%s): %v", id, err)
	}
	return st
}

// readAll reads [from, upTo) in chunks of maxBytes and checks the batches
// are contiguous, CRC-valid and decodable.
func readAll(t *testing.T, s *Store, id SegmentID, from uint64, maxBytes int, upTo uint64) []StoredBatch {
	t.Helper()
	var out []StoredBatch
	for i := 0; i < 100_000; i++ {
		got, err := s.Read(id, from, maxBytes, upTo)
		if err != nil {
			t.Fatalf("Read(%s, %d, %d, %d): %v", id, from, maxBytes, upTo, err)
		}
		if len(got) == 0 {
			return out
		}
		for _, b := range got {
			if b.Header.FirstOffset > from || b.Header.NextOffset() <= from {
				t.Fatalf("batch [%d,%d) does not hold offset %d", b.Header.FirstOffset, b.Header.NextOffset(), from)
			}
			if _, err := recordbatch.Decode(b.Data, recordbatch.Limits{}); err != nil {
				t.Fatalf("served batch at %d does not decode: %v", b.Header.FirstOffset, err)
			}
			from = b.Header.NextOffset()
		}
		out = append(out, got...)
	}
	t.Fatal("readAll did not finish")
	return nil
}

// keysUnder counts the raw Pebble keys with prefix.
func keysUnder(t *testing.T, s *Store, prefix []byte) int {
	t.Helper()
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	defer iter.Close()
	n := 0
	for ok := iter.First(); ok; ok = iter.Next() {
		n++
	}
	return n
}

func wantErr[E error](t *testing.T, err error, sentinel error) E {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	var typed E
	if !errors.As(err, &typed) {
		t.Fatalf("err = %v (%T), want type %T", err, err, typed)
	}
	return typed
}

func valueOf(t *testing.T, b StoredBatch, i int) string {
	t.Helper()
	d, err := recordbatch.Decode(b.Data, recordbatch.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return string(d.Records[i].Value)
}
