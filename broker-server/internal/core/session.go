package core

import (
	"sync"
	"sync/atomic"
	"time"
)

// NeverExpire is the session expiry interval of a session that never
// expires (MQTT 5 0xFFFFFFFF; MQTT 3.x clean session false).
const NeverExpire = 0xFFFFFFFF

// Client is the connection a session is attached to, as the core sees it.
// Its methods are called with core locks held: they must not block or call
// back into the core.
type Client interface {
	// Notify says the session has packets to send (call Session.Pull).
	Notify()
	// Kick asks the connection to close because another connection took
	// the session over.
	Kick()
}

// Outbound is one packet a front end sends for a session: a PUBLISH, or a
// PUBREL (Pubrel true) for a QoS 2 message the client already received.
type Outbound struct {
	PacketID uint16
	QoS      byte
	Dup      bool
	Retain   bool
	Pubrel   bool
	Msg      *Message
	SubIDs   []uint32
}

type queued struct {
	msg    *Message
	qos    byte
	retain bool
	subIDs []uint32
	// pos is set for a message the session's feed read from the log; its
	// offset stays open (holds the saved position back) until finished.
	pos Position
	// share is the shared subscription the message came through ("" for
	// none): if the session leaves the group first, another member gets it.
	share string
}

type inflight struct {
	out  Outbound
	sent bool // sent on the current connection
	ever bool // sent at least once (DUP on resend)
	pos  Position
	// share and msg: see queued; msg stays after a PUBREC clears out.Msg.
	share string
}

// Session is one client's session: subscriptions, the queue of messages
// not yet sent, the outbound QoS 1/2 messages not yet acknowledged and the
// inbound QoS 2 packet ids awaiting PUBREL. Front ends use it through the
// methods below; the Broker manages its life.
type Session struct {
	ID string

	mu       sync.Mutex
	client   Client
	subs     map[string]Subscription
	queue    []queued
	inflight []*inflight
	inflByID map[uint16]*inflight
	nextID   uint16
	inQoS2   map[uint16]struct{}
	expiry   uint32 // seconds, applied when the client disconnects
	gen      uint64 // bumped on every attach; timers check it
	dropped  uint64
	// expired is the broker's count of messages that expired in a
	// session's queue (nil in tests that make sessions directly).
	expired *atomic.Uint64

	pendingWill *Message
	willTimer   *time.Timer
	expiryTimer *time.Timer

	maxQueued int

	// Cluster state of a persistent session (fed is set): its QoS 1/2
	// messages come from the log, read by the feed from logNext; open holds
	// the offsets read and not yet finished (queued or in flight); dirty
	// says the state changed since it was last saved. will/willDelay are
	// the will the cluster keeps for the session (fired by another broker
	// if this one dies).
	fed        bool
	dirty      bool
	logNext    map[uint32]uint64
	open       map[uint32]map[uint64]struct{}
	openCount  int
	feedCancel func()
	feedWake   chan struct{}
	will       *Message
	willDelay  uint32
}

func newSession(id string, maxQueued int) *Session {
	return &Session{ID: id, subs: map[string]Subscription{}, inflByID: map[uint16]*inflight{},
		inQoS2: map[uint16]struct{}{}, maxQueued: maxQueued}
}

// Subscriptions returns a copy of the session's subscriptions.
func (s *Session) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Subscription, 0, len(s.subs))
	for _, sub := range s.subs {
		out = append(out, sub)
	}
	return out
}

// Dropped is the number of messages dropped because the queue was full.
func (s *Session) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Queued is the number of messages waiting to be sent.
func (s *Session) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Online reports whether a connection is attached.
func (s *Session) Online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client != nil
}

// SetExpiry sets the session expiry interval (seconds) applied when the
// client disconnects.
func (s *Session) SetExpiry(sec uint32) {
	s.mu.Lock()
	s.expiry = sec
	s.mu.Unlock()
}

// Expiry is the session expiry interval in seconds.
func (s *Session) Expiry() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiry
}

// enqueue adds a message for the client and reports whether it was kept:
// QoS 0 messages are dropped while no connection is attached (not counted
// as a loss), and a full queue drops the new message.
func (s *Session) enqueue(q queued) bool {
	s.mu.Lock()
	if s.client == nil && q.qos == 0 {
		s.mu.Unlock()
		return true
	}
	if s.maxQueued > 0 && len(s.queue) >= s.maxQueued {
		s.dropped++
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, q)
	c := s.client
	s.mu.Unlock()
	if c != nil {
		c.Notify()
	}
	return true
}

