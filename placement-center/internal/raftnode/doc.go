// Package raftnode drives one member of the placement center's Raft group
// with go.etcd.io/raft/v3, the way etcd's raft doc.go prescribes: entries and
// HardState are persisted in one synced Pebble batch before any message is
// sent, committed entries are applied off the Ready loop, snapshots come from
// the state machine and compact the log, PreVote and CheckQuorum are on, and
// reads are made linearizable with ReadIndex. It owns the Raft log, the
// membership (member ids and addresses; ids are never reused), proposals and
// their waiters, and the peer transport over gRPC. It must never interpret a
// Command: that is the state machine's job.
package raftnode
