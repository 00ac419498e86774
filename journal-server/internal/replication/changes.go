package replication

import (
	"sync"

	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
)

// Changes is the per-segment change notification that readers long-poll
// on: whoever changes a local replica's readable state (an append, a LAC
// advance, a seal, a deletion) calls Notify, and every Wait channel taken
// before is closed. Safe for concurrent use. Readers must still bound their
// wait (a change made by a part that does not notify is then seen late,
// never missed).
type Changes struct {
	mu   sync.Mutex
	wait map[segstore.SegmentID]chan struct{}
}

// NewChanges returns an empty hub.
func NewChanges() *Changes {
	return &Changes{wait: map[segstore.SegmentID]chan struct{}{}}
}

// Wait returns a channel closed at the next Notify(id). Take it before
// checking the state, then block on it.
func (c *Changes) Wait(id segstore.SegmentID) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.wait[id]
	if !ok {
		ch = make(chan struct{})
		c.wait[id] = ch
	}
	return ch
}

// Notify wakes every waiter of id.
func (c *Changes) Notify(id segstore.SegmentID) {
	c.mu.Lock()
	ch, ok := c.wait[id]
	delete(c.wait, id)
	c.mu.Unlock()
	if ok {
		close(ch)
	}
}
