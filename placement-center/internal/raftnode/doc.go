// Package raftnode drives one member of the placement center's Raft group
// with go.etcd.io/raft/v3, the way etcd's raft doc.go prescribes: entries and
// HardState are persisted in one Pebble batch (synced when the Ready must
// sync) before messages are sent (a leader may send MsgApp and heartbeats
// while it persists, see handleReady), committed entries are applied off the
// Ready loop, snapshots come from the state machine and compact the log,
// PreVote and CheckQuorum are on, and reads are made linearizable with
// ReadIndex. Commands are queued by Propose and stepped into raft in batches
// by the Ready loop. It owns the Raft log, the
// membership (member ids and addresses; ids are never reused), proposals and
// their waiters, and the peer transport over gRPC. It must never interpret a
// Command: that is the state machine's job.
//
// Goroutines, all started and stopped by Run: the Ready loop (Run's own
// goroutine, sole driver of the raft.RawNode together with short locked
// calls from ReadIndex, membership changes and the transport), the applier
// (the only caller of StateMachine.Apply, Sync and Restore after New), at
// most one snapshot goroutine at a time started by the applier (the only
// caller of StateMachine.Snapshot), and one sender per peer. Membership changes are applied to raft inside the Ready
// loop, after the applier drained and synced everything before them, so a
// restart replays at most the one change the durable ConfState already has.
package raftnode
