package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// when full, new messages for that session are dropped. Messages a
	// persistent session reads from the log are bounded by FeedWindow
	// instead and never dropped.
	MaxQueued int
	Router    Router
	Retain    RetainStore
	Sessions  SessionStore
	// Cluster connects the core to the cluster; nil is a standalone broker
	// whose sessions and retained messages live in memory only.
	Cluster Cluster
	// FeedWindow bounds the log messages a persistent session holds in
	// memory (queued or in flight); default 1000.
	FeedWindow int
	// CommitInterval is how often persistent sessions' log positions are
	// saved to the cluster; default 200ms.
	CommitInterval time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now    func() time.Time
	Logger zerolog.Logger
}

// clusterTimeout bounds one call into the cluster made on behalf of a
// client packet.
const clusterTimeout = 10 * time.Second

// Broker is the core: it connects clients to sessions and routes messages.
type Broker struct {
	opts     Options
	router   Router
	retain   RetainStore
	sessions SessionStore
	cluster  Cluster
	now      func() time.Time
	log      zerolog.Logger

	mu sync.Mutex // serialises session life-cycle changes

	routesMu  sync.Mutex
	routeRefs map[string]int // local subscriptions per filter

	counters counters
}

// New returns a broker core.
func New(opts Options) *Broker {
	b := &Broker{opts: opts, router: opts.Router, retain: opts.Retain, sessions: opts.Sessions,
		cluster: opts.Cluster, now: opts.Now, log: opts.Logger, routeRefs: map[string]int{}}
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
	if b.opts.FeedWindow <= 0 {
		b.opts.FeedWindow = 1000
	}
	if b.opts.CommitInterval <= 0 {
		b.opts.CommitInterval = 200 * time.Millisecond
	}
	return b
}

// Now is the broker's clock.
func (b *Broker) Now() time.Time { return b.now() }

// Sessions is the number of sessions (connected or not).
func (b *Broker) Sessions() int { return b.sessions.Len() }

// Session returns the session of a client id.
func (b *Broker) Session(clientID string) (*Session, bool) { return b.sessions.Get(clientID) }

// Run saves the log positions of persistent sessions every
// CommitInterval until ctx ends. Only a clustered broker needs it.
func (b *Broker) Run(ctx context.Context) error {
	if b.cluster == nil {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(b.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// A last save, so a clean stop resends nothing.
			final, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			for _, s := range b.dirtySessions() {
				b.save(final, s)
			}
			return nil
		case <-t.C:
		}
		for _, s := range b.dirtySessions() {
			b.save(ctx, s)
		}
	}
}

func (b *Broker) dirtySessions() []*Session {
	ms, ok := b.sessions.(*MemSessionStore)
	if !ok {
		return nil
	}
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	var out []*Session
	for _, s := range ms.m {
		s.mu.Lock()
		if s.fed && s.dirty {
			out = append(out, s)
		}
		s.mu.Unlock()
	}
	return out
}

// save writes a persistent session's state to the cluster. A session
// another broker took over is dropped here without touching the record.
func (b *Broker) save(ctx context.Context, s *Session) {
	st, ok := s.state()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	err := b.cluster.Save(ctx, st)
	switch {
	case err == nil:
	case errors.Is(err, ErrTakenOver):
		b.log.Info().Str("client_id", s.ID).Msg("session taken over by another broker")
		b.handover(s)
	default:
		s.markDirty()
		b.log.Warn().Err(err).Str("client_id", s.ID).Msg("saving session state")
	}
}

