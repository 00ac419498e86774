package replication

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
)

func TestProducerTable(t *testing.T) {
	p := newProducers()
	h := func(pid uint64, epoch uint32, base int32, count uint32) recordbatch.Header {
		return recordbatch.Header{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: base, Count: count}
	}
	steps := []struct {
		h           recordbatch.Header
		dup, known  bool
		first, next uint64
		code        codes.Code
		write       bool
	}{
		{h: h(0, 0, -1, 3), write: true},           // not idempotent
		{h: h(1, 0, 0, 3), write: true},            // unknown producer
		{h: h(1, 0, 0, 3), dup: true, known: true}, // retry
		{h: h(1, 0, 3, 2), write: true},
		{h: h(1, 0, 0, 3), dup: true, known: true}, // older retry still remembered
		{h: h(1, 0, 9, 1), code: codes.InvalidArgument},
		{h: h(1, 1, 0, 1), write: true}, // new producer epoch resets
		{h: h(1, 0, 5, 1), code: codes.InvalidArgument},
	}
	offset := uint64(0)
	firsts := map[int32]uint64{}
	for i, s := range steps {
		d, err := p.check(s.h)
		if got := status.Code(err); got != s.code {
			t.Fatalf("step %d: code %v, want %v (%v)", i, got, s.code, err)
		}
		if d.dup != s.dup || d.known != s.known {
			t.Fatalf("step %d: dup %+v", i, d)
		}
		if d.dup && d.first != firsts[s.h.BaseSequence] {
			t.Fatalf("step %d: duplicate at %d, want %d", i, d.first, firsts[s.h.BaseSequence])
		}
		if s.write {
			p.record(s.h, offset, offset+uint64(s.h.Count))
			if s.h.ProducerEpoch == 0 {
				firsts[s.h.BaseSequence] = offset
			}
			offset += uint64(s.h.Count)
		}
	}
	// Only the last recentBatches are remembered.
	q := newProducers()
	for i := 0; i < 20; i++ {
		q.record(h(2, 0, int32(i), 1), uint64(i), uint64(i+1))
	}
	if d, _ := q.check(h(2, 0, 0, 1)); !d.dup || d.known {
		t.Fatalf("forgotten batch: %+v", d)
	}
	if d, _ := q.check(h(2, 0, 19, 1)); !d.dup || !d.known || d.first != 19 {
		t.Fatalf("recent batch: %+v", d)
	}
}
