package core

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// SessionStore holds the sessions by client id. The in-memory store is the
// only implementation today; the cluster store (persistent sessions kept
// by the placement center and resumable on any broker) will implement it.
type SessionStore interface {
	Get(clientID string) (*Session, bool)
	Put(s *Session)
	Delete(clientID string)
	Len() int
}

// MemSessionStore is the in-memory SessionStore. The Broker serialises
// writes; reads may be concurrent.
type MemSessionStore struct {
	mu sync.RWMutex
	m  map[string]*Session
}

// NewMemSessionStore returns an empty in-memory session store.
func NewMemSessionStore() *MemSessionStore { return &MemSessionStore{m: map[string]*Session{}} }

// Get implements SessionStore.
func (st *MemSessionStore) Get(id string) (*Session, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	s, ok := st.m[id]
	return s, ok
}

// Put implements SessionStore.
func (st *MemSessionStore) Put(s *Session) {
	st.mu.Lock()
	st.m[s.ID] = s
	st.mu.Unlock()
}

// Delete implements SessionStore.
func (st *MemSessionStore) Delete(id string) {
	st.mu.Lock()
	delete(st.m, id)
	st.mu.Unlock()
}

// Len implements SessionStore.
func (st *MemSessionStore) Len() int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return len(st.m)
}

// Options configure a Broker. Zero stores select the in-memory ones.
type Options struct {
	// MaxQueued bounds the messages waiting in one session (0: no bound);
	// when full, new messages for that session are dropped.
	MaxQueued int
	Router    Router
	Retain    RetainStore
	Sessions  SessionStore
	// Now is the clock (tests); nil means time.Now.
	Now    func() time.Time
	Logger zerolog.Logger
}

// Broker is the core: it connects clients to sessions and routes messages.
type Broker struct {
	opts     Options
	router   Router
	retain   RetainStore
	sessions SessionStore
	now      func() time.Time
	log      zerolog.Logger

	mu sync.Mutex // serialises session life-cycle changes
}