// Connect attaches client c to the session of cl.ClientID and reports
// whether an existing session was resumed. cl.Clean discards an existing
// session. A connection already attached to the session is kicked
// (takeover), on this broker or, through the cluster, on another. A
// delayed will of the session is cancelled when the session is resumed
// and published when it is discarded. In-flight messages of a resumed
// session are resent (with DUP) on the next Pull. An error means the
// cluster could not be reached: the client must be refused.
func (b *Broker) Connect(ctx context.Context, cl Claim, c Client) (*Session, bool, error) {
	var stored *SessionState
	var ends map[uint32]uint64
	if b.cluster != nil {
		cctx, cancel := context.WithTimeout(ctx, clusterTimeout)
		defer cancel()
		var err error
		if stored, err = b.cluster.Claim(cctx, cl); err != nil {
			return nil, false, fmt.Errorf("claim session: %w", err)
		}
		if cl.Expiry > 0 {
			if ends, err = b.cluster.LogEnds(cctx); err != nil {
				return nil, false, fmt.Errorf("log ends: %w", err)
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old, ok := b.sessions.Get(cl.ClientID)
	var willNow *Message
	if ok {
		old.mu.Lock()
		if old.client != nil {
			old.client.Kick()
			old.client = nil
		}
		old.stopFeedLocked()
		stopTimer(&old.expiryTimer)
		stopTimer(&old.willTimer)
		if cl.Clean {
			willNow = old.pendingWill
		}
		old.pendingWill = nil
		old.mu.Unlock()
		if cl.Clean || (b.cluster != nil && !old.fed && cl.Expiry > 0) {
			b.dropSessionLocked(old, false)
			ok = false
		}
	}
	s := old
	if !ok {
		s = newSession(cl.ClientID, b.opts.MaxQueued)
		s.expired = &b.counters.expired
		b.sessions.Put(s)
		if stored != nil {
			ok = true
			s.subs = map[string]Subscription{}
			for _, sub := range stored.Subs {
				sub.ClientID = s.ID
				s.subs[sub.Filter] = sub
				b.router.Subscribe(sub)
				b.routeRef(sub.Filter, +1)
			}
		}
	}
	s.mu.Lock()
	s.client = c
	s.gen++
	s.expiry = cl.Expiry
	s.will, s.willDelay = cl.Will, cl.WillDelay
	for _, f := range s.inflight {
		f.sent = false
	}
	if b.cluster != nil && cl.Expiry > 0 {
		if !s.fed {
			s.fed = true
			s.logNext = map[uint32]uint64{}
			s.open = map[uint32]map[uint64]struct{}{}
			for p, o := range ends {
				s.logNext[p] = o
			}
			if stored != nil {
				for p, o := range stored.Positions {
					s.logNext[p] = o
				}
			}
		}
		s.dirty = true
		b.startFeedLocked(s)
	}
	pending := len(s.inflight) > 0 || len(s.queue) > 0
	s.mu.Unlock()
	if willNow != nil {
		go b.publishBackground(willNow)
	}
	if pending {
		c.Notify()
	}
	return s, ok, nil
}

// publishBackground publishes a message no client waits for (a will).
func (b *Broker) publishBackground(m *Message) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if _, err := b.Publish(ctx, m); err != nil {
		b.log.Warn().Err(err).Str("topic", m.Topic).Msg("publishing a will")
	}
}

// Disconnect detaches client c from s. will (nil: none) is published after
// willDelay, or at once when the delay is 0 or the session ends first. The
// session ends now when its expiry interval is 0, else after it (never for
// NeverExpire). A client that was already replaced (takeover) only gets
// its will published.
func (b *Broker) Disconnect(s *Session, c Client, will *Message, willDelay uint32) {
	if b.disconnect(s, c, will, willDelay) {
		// Saved before the connection's goroutine ends, so a broker that
		// stops (SIGTERM drains its clients) leaves the positions current.
		b.save(context.Background(), s)
	}
}

// disconnect is Disconnect under b.mu; it reports whether the session's
// state must be saved.
func (b *Broker) disconnect(s *Session, c Client, will *Message, willDelay uint32) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s.mu.Lock()
	if s.client != c {
		s.mu.Unlock()
		if will != nil {
			go b.publishBackground(will)
		}
		return false
	}
	s.client = nil
	s.stopFeedLocked()
	s.will, s.willDelay = nil, 0
	expiry, gen := s.expiry, s.gen
	if will != nil && willDelay > 0 && expiry > 0 {
		if expiry != NeverExpire && willDelay > expiry {
			willDelay = expiry
		}
		s.pendingWill = will
		s.will, s.willDelay = will, willDelay
		s.willTimer = time.AfterFunc(time.Duration(willDelay)*time.Second, func() { b.fireWill(s, gen) })
		will = nil
	}
	if expiry > 0 && expiry != NeverExpire {
		s.expiryTimer = time.AfterFunc(time.Duration(expiry)*time.Second, func() { b.expire(s, gen) })
	}
	fed := s.fed
	s.mu.Unlock()
	if will != nil {
		go b.publishBackground(will)
	}
	if expiry == 0 {
		b.dropSessionLocked(s, true)
		return false
	}
	return fed
}

func (b *Broker) fireWill(s *Session, gen uint64) {
	s.mu.Lock()
	w := s.pendingWill
	if s.gen != gen || s.client != nil {
		w = nil
	}
	s.pendingWill = nil
	s.will, s.willDelay = nil, 0
	s.dirty = s.dirty || (w != nil && s.fed)
	s.mu.Unlock()
	if w != nil {
		b.publishBackground(w)
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
		go b.publishBackground(w)
	}
	b.dropSessionLocked(s, true)
}

// dropSessionLocked removes s and its subscriptions; b.mu is held. release
// also deletes the session's cluster record (the session ended here, it
// was not taken over).
func (b *Broker) dropSessionLocked(s *Session, release bool) {
	if cur, ok := b.sessions.Get(s.ID); ok && cur == s {
		b.sessions.Delete(s.ID)
	}
	orphans := s.shareOrphans(func(string) bool { return true })
	defer func() {
		if len(orphans) > 0 {
			go b.redistribute(s.ID, orphans)
		}
	}()
	s.mu.Lock()
	subs := s.subs
	s.subs = map[string]Subscription{}
	s.queue, s.inflight, s.inflByID = nil, nil, map[uint16]*inflight{}
	s.stopFeedLocked()
	s.fed, s.dirty = false, false
	stopTimer(&s.expiryTimer)
	s.mu.Unlock()
	for f := range subs {
		b.router.Unsubscribe(s.ID, f)
		b.routeRef(f, -1)
	}
	if release && b.cluster != nil {
		id := s.ID
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
			defer cancel()
			if err := b.cluster.Release(ctx, id); err != nil && !errors.Is(err, ErrTakenOver) {
				b.log.Warn().Err(err).Str("client_id", id).Msg("releasing session record")
			}
		}()
	}
}

