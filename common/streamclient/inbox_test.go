package streamclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func newPending(n int) *pending { return &pending{members: []member{{n: n}}} }

func TestInboxTakesInOrderAndBounds(t *testing.T) {
	b := newInbox(3)
	ctx := context.Background()
	far := time.Now().Add(time.Minute)
	var put []*pending
	for i := 1; i <= 3; i++ {
		pe := newPending(i)
		put = append(put, pe)
		if err := b.put(ctx, pe, far, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-b.ready:
	default:
		t.Fatal("no ready token after the first put")
	}
	if got := b.take(2); len(got) != 2 || got[0] != put[0] || got[1] != put[1] {
		t.Fatalf("take(2) = %v, want the first two in order", got)
	}
	select {
	case <-b.ready:
	default:
		t.Fatal("take left an append behind without a ready token")
	}
	// The writer now holds 2 and the inbox 1: full until it publishes
	// fewer.
	short := time.Now().Add(30 * time.Millisecond)
	if err := b.put(ctx, newPending(9), short, nil); !errors.Is(err, errInboxFull) {
		t.Fatalf("put into a full inbox = %v, want errInboxFull", err)
	}
	done := make(chan error, 1)
	late := newPending(4)
	go func() { done <- b.put(ctx, late, far, nil) }()
	select {
	case err := <-done:
		t.Fatalf("put returned %v while the inbox was full", err)
	case <-time.After(20 * time.Millisecond):
	}
	b.publish(1, false) // the writer answered one of its two
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting put was not woken by room")
	}
	if got := b.take(-1); len(got) != 2 || got[0] != put[2] || got[1] != late {
		t.Fatalf("take(-1) = %v, want the third and the late one", got)
	}
}

func TestInboxStuckTakesBeyondTheBound(t *testing.T) {
	b := newInbox(1)
	b.publish(1, true)
	far := time.Now().Add(time.Minute)
	for range 3 {
		if err := b.put(context.Background(), newPending(1), far, nil); err != nil {
			t.Fatalf("put while stuck = %v, want it taken (to fail at once)", err)
		}
	}
	if got := b.take(-1); len(got) != 3 {
		t.Fatalf("took %d, want 3", len(got))
	}
}

func TestInboxClose(t *testing.T) {
	b := newInbox(1)
	far := time.Now().Add(time.Minute)
	held := newPending(1)
	if err := b.put(context.Background(), held, far, nil); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	waiting := make(chan error, 1)
	go func() { waiting <- b.put(context.Background(), newPending(2), far, stop) }()
	time.Sleep(10 * time.Millisecond)
	if left := b.close(); len(left) != 1 || left[0] != held {
		t.Fatalf("close returned %v, want the held append", left)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("waiting put = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting put did not return after close")
	}
	if err := b.put(context.Background(), newPending(3), far, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close = %v, want ErrClosed", err)
	}
	close(stop)
	if err := newInbox(1).put(context.Background(), newPending(1), far, stop); !errors.Is(err, ErrClosed) {
		t.Fatalf("put with stop closed = %v, want ErrClosed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	full := newInbox(1)
	full.publish(1, false)
	if err := full.put(ctx, newPending(1), far, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("put into a full inbox with ctx done = %v, want context.Canceled", err)
	}
}

// TestInboxManyCallers: callers put concurrently while a writer, as
// partWriter does, takes on ready, holds what it took for a while and
// publishes what it still holds. Every append arrives exactly once, each
// caller's in its own order, and the writer never holds more than the
// bound.
func TestInboxManyCallers(t *testing.T) {
	const callers, each, limit = 8, 500, 16
	b := newInbox(limit)
	far := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				pe := &pending{members: []member{{n: c}}, seq: int32(i)}
				if err := b.put(context.Background(), pe, far, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int32, callers)
	var held []*pending
	got := 0
	deadline := time.After(20 * time.Second)
	for got < callers*each {
		// Answer some of what the writer holds, then publish.
		if len(held) > 0 {
			held = held[len(held)/2+1:]
		}
		b.publish(len(held), false)
		var ready chan struct{}
		if len(held) < limit {
			ready = b.ready
		}
		select {
		case <-ready:
		case <-time.After(time.Millisecond):
			continue
		case <-deadline:
			t.Fatalf("stalled after %d of %d appends", got, callers*each)
		}
		for _, pe := range b.take(limit - len(held)) {
			c := pe.members[0].n
			if pe.seq != next[c] {
				t.Fatalf("caller %d: got append %d, want %d", c, pe.seq, next[c])
			}
			next[c]++
			held = append(held, pe)
			got++
		}
		b.mu.Lock()
		n := len(held) + len(b.items)
		b.mu.Unlock()
		if n > limit {
			t.Fatalf("%d appends held, bound %d", n, limit)
		}
	}
	wg.Wait()
}
