package core

import "sync/atomic"

// counters are the broker core's running totals (read by metrics and
// $SYS); all fields are atomics so the hot paths never take a lock.
type counters struct {
	published [3]atomic.Uint64 // by QoS, accepted publishes
	failed    atomic.Uint64    // publishes not stored (cluster error)
	delivered atomic.Uint64    // messages queued for a session
	dropped   atomic.Uint64    // messages dropped: a session's queue was full
	expired   atomic.Uint64    // queued messages whose expiry passed before they were sent
}

// Stats is a snapshot of the core's totals and sizes.
type Stats struct {
	// Published counts accepted publishes by QoS; PublishFailed those the
	// cluster could not store (the publisher got no positive ack).
	Published     [3]uint64
	PublishFailed uint64
	// Delivered counts messages routed to sessions of this broker (one per
	// session; a QoS 0 message to an offline session counts but is not
	// kept); Dropped those dropped because a session's queue was full.
	Delivered uint64
	Dropped   uint64
	// Expired counts queued messages dropped unsent because their message
	// expiry passed (MQTT 5 Message Expiry Interval).
	Expired uint64
	// Sessions held by this broker, Online of them with a connection,
	// Persistent of them reading from the log.
	Sessions, Online, Persistent int
}

// Stats returns the core's totals and current sizes.
func (b *Broker) Stats() Stats {
	st := b.Totals()
	st.Sessions, st.Online, st.Persistent = b.sessionCounts()
	return st
}

// Totals is Stats without the session counts: atomics only, no scan of
// the sessions (what a counter read at every metrics scrape needs).
func (b *Broker) Totals() Stats {
	st := Stats{PublishFailed: b.counters.failed.Load(), Delivered: b.counters.delivered.Load(),
		Dropped: b.counters.dropped.Load(), Expired: b.counters.expired.Load()}
	for i := range st.Published {
		st.Published[i] = b.counters.published[i].Load()
	}
	return st
}

// sessionCounts scans the sessions: held, online, persistent.
func (b *Broker) sessionCounts() (sessions, online, persistent int) {
	if ms, ok := b.sessions.(*MemSessionStore); ok {
		ms.mu.RLock()
		defer ms.mu.RUnlock()
		for _, s := range ms.m {
			sessions++
			s.mu.Lock()
			if s.client != nil {
				online++
			}
			if s.fed {
				persistent++
			}
			s.mu.Unlock()
		}
		return sessions, online, persistent
	}
	return b.sessions.Len(), 0, 0
}
