package streamclient

import (
	"context"
	"errors"
	"sync"
	"time"
)

// inbox is where callers hand their appends to one partition's writer.
//
// Why not a channel the writer receives from one append at a time: an
// answer reports a whole batch of callers from the writer's goroutine,
// and each of them hands over its next append at once. Through an
// unbuffered channel every hand-over waited for the writer to come back
// to its select, so the callers and the writer took turns, one append a
// turn, while the batch about to leave waited for them (gather). Here a
// caller adds without waiting for the writer, which takes everything
// added so far in one go.
//
// The bound is the writer's: put waits while the appends in the inbox and
// those the writer holds (publish) come to limit (ProducerOptions.
// MaxQueued), except while the writer is stuck, when it takes everything
// to fail it at once (partWriter.add).
//
// INVARIANT: while items is not empty, ready holds a token or the writer
// is about to look at items (it took the token and has not yet taken).
// put signals ready when it adds to an empty inbox, and take signals it
// again when it leaves items behind; so a writer that selects on ready
// never misses an append.
type inbox struct {
	limit int // appends held (here and by the writer) before put waits

	mu     sync.Mutex
	items  []*pending
	closed bool
	held   int  // appends the writer holds, as it last published (plus takes since)
	stuck  bool // the writer takes everything (and fails what has no room)

	ready chan struct{} // cap 1: items is not empty
	space chan struct{} // cap 1: the writer took items (room again)
}

func newInbox(limit int) *inbox {
	return &inbox{limit: max(limit, 1), ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

// errInboxFull is what put returns when the inbox stayed full until the
// batch's deadline.
var errInboxFull = errors.New("partition queue full")

// put adds pe, waiting while the inbox is full until ctx ends, deadline
// passes (errInboxFull) or stop is closed (ErrClosed). After close it
// returns ErrClosed and the writer never sees pe.
func (b *inbox) put(ctx context.Context, pe *pending, deadline time.Time, stop <-chan struct{}) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-stop:
			return ErrClosed
		default:
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return ErrClosed
		}
		if b.stuck || len(b.items)+b.held < b.limit {
			b.items = append(b.items, pe)
			first, room := len(b.items) == 1, b.stuck || len(b.items)+b.held < b.limit
			b.mu.Unlock()
			if first {
				signal(b.ready)
			}
			if room {
				// Another caller may wait for the room this one was
				// woken for: pass the wake-up on.
				signal(b.space)
			}
			return nil
		}
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		select {
		case <-b.space:
		case <-stop:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return errInboxFull
		}
	}
}

// take removes and returns up to n appends in the order they were put
// (all of them when n < 0).
func (b *inbox) take(n int) []*pending {
	b.mu.Lock()
	if n < 0 || n > len(b.items) {
		n = len(b.items)
	}
	got := make([]*pending, n)
	copy(got, b.items)
	rest := copy(b.items, b.items[n:])
	clear(b.items[rest:])
	b.items = b.items[:rest]
	b.held += n // the writer holds them now (until it publishes again)
	b.mu.Unlock()
	if rest > 0 {
		signal(b.ready)
	}
	return got
}

// publish tells the inbox how many appends the writer holds and whether
// it is stuck; a caller waiting for room is woken when there is some.
func (b *inbox) publish(held int, stuck bool) {
	b.mu.Lock()
	room := !b.closed && (stuck || len(b.items)+held < b.limit)
	b.held, b.stuck = held, stuck
	b.mu.Unlock()
	if room {
		signal(b.space)
	}
}

// close refuses every later put and returns the appends still held, for
// the writer to report.
func (b *inbox) close() []*pending {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	signal(b.space) // a caller waiting for room finds it closed
	return b.take(-1)
}

// signal leaves a token in a one-slot channel unless one is there.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
