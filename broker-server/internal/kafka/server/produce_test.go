package server

import (
	"testing"

	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/wire"
)

func TestIdempotenceSequences(t *testing.T) {
	id := newIdempotence()
	k := producerKey{pid: 7, topic: "t", partition: 0}
	o1 := &appendOutcome{done: make(chan struct{})}
	prev, code, commit := id.check(k, 0, 0, 5, o1)
	if prev != nil || code != wire.ErrNone || commit == nil {
		t.Fatalf("first batch: %v %d", prev, code)
	}
	commit(true)
	// A retry of the same batch is answered with the first outcome.
	prev, code, _ = id.check(k, 0, 0, 5, &appendOutcome{})
	if prev != o1 || code != wire.ErrNone {
		t.Fatalf("duplicate: %v %d", prev, code)
	}
	// A gap is out of order; an older sequence outside the window is a
	// duplicate; an older epoch is fenced.
	if _, code, _ = id.check(k, 0, 9, 1, &appendOutcome{}); code != wire.ErrOutOfOrderSequenceNumber {
		t.Fatalf("gap: %d", code)
	}
	if _, code, _ = id.check(k, 0, 2, 1, &appendOutcome{}); code != wire.ErrDuplicateSequenceNumber {
		t.Fatalf("overlap: %d", code)
	}
	o2 := &appendOutcome{done: make(chan struct{})}
	prev, code, commit = id.check(k, 0, 5, 3, o2)
	if prev != nil || code != wire.ErrNone {
		t.Fatalf("next batch: %v %d", prev, code)
	}
	// A failed append forgets the producer, so the client's retry of it is
	// accepted.
	commit(false)
	if prev, code, _ = id.check(k, 0, 5, 3, &appendOutcome{}); prev != nil || code != wire.ErrNone {
		t.Fatalf("retry after failure: %v %d", prev, code)
	}
	if _, code, _ = id.check(producerKey{pid: 7, topic: "t", partition: 0}, -1, 8, 1, &appendOutcome{}); code != wire.ErrInvalidProducerEpoch {
		t.Fatalf("old epoch: %d", code)
	}
	// A new epoch starts over.
	if prev, code, _ = id.check(k, 1, 0, 1, &appendOutcome{}); prev != nil || code != wire.ErrNone {
		t.Fatalf("new epoch: %v %d", prev, code)
	}
}

func TestLeadershipSpread(t *testing.T) {
	bs := []broker{{id: 3}, {id: 5}, {id: 9}}
	for p, want := range []int32{3, 5, 9, 3} {
		if got := leaderOf(bs, p); got != want {
			t.Fatalf("partition %d led by %d, want %d", p, got, want)
		}
	}
	a, _ := coordinatorOf(bs, "group-a")
	b, _ := coordinatorOf(bs, "group-a")
	if a != b {
		t.Fatal("coordinator choice is not deterministic")
	}
	if !validTopic("a.b_c-1") || validTopic("a/b") || validTopic("..") || validTopic("") {
		t.Fatal("topic name rules")
	}
}
