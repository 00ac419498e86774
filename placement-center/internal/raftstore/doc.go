// Package raftstore is the durable Raft log of one placement-center member:
// a raft.Storage backed by its own Pebble database at <dataDir>/raft. It owns
// the log entries, HardState, the current ConfState, the latest snapshot, the
// membership (member ids, addresses and the highest id ever assigned) and the
// snapshot envelope format that carries that membership next to the state
// machine's data.
//
// Every mutation is one Pebble batch committed with pebble.Sync, so a crash
// leaves either all of a Save (snapshot, entries, HardState) or none of it.
// It must never interpret state machine data or decide anything about Raft:
// it stores what the Raft node hands it and answers raft.Storage queries.
package raftstore