// Handover closes the local connection of a session another broker is
// taking over, saves the session's state for it and forgets the session
// here. It reports whether the session was here.
func (b *Broker) Handover(ctx context.Context, clientID string) bool {
	s, ok := b.sessions.Get(clientID)
	if !ok {
		return false
	}
	s.mu.Lock()
	if s.client != nil {
		s.client.Kick()
		s.client = nil
	}
	s.stopFeedLocked()
	stopTimer(&s.willTimer)
	stopTimer(&s.expiryTimer)
	s.pendingWill = nil
	s.will = nil
	s.gen++
	fed := s.fed
	s.mu.Unlock()
	if fed {
		b.save(ctx, s)
	}
	b.handover(s)
	return true
}

// handover forgets s locally without releasing its cluster record.
func (b *Broker) handover(s *Session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s.mu.Lock()
	if s.client != nil {
		s.client.Kick()
		s.client = nil
	}
	s.mu.Unlock()
	b.dropSessionLocked(s, false)
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// routeRef counts local subscriptions per filter and tells the cluster
// about a filter's first and last subscriber. The returned channel (nil
// when nothing changed) reports when the route table has the change.
func (b *Broker) routeRef(filter string, delta int) <-chan error {
	if b.cluster == nil {
		return nil
	}
	b.routesMu.Lock()
	defer b.routesMu.Unlock()
	n := b.routeRefs[filter] + delta
	if n <= 0 {
		delete(b.routeRefs, filter)
	} else {
		b.routeRefs[filter] = n
	}
	switch {
	case delta > 0 && n == 1:
		return b.cluster.UpdateRoute(filter, true)
	case delta < 0 && n <= 0:
		return b.cluster.UpdateRoute(filter, false)
	}
	return nil
}

// awaitRoute waits for a route change so that a SUBACK follows it.
func (b *Broker) awaitRoute(filter string, done <-chan error) {
	if done == nil {
		return
	}
	select {
	case err := <-done:
		if err != nil {
			b.log.Warn().Err(err).Str("filter", filter).Msg("updating the route table")
		}
	case <-time.After(clusterTimeout):
		b.log.Warn().Str("filter", filter).Msg("route table update still pending")
	}
}

// Subscribe adds sub (sub.ClientID is set to the session's) and reports
// whether it replaced a subscription to the same filter. A persistent
// session's subscriptions are saved in the cluster before it returns.
func (b *Broker) Subscribe(s *Session, sub Subscription) bool {
	sub.ClientID = s.ID
	s.mu.Lock()
	s.subs[sub.Filter] = sub
	fed := s.fed
	s.mu.Unlock()
	existed := b.router.Subscribe(sub)
	if !existed {
		b.awaitRoute(sub.Filter, b.routeRef(sub.Filter, +1))
	}
	if fed {
		s.markDirty()
		b.save(context.Background(), s)
	}
	return existed
}

// Unsubscribe removes a subscription and reports whether it existed.
func (b *Broker) Unsubscribe(s *Session, filter string) bool {
	s.mu.Lock()
	_, ok := s.subs[filter]
	delete(s.subs, filter)
	fed := s.fed
	s.mu.Unlock()
	if !ok {
		return false
	}
	ok = b.router.Unsubscribe(s.ID, filter)
	b.awaitRoute(filter, b.routeRef(filter, -1))
	if strings.HasPrefix(filter, "$share/") {
		b.redistribute(s.ID, s.shareOrphans(func(share string) bool { return share == filter }))
	}
	if fed {
		s.markDirty()
		b.save(context.Background(), s)
	}
	return ok
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

// Publish makes m durable when it must be kept (QoS 1/2 in the cluster's
// log, retained messages in the retained store), then routes it to every
// matching session of this broker and, through the cluster, of the
// others. It returns the number of local deliveries. An error means m was
// not stored: the publisher must not get a positive acknowledgement.
func (b *Broker) Publish(ctx context.Context, m *Message) (int, error) {
	return b.BeginPublish(ctx, m).Wait(ctx)
}

// Publishing is a publish whose message is being stored; Wait completes
// it.
type Publishing struct {
	b    *Broker
	m    *Message
	done chan struct{}
	pos  Position
	err  error
}

// BeginPublish starts storing m (its log append, when it must be kept)
// and returns at once. A front end that pipelines one client's publishes
// calls Wait on them in the order it received them, so that routing and
// acknowledgements keep that order while the appends overlap.
func (b *Broker) BeginPublish(ctx context.Context, m *Message) *Publishing {
	p := &Publishing{b: b, m: m, done: make(chan struct{})}
	if b.cluster == nil || m.QoS == 0 {
		close(p.done)
		return p
	}
	err := b.cluster.AppendAsync(ctx, m, func(pos Position, err error) {
		p.pos, p.err = pos, err
		close(p.done)
	})
	if err != nil {
		p.err = err
		close(p.done)
	}
	return p
}

// Wait waits until the message is in the log, then stores it where else
// it must be kept (mapped streams, the retained store) and routes it to
// every matching session of this broker and, through the cluster, of the
// others. It returns the number of local deliveries. An error means the
// message was not stored: the publisher must not get a positive
// acknowledgement.
func (p *Publishing) Wait(ctx context.Context) (int, error) {
	b := p.b
	var n int
	var err error
	select {
	case <-p.done:
		err = p.err
		if err != nil {
			err = fmt.Errorf("append to the message log: %w", err)
		} else {
			n, err = b.finish(ctx, p.m, p.pos)
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		b.counters.failed.Add(1)
	} else {
		b.counters.published[min(p.m.QoS, 2)].Add(1)
	}
	return n, err
}

// finish is a publish after its log append.
func (b *Broker) finish(ctx context.Context, m *Message, pos Position) (int, error) {
	if b.cluster != nil {
		if !m.FromStream {
			if err := b.cluster.AppendMapped(ctx, m); err != nil {
				return 0, fmt.Errorf("append to a mapped stream: %w", err)
			}
		}
		if m.Retain {
			if err := b.cluster.Retain(ctx, m); err != nil {
				return 0, fmt.Errorf("store retained message: %w", err)
			}
		}
	}
	if m.Retain {
		b.retain.Set(m)
	}
	ds := b.router.Match(m.Topic, m.From, b.online)
	var serve map[string]bool
	if b.cluster != nil {
		var shares []string
		for _, d := range ds {
			if d.Share != "" {
				shares = append(shares, d.Share)
			}
		}
		serve = b.cluster.Forward(m, pos, shares)
	}
	return b.deliver(m, pos, ds, true, func(share string) bool { return serve == nil || serve[share] }), nil
}

// DeliverRemote delivers a message another broker routed here: to the
// non-shared subscriptions when nonShared is set, and to one member of
// each listed shared subscription.
func (b *Broker) DeliverRemote(m *Message, pos Position, nonShared bool, shares []string) int {
	ds := b.router.Match(m.Topic, m.From, b.online)
	return b.deliver(m, pos, ds, nonShared, func(share string) bool { return slices.Contains(shares, share) })
}

func (b *Broker) online(id string) bool {
	s, ok := b.sessions.Get(id)
	return ok && s.Online()
}

func (b *Broker) deliver(m *Message, pos Position, ds []Delivery, nonShared bool, serveShare func(string) bool) int {
	n := 0
	for _, d := range ds {
		if d.Share == "" && !nonShared || d.Share != "" && !serveShare(d.Share) {
			continue
		}
		s, ok := b.sessions.Get(d.ClientID)
		if !ok {
			continue
		}
		if d.Share == "" && pos.Valid && s.isFed() {
			// The session's feed reads this message from the log.
			continue
		}
		if s.enqueue(queued{msg: m, qos: min(d.QoS, m.QoS), retain: m.Retain && d.RetainAsPublished, subIDs: d.SubIDs, share: d.Share}) {
			b.counters.delivered.Add(1)
		} else {
			b.counters.dropped.Add(1)
		}
		n++
	}
	return n
}

// redistribute hands messages a leaving member of a share group had not
// received to another member: one of this broker if there is one, else
// (clustered) one of another broker that has the group.
func (b *Broker) redistribute(leaving string, msgs []queued) {
	for _, q := range msgs {
		ds := b.router.Match(q.msg.Topic, q.msg.From, b.online)
		done := false
		for _, d := range ds {
			if d.Share != q.share || d.ClientID == leaving {
				continue
			}
			if s, ok := b.sessions.Get(d.ClientID); ok {
				s.enqueue(queued{msg: q.msg, qos: min(d.QoS, q.msg.QoS), retain: q.msg.Retain && d.RetainAsPublished, subIDs: d.SubIDs, share: d.Share})
				done = true
				break
			}
		}
		if !done && b.cluster != nil {
			done = b.cluster.ForwardShare(q.msg, q.share)
		}
		if !done {
			b.log.Debug().Str("share", q.share).Str("topic", q.msg.Topic).Msg("no other member for a shared message")
		}
	}
}
