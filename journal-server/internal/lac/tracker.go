package lac

import (
	"context"
	"sort"
	"sync"
)

// Tracker tracks the log end of every replica of one segment and the LAC
// that follows from them. Safe for concurrent use.
type Tracker struct {
	mu      sync.Mutex
	quorum  int
	ends    map[uint64]uint64 // replica node id -> durable log end
	lac     uint64
	changed chan struct{} // closed and replaced whenever lac moves
	failed  error         // set by Fail: waiters return it
}

// New tracks replicas starting at start (the segment's start offset or a
// recovered LAC) with the given ack quorum.
func New(replicas []uint64, quorum int, start uint64) *Tracker {
	t := &Tracker{quorum: quorum, ends: map[uint64]uint64{}, lac: start, changed: make(chan struct{})}
	for _, r := range replicas {
		t.ends[r] = start
	}
	return t
}

// Update records that replica's log end is durable at end and returns the
// new LAC. Ends of unknown replicas are ignored; an end never moves back.
func (t *Tracker) Update(replica, end uint64) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.ends[replica]
	if !ok || end <= cur {
		return t.lac
	}
	t.ends[replica] = end
	ends := make([]uint64, 0, len(t.ends))
	for _, e := range t.ends {
		ends = append(ends, e)
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i] > ends[j] })
	if t.quorum >= 1 && t.quorum <= len(ends) {
		if q := ends[t.quorum-1]; q > t.lac {
			t.lac = q
			close(t.changed)
			t.changed = make(chan struct{})
		}
	}
	return t.lac
}

// LAC returns the current last add confirmed.
func (t *Tracker) LAC() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lac
}

// End returns a replica's recorded log end.
func (t *Tracker) End(replica uint64) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ends[replica]
}

// Fail makes every current and future WaitFor return err (the segment was
// fenced or sealed under the writer).
func (t *Tracker) Fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed == nil {
		t.failed = err
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// WaitFor blocks until LAC >= offset, the tracker fails, or ctx ends.
func (t *Tracker) WaitFor(ctx context.Context, offset uint64) (uint64, error) {
	for {
		t.mu.Lock()
		lac, failed, ch := t.lac, t.failed, t.changed
		t.mu.Unlock()
		if lac >= offset {
			return lac, nil
		}
		if failed != nil {
			return lac, failed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return lac, ctx.Err()
		}
	}
}
