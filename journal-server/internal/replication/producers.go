package replication

import (
	"fmt"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
)

// recentBatches is how many batches per producer the table remembers the
// offsets of (a producer's in-flight window; Kafka uses 5).
const recentBatches = 8

// batchRef is one remembered batch of a producer.
type batchRef struct {
	base, last  int64 // sequences of its first and last record
	first, next uint64
}

type producerState struct {
	epoch   uint32
	lastSeq int64
	recent  []batchRef // oldest first
}

// producers is the idempotent producer table of one shard as seen by the
// leader of its open segment. Not safe for concurrent use (the leader's
// append mutex guards it).
type producers struct {
	m map[uint64]*producerState
}

func newProducers() *producers { return &producers{m: map[uint64]*producerState{}} }

// idempotent reports whether a batch takes part in deduplication.
func idempotent(h recordbatch.Header) bool { return h.ProducerID > 0 && h.BaseSequence >= 0 }

// dupResult is check's verdict on a duplicate.
type dupResult struct {
	dup         bool
	known       bool // the original's offsets are remembered
	first, next uint64
}

// check decides whether the batch with header h may be appended. It
// returns a duplicate verdict, an InvalidArgument error, or neither
// (append).
func (p *producers) check(h recordbatch.Header) (dupResult, error) {
	if !idempotent(h) {
		return dupResult{}, nil
	}
	st, ok := p.m[h.ProducerID]
	if !ok || h.ProducerEpoch > st.epoch {
		return dupResult{}, nil
	}
	if h.ProducerEpoch < st.epoch {
		return dupResult{}, rpcerr.InvalidArgument("producer_epoch",
			fmt.Sprintf("%d is below producer %d's current epoch %d", h.ProducerEpoch, h.ProducerID, st.epoch))
	}
	base := int64(h.BaseSequence)
	switch {
	case base == st.lastSeq+1:
		return dupResult{}, nil
	case base <= st.lastSeq:
		for _, r := range st.recent {
			if r.base == base {
				return dupResult{dup: true, known: true, first: r.first, next: r.next}, nil
			}
		}
		return dupResult{dup: true}, nil
	default:
		return dupResult{}, rpcerr.InvalidArgument("base_sequence",
			fmt.Sprintf("out of order for producer %d: expected %d, got %d", h.ProducerID, st.lastSeq+1, base))
	}
}

// record notes a written batch (or one read back while seeding).
func (p *producers) record(h recordbatch.Header, first, next uint64) {
	if !idempotent(h) || h.Count == 0 {
		return
	}
	st, ok := p.m[h.ProducerID]
	if !ok || h.ProducerEpoch > st.epoch {
		st = &producerState{epoch: h.ProducerEpoch}
		p.m[h.ProducerID] = st
	} else if h.ProducerEpoch < st.epoch {
		return
	}
	ref := batchRef{base: int64(h.BaseSequence), last: int64(h.BaseSequence) + int64(h.Count) - 1, first: first, next: next}
	st.lastSeq = ref.last
	st.recent = append(st.recent, ref)
	if len(st.recent) > recentBatches {
		st.recent = append(st.recent[:0], st.recent[len(st.recent)-recentBatches:]...)
	}
}
