// Package group is the Kafka group coordinator of one broker: the classic
// consumer group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// DescribeGroups, ListGroups, DeleteGroups) with its state machine
// (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead), member
// session expiry, and committed offsets (OffsetCommit, OffsetFetch)
// written through an OffsetStore.
//
// Membership lives in this broker's memory only, as in Kafka: when the
// coordinator of a group moves to another broker, the members get
// UNKNOWN_MEMBER_ID there and rejoin. Committed offsets must live in the
// cluster: the broker's OffsetStore is the placement center's KV
// (KVOffsets), so they survive any broker's restart.
//
// It must never decide which broker coordinates a group (the server
// checks that before calling), never touch the network other than through
// the OffsetStore, and never block a caller past its context: every
// waiting call (JoinGroup, SyncGroup) returns when its context ends.
package group
