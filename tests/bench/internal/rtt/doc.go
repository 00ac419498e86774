// Package rtt measures one loopback round trip of a message the size of a
// single-record append, two ways in one process: over a gRPC
// bidirectional stream (the journal's own JournalService.Append messages,
// as every hop between our services travels) and over a plain TCP
// connection (what a hand-written protocol such as NATS's pays). It
// explains what part of a C = 1 append is the transport: a produce at
// C = 1 crosses two such round trips (client to leader, leader to
// follower).
//
// It owns that measurement only: it must never start other processes,
// listen anywhere but 127.0.0.1, or run unbounded (every loop is bounded
// by a count and by its context).
package rtt
