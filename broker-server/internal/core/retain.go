package core

import (
	"sync"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
)

// RetainStore keeps the last retained message of every topic. The
// in-memory store is the only implementation today; a journal-backed one
// that survives a broker's death will implement it too.
type RetainStore interface {
	// Set stores m as its topic's retained message; an empty payload
	// deletes the topic's retained message instead.
	Set(m *Message)
	// Match returns the live retained messages whose topic matches the
	// (non-shared) topic filter.
	Match(filter string, now time.Time) []*Message
}

// MemRetainStore is the in-memory RetainStore.
type MemRetainStore struct {
	mu   sync.RWMutex
	msgs map[string]*Message
}

// NewMemRetainStore returns an empty in-memory retained-message store.
func NewMemRetainStore() *MemRetainStore { return &MemRetainStore{msgs: map[string]*Message{}} }

var _ RetainStore = (*MemRetainStore)(nil)

// Set implements RetainStore.
func (r *MemRetainStore) Set(m *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(m.Payload) == 0 {
		delete(r.msgs, m.Topic)
		return
	}
	r.msgs[m.Topic] = m
}

// Match implements RetainStore. It scans every retained topic.
func (r *MemRetainStore) Match(filter string, now time.Time) []*Message {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Message
	for t, m := range r.msgs {
		if m.Expired(now) {
			continue
		}
		if packets.MatchTopic(filter, t) {
			out = append(out, m)
		}
	}
	return out
}

// Len is the number of retained topics.
func (r *MemRetainStore) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.msgs)
}

// Replace makes msgs the whole content of the store (a cluster broker
// reloading the retained messages after its watch lost track).
func (r *MemRetainStore) Replace(msgs []*Message) {
	m := make(map[string]*Message, len(msgs))
	for _, msg := range msgs {
		if len(msg.Payload) > 0 {
			m[msg.Topic] = msg
		}
	}
	r.mu.Lock()
	r.msgs = m
	r.mu.Unlock()
}