// Pull returns the packets client c should send now: first the in-flight
// messages not yet sent on this connection (resent with DUP, or their
// PUBREL), then queued messages while fewer than window QoS 1/2 messages
// are in flight. Expired messages are dropped. A client that is no longer
// attached gets nothing.
func (s *Session) Pull(c Client, window int, now time.Time) []Outbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != c || c == nil {
		return nil
	}
	var out []Outbound
	for _, f := range s.inflight {
		if f.sent {
			continue
		}
		f.sent = true
		o := f.out
		o.Dup = f.ever && !o.Pubrel
		f.ever = true
		out = append(out, o)
	}
	n := 0
	for n < len(s.queue) && (len(s.inflight) < window || s.queue[n].qos == 0) {
		q := s.queue[n]
		n++
		if q.msg.Expired(now) {
			s.finishLocked(q.pos)
			if s.expired != nil {
				s.expired.Add(1)
			}
			continue
		}
		o := Outbound{QoS: q.qos, Retain: q.retain, Msg: q.msg, SubIDs: q.subIDs}
		if q.qos > 0 {
			id, ok := s.allocID()
			if !ok {
				n--
				break
			}
			o.PacketID = id
			f := &inflight{out: o, sent: true, ever: true, pos: q.pos, share: q.share}
			s.inflight = append(s.inflight, f)
			s.inflByID[id] = f
		} else {
			s.finishLocked(q.pos)
		}
		out = append(out, o)
	}
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return out
}

func (s *Session) allocID() (uint16, bool) {
	for i := 0; i < 65535; i++ {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if _, used := s.inflByID[s.nextID]; !used {
			return s.nextID, true
		}
	}
	return 0, false
}

func (s *Session) removeInflight(id uint16) {
	f := s.inflByID[id]
	if f == nil {
		return
	}
	s.finishLocked(f.pos)
	delete(s.inflByID, id)
	for i, g := range s.inflight {
		if g == f {
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			break
		}
	}
}

// Acked handles a PUBACK (QoS 1) or PUBCOMP (QoS 2) for an outbound
// message: the message leaves the window. It reports whether id was in
// flight in the right state.
func (s *Session) Acked(id uint16, pubcomp bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.inflByID[id]
	if f == nil || (pubcomp != (f.out.QoS == 2)) || (pubcomp && !f.out.Pubrel) {
		return false
	}
	s.removeInflight(id)
	return true
}

// Received handles a PUBREC for an outbound QoS 2 message: from now on
// the message is a PUBREL to (re)send. It reports whether id was a QoS 2
// message in flight.
func (s *Session) Received(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.inflByID[id]
	if f == nil || f.out.QoS != 2 {
		return false
	}
	f.out.Pubrel = true
	f.out.Msg = nil
	f.share = "" // the client has it: nothing to hand to another member
	f.sent, f.ever = true, true
	// The client has the message: a resume elsewhere must not send it
	// again (it would be a second QoS 2 delivery).
	s.finishLocked(f.pos)
	f.pos = Position{}
	return true
}

// Drop removes an outbound message from the window without an
// acknowledgement (it could not be sent to this client, e.g. too large).
func (s *Session) Drop(id uint16) {
	s.mu.Lock()
	s.removeInflight(id)
	s.mu.Unlock()
}

// Inflight is the number of outbound QoS 1/2 messages not yet acknowledged.
func (s *Session) Inflight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}

// InboundQoS2 records a QoS 2 PUBLISH from the client and reports whether
// it is new (false: a duplicate of a message not yet released, which must
// not be delivered again) and how many are awaiting PUBREL.
func (s *Session) InboundQoS2(id uint16) (isNew bool, pending int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.inQoS2[id]; ok {
		return false, len(s.inQoS2)
	}
	s.inQoS2[id] = struct{}{}
	return true, len(s.inQoS2)
}

// Release handles a PUBREL from the client and reports whether id was
// awaiting it.
func (s *Session) Release(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.inQoS2[id]
	delete(s.inQoS2, id)
	return ok
}

// shareOrphans removes and returns the messages that came through shared
// subscriptions matching keep and that the client has not received yet
// (queued, or in flight without a PUBREC), for the group's other members.
func (s *Session) shareOrphans(keep func(share string) bool) []queued {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []queued
	kept := s.queue[:0]
	for _, q := range s.queue {
		if q.share != "" && keep(q.share) {
			out = append(out, q)
			continue
		}
		kept = append(kept, q)
	}
	s.queue = kept
	for _, f := range append([]*inflight(nil), s.inflight...) {
		if f.share != "" && f.out.Msg != nil && keep(f.share) {
			out = append(out, queued{msg: f.out.Msg, qos: f.out.QoS, retain: f.out.Retain, subIDs: f.out.SubIDs, share: f.share})
			s.removeInflight(f.out.PacketID)
		}
	}
	return out
}
