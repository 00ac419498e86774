// Package retention deletes a shard's old sealed segments, whole, by time
// and by size (DESIGN section 3.4; docs/journal-protocol.md's stream config).
//
// Who decides: the journal node that leads the shard's OPEN segment (in
// the metadata cache). Every Interval it evaluates each shard it leads:
//
//   - the limits: shard config "retention.time" (Go duration) and
//     "retention.bytes" (decimal) override the node's defaults
//     (segment.retention_time, segment.retention_bytes); 0 disables a
//     limit; an unparsable value is logged and the default used.
//   - the candidates: the leading run of SEALED segments below the active
//     one (a RECOVERING or OPEN segment ends the run; nothing after it is
//     ever deleted, so the shard's offsets stay contiguous).
//   - by time: the longest prefix of candidates whose newest record
//     (segment max timestamp) is older than now - retention.time.
//   - by size: while the shard's total size (sealed candidates plus the
//     open segment's local size) exceeds retention.bytes, the oldest
//     remaining candidate goes too.
//   - the deletion: one placement DeleteSegments(up_to_seq = last doomed
//     seq + 1, expected_version = the cached shard version), i.e. one Raft
//     entry. A VersionMismatch or any failure is simply re-evaluated on
//     the next tick.
//
// A sealed segment's newest-record time and size never change, so they
// are read once and remembered: from the local replica's Describe
// (segstore MaxTimestampMs, Bytes) when this node holds it sealed,
// otherwise from another replica: its Describe for the size and a
// ReadReplica of the batch holding end-1 for the time (the last batch's max
// timestamp stands in for the segment's; producers' clocks are assumed
// to move forward). A segment whose stats cannot be read ends the
// candidate run for this tick.
//
// It must never delete data itself: every replica (this node's included)
// drops its copy in reconcile, after the segment is gone from placement
// and a linearizable GetShard confirmed it. It never deletes the open
// segment, a segment that is not SEALED, or anything past a gap.
package retention
