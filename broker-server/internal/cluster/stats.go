package cluster

import "sync/atomic"

type counters struct {
	forwarded  atomic.Uint64 // messages queued for another broker
	fwdDropped atomic.Uint64 // forwards dropped (queue full, no peer)
	received   atomic.Uint64 // messages other brokers delivered here
	appended   atomic.Uint64 // QoS 1/2 messages appended to the log
	mapped     atomic.Uint64 // records appended to mapped streams
	willsFired atomic.Uint64 // wills of dead brokers' sessions published
}

// Stats is a snapshot of the cluster side's totals and sizes.
type Stats struct {
	Forwarded, ForwardDropped, Received uint64
	LogAppends, MappedAppends           uint64
	DeadBrokerWills                     uint64
	// Routes is the route table's size (every broker's), Retained the
	// number of retained messages, Peers the brokers this one talks to.
	Routes, Retained, Peers int
}

// Stats returns the cluster side's totals and sizes.
func (c *Cluster) Stats() Stats {
	st := Stats{Forwarded: c.stats.forwarded.Load(), ForwardDropped: c.stats.fwdDropped.Load(),
		Received: c.stats.received.Load(), LogAppends: c.stats.appended.Load(),
		MappedAppends: c.stats.mapped.Load(), DeadBrokerWills: c.stats.willsFired.Load()}
	c.routes.mu.Lock()
	st.Routes = len(c.routes.set)
	c.routes.mu.Unlock()
	st.Retained = c.opts.Retained.Len()
	c.peers.mu.Lock()
	st.Peers = len(c.peers.m)
	c.peers.mu.Unlock()
	return st
}
