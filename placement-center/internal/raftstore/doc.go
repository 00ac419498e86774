// Package raftstore is the durable Raft log of one placement-center member:
// a raft.Storage backed by its own Pebble database at <dataDir>/raft. It owns
// the log entries, HardState, the current ConfState, the latest snapshot, the
// membership (member ids, addresses and the highest id ever assigned) and the
// snapshot envelope format that carries that membership next to the state
// machine's data.
//
// Every mutation is one Pebble batch, so a crash leaves either all of a Save
// (snapshot, entries, HardState) or none of it. Batches are committed with
// pebble.Sync, except a HardState change of the commit index alone
// (SaveReady with a Ready that does not MustSync), which Raft does not need
// on stable storage. The newest entries are also kept in memory (a bounded
// tail cache) so raft's reads of its own recent log do not go to Pebble.
// The data of a snapshot this member takes (the whole state machine) is
// written to a file of its own in <dataDir>/raft-snap, synced before the
// Pebble batch that refers to it (metadata, length, CRC) commits.
// It must never interpret state machine data or decide anything about Raft:
// it stores what the Raft node hands it and answers raft.Storage queries.
package raftstore