// New returns a broker core.
func New(opts Options) *Broker {
	b := &Broker{opts: opts, router: opts.Router, retain: opts.Retain, sessions: opts.Sessions,
		now: opts.Now, log: opts.Logger}
	if b.router == nil {
		b.router = NewIndex()
	}
	if b.retain == nil {
		b.retain = NewMemRetainStore()
	}
	if b.sessions == nil {
		b.sessions = NewMemSessionStore()
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// Now is the broker's clock.
func (b *Broker) Now() time.Time { return b.now() }

// Sessions is the number of sessions (connected or not).
func (b *Broker) Sessions() int { return b.sessions.Len() }

// Session returns the session of a client id.
func (b *Broker) Session(clientID string) (*Session, bool) { return b.sessions.Get(clientID) }

// Connect attaches client c to the session of clientID and reports whether
// an existing session was resumed. cleanStart discards an existing session.
// A connection already attached to the session is kicked (takeover). A
// delayed will of the session is cancelled when the session is resumed and
// published when it is discarded. In-flight messages of a resumed session
// are resent (with DUP) on the next Pull.
func (b *Broker) Connect(clientID string, cleanStart bool, c Client) (*Session, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, ok := b.sessions.Get(clientID)
	var willNow *Message
	if ok {
		old.mu.Lock()
		if old.client != nil {
			old.client.Kick()
			old.client = nil
		}
		stopTimer(&old.expiryTimer)
		stopTimer(&old.willTimer)
		if cleanStart {
			willNow = old.pendingWill
		}
		old.pendingWill = nil
		old.mu.Unlock()
		if cleanStart {
			b.dropSessionLocked(old)
			ok = false
		}
	}
	s := old
	if !ok {
		s = newSession(clientID, b.opts.MaxQueued)
		b.sessions.Put(s)
	}
	s.mu.Lock()
	s.client = c
	s.gen++
	for _, f := range s.inflight {
		f.sent = false
	}
	pending := len(s.inflight) > 0 || len(s.queue) > 0
	s.mu.Unlock()
	if willNow != nil {
		go b.Publish(willNow)
	}
	if pending {
		c.Notify()
	}
	return s, ok
}

// Disconnect detaches client c from s. will (nil: none) is published after
// willDelay, or at once when the delay is 0 or the session ends first. The
// session ends now when its expiry interval is 0, else after it (never for
// NeverExpire). A client that was already replaced (takeover) only gets
// its will published.
func (b *Broker) Disconnect(s *Session, c Client, will *Message, willDelay uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s.mu.Lock()
	if s.client != c {
		s.mu.Unlock()
		if will != nil {
			go b.Publish(will)
		}
		return
	}
	s.client = nil
	expiry, gen := s.expiry, s.gen
	if will != nil && willDelay > 0 && expiry > 0 {
		if expiry != NeverExpire && willDelay > expiry {
			willDelay = expiry
		}
		s.pendingWill = will
		s.willTimer = time.AfterFunc(time.Duration(willDelay)*time.Second, func() { b.fireWill(s, gen) })
		will = nil
	}
	if expiry > 0 && expiry != NeverExpire {
		s.expiryTimer = time.AfterFunc(time.Duration(expiry)*time.Second, func() { b.expire(s, gen) })
	}
	s.mu.Unlock()
	if will != nil {
		go b.Publish(will)
	}
	if expiry == 0 {
		b.dropSessionLocked(s)
	}
}

func (b *Broker) fireWill(s *Session, gen uint64) {
	s.mu.Lock()
	w := s.pendingWill
	if s.gen != gen || s.client != nil {
		w = nil
	}
	s.pendingWill = nil
	s.mu.Unlock()
	if w != nil {
		b.Publish(w)
	}
}

func (b *Broker) expire(s *Session, gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s.mu.Lock()
	if s.gen != gen || s.client != nil {
		s.mu.Unlock()
		return
	}
	w := s.pendingWill
	s.pendingWill = nil
	stopTimer(&s.willTimer)
	s.mu.Unlock()
	if w != nil {
		go b.Publish(w)
	}
	b.dropSessionLocked(s)
}

// dropSessionLocked removes s and its subscriptions; b.mu is held.
func (b *Broker) dropSessionLocked(s *Session) {
	if cur, ok := b.sessions.Get(s.ID); ok && cur == s {
		b.sessions.Delete(s.ID)
	}
	s.mu.Lock()
	subs := s.subs
	s.subs = map[string]Subscription{}
	s.queue, s.inflight, s.inflByID = nil, nil, map[uint16]*inflight{}
	stopTimer(&s.expiryTimer)
	s.mu.Unlock()
	for f := range subs {
		b.router.Unsubscribe(s.ID, f)
	}
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// Subscribe adds sub (sub.ClientID is set to the session's) and reports
// whether it replaced a subscription to the same filter.
func (b *Broker) Subscribe(s *Session, sub Subscription) bool {
	sub.ClientID = s.ID
	s.mu.Lock()
	s.subs[sub.Filter] = sub
	s.mu.Unlock()
	return b.router.Subscribe(sub)
}

// Unsubscribe removes a subscription and reports whether it existed.
func (b *Broker) Unsubscribe(s *Session, filter string) bool {
	s.mu.Lock()
	_, ok := s.subs[filter]
	delete(s.subs, filter)
	s.mu.Unlock()
	if !ok {
		return false
	}
	return b.router.Unsubscribe(s.ID, filter)
}

// Retained returns the live retained messages matching a (non-shared)
// topic filter. Take them after the subscription is in place and before
// acknowledging it, then queue them with QueueRetained: a message
// published after the acknowledgement then arrives once, live.
func (b *Broker) Retained(filter string) []*Message {
	return b.retain.Match(filter, b.now())
}

// QueueRetained queues retained messages for s with the retain flag set
// and at most QoS qos.
func (b *Broker) QueueRetained(s *Session, msgs []*Message, qos byte, subID uint32) {
	for _, m := range msgs {
		q := queued{msg: m, qos: min(qos, m.QoS), retain: true}
		if subID != 0 {
			q.subIDs = []uint32{subID}
		}
		s.enqueue(q)
	}
}

// Publish routes m to every matching session (and stores it when it is
// retained) and returns the number of deliveries.
func (b *Broker) Publish(m *Message) int {
	if m.Retain {
		b.retain.Set(m)
	}
	ds := b.router.Match(m.Topic, m.From, func(id string) bool {
		s, ok := b.sessions.Get(id)
		return ok && s.Online()
	})
	n := 0
	for _, d := range ds {
		s, ok := b.sessions.Get(d.ClientID)
		if !ok {
			continue
		}
		s.enqueue(queued{msg: m, qos: min(d.QoS, m.QoS), retain: m.Retain && d.RetainAsPublished, subIDs: d.SubIDs})
		n++
	}
	return n
}
