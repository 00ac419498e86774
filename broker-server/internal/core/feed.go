package core

import (
	"context"
	"maps"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/common/lifecycle"
)

// A persistent session of a clustered broker reads its QoS 1/2 messages
// from the log (DESIGN section 5: the queue is the log). Per partition a
// feed goroutine reads from the session's position, keeps the records that
// match the session's non-shared subscriptions and queues them, never more
// than FeedWindow at a time, so a slow subscriber costs memory only up to
// the window and never loses an acknowledged message.
//
// Invariant (what makes a resume lossless): for every partition p, every
// matching record with offset < position(p) has been finished — acknowledged
// by the client (PUBACK, or PUBREC for QoS 2), sent at QoS 0, or expired —
// where position(p) is the smallest open offset of p, or logNext[p] when
// none is open. Only position(p) is saved, so a resume on any broker
// re-reads from there and at worst sends a QoS 1 message again.

// isFed reports whether the session's QoS 1/2 messages come from the log.
func (s *Session) isFed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fed
}

// markDirty says the session's state must be saved.
func (s *Session) markDirty() {
	s.mu.Lock()
	s.dirty = s.fed
	s.mu.Unlock()
}

// finishLocked closes a log message's offset; s.mu is held.
func (s *Session) finishLocked(pos Position) {
	if !pos.Valid || s.open == nil {
		return
	}
	o := s.open[pos.Partition]
	if _, ok := o[pos.Offset]; !ok {
		return
	}
	delete(o, pos.Offset)
	s.openCount--
	s.dirty = true
	s.wakeFeedLocked()
}

func (s *Session) wakeFeedLocked() {
	if s.feedWake != nil {
		select {
		case s.feedWake <- struct{}{}:
		default:
		}
	}
}

// positionsLocked is the saved position of every partition.
func (s *Session) positionsLocked() map[uint32]uint64 {
	out := maps.Clone(s.logNext)
	for p, o := range s.open {
		for off := range o {
			if off < out[p] {
				out[p] = off
			}
		}
	}
	return out
}

// state snapshots what the cluster keeps of a persistent session and
// clears the dirty mark; ok is false for a session that is not persistent.
func (s *Session) state() (*SessionState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fed {
		return nil, false
	}
	st := &SessionState{ClientID: s.ID, Expiry: s.expiry, Positions: s.positionsLocked(),
		Connected: s.client != nil, Will: s.will, WillDelay: s.willDelay}
	for _, sub := range s.subs {
		st.Subs = append(st.Subs, sub)
	}
	s.dirty = false
	return st, true
}

// stopFeedLocked stops the feed and forgets the log messages queued but
// not sent: the next feed reads them again (in-flight ones stay and are
// resent). s.mu is held.
func (s *Session) stopFeedLocked() {
	if s.feedCancel == nil {
		return
	}
	s.feedCancel()
	s.feedCancel, s.feedWake = nil, nil
	// The feed restarts from the saved position, computed while the
	// queued log messages still hold it back (they are dropped below and
	// read again).
	rewind := s.positionsLocked()
	kept := s.queue[:0]
	for _, q := range s.queue {
		if q.pos.Valid {
			delete(s.open[q.pos.Partition], q.pos.Offset)
			s.openCount--
			continue
		}
		kept = append(kept, q)
	}
	s.queue = kept
	s.logNext = rewind
}

// startFeedLocked starts the session's feeds from its positions; s.mu is
// held and the session is fed.
func (b *Broker) startFeedLocked(s *Session) {
	if s.feedCancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.feedCancel = cancel
	s.feedWake = make(chan struct{}, 1)
	wake := s.feedWake
	for p, from := range s.logNext {
		go b.feed(ctx, s, p, from, wake)
	}
}

// feed reads partition p of the log for s until ctx ends.
func (b *Broker) feed(ctx context.Context, s *Session, p uint32, from uint64, wake <-chan struct{}) {
	log := b.log.With().Str("client_id", s.ID).Uint32("partition", p).Logger()
	for ctx.Err() == nil {
		r, err := b.cluster.OpenLog(p, from)
		if err != nil {
			log.Warn().Err(err).Msg("opening the log")
			if !lifecycle.Sleep(ctx, time.Second) {
				return
			}
			continue
		}
		var cut bool
		from, cut = b.feedFrom(ctx, s, p, r, wake)
		_ = r.Close()
		if !cut && !lifecycle.Sleep(ctx, 200*time.Millisecond) {
			return
		}
	}
}

// feedFrom reads r until an error or ctx ends, or until a batch no longer
// fits the window (cut: the rest of it is read again from the returned
// offset once there is room), and returns the offset to resume from.
func (b *Broker) feedFrom(ctx context.Context, s *Session, p uint32, r LogReader, wake <-chan struct{}) (uint64, bool) {
	for {
		// Wait for room in the window.
		for {
			s.mu.Lock()
			full := s.openCount >= b.opts.FeedWindow
			next := s.logNext[p]
			s.mu.Unlock()
			if ctx.Err() != nil {
				return next, false
			}
			if !full {
				break
			}
			select {
			case <-ctx.Done():
				return next, false
			case <-wake:
			case <-time.After(time.Second):
			}
		}
		recs, err := r.Next(ctx)
		s.mu.Lock()
		next := s.logNext[p]
		if ctx.Err() != nil {
			s.mu.Unlock()
			return next, false
		}
		if err != nil {
			s.mu.Unlock()
			b.log.Debug().Err(err).Str("client_id", s.ID).Msg("reading the log")
			return next, false
		}
		c := s.client
		added, cut := false, false
		for _, rec := range recs {
			if rec.Pos.Offset < s.logNext[p] {
				continue
			}
			if s.openCount >= b.opts.FeedWindow {
				cut = true
				break
			}
			s.logNext[p] = rec.Pos.Offset + 1
			s.dirty = true
			if rec.Msg == nil {
				continue // not a message (the position still moves past it)
			}
			if _, busy := s.open[p][rec.Pos.Offset]; busy {
				continue // still in flight from the last connection
			}
			q, ok := s.matchLocked(rec.Msg)
			if !ok {
				continue
			}
			q.pos = rec.Pos
			if s.open[p] == nil {
				s.open[p] = map[uint64]struct{}{}
			}
			s.open[p][rec.Pos.Offset] = struct{}{}
			s.openCount++
			s.queue = append(s.queue, q)
			added = true
		}
		next = s.logNext[p]
		s.mu.Unlock()
		if added && c != nil {
			c.Notify()
		}
		if cut {
			return next, true
		}
	}
}

// matchLocked is the delivery of m to s by its non-shared subscriptions
// (shared ones are served by routing, one member per message): the
// largest QoS and every subscription identifier. s.mu is held.
func (s *Session) matchLocked(m *Message) (queued, bool) {
	q := queued{msg: m}
	found := false
	for _, sub := range s.subs {
		if sub.Group != "" || (sub.NoLocal && m.From == s.ID) || !packets.MatchTopic(sub.TopicFilter, m.Topic) {
			continue
		}
		found = true
		q.qos = max(q.qos, min(sub.QoS, m.QoS))
		q.retain = q.retain || (m.Retain && sub.RetainAsPublished)
		if sub.ID != 0 {
			q.subIDs = append(q.subIDs, sub.ID)
		}
	}
	return q, found
}
