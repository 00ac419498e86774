// Package segstore is the durable storage of one journal node: a single
// Pebble database holding the local replicas of many segments. Per segment
// it owns the metadata (fence epoch, log end, last add confirmed, seal
// state), the batches keyed by (segment, first offset) and a sparse time
// index, and it enforces the replica rules of DESIGN section 3: appends only
// at the log end, never below the fence epoch, never after the seal; a seal
// trims an old leader's unconfirmed tail; reads never return a batch whose
// CRC fails.
//
// It must never decide anything about replication: it does not talk to
// other replicas, choose epochs, compute the LAC or know about gRPC. The
// journal server drives it and maps its typed errors to rpcerr codes.
//
// Concurrency model. Every method is safe for concurrent use. Each segment
// has a writer mutex, held by writers (Append, AppendUnsynced,
// AppendReplica, AppendReplicaUnsynced, AppendReplicasUnsynced,
// AppendRecovered, AdvanceLAC, Fence, Seal, DeleteSegment) for the whole
// of their Pebble commit, so one segment's writes are applied one at a
// time in offset order. Readers
// (Read, FindOffsetByTime, Describe, ListSegments) take a second, short
// per-segment mutex to copy the cached metadata and open a Pebble
// iterator; they wait behind a writer's commit only when that commit
// removes data (a seal that trims, a deletion), so the data a reader
// iterates always covers the metadata it read. The in-memory metadata is
// changed only after its Pebble batch committed; if a commit or a sync
// fails, the segment refuses further writes until the store is reopened,
// because memory and disk may then disagree. Close waits for in-flight
// calls.
//
// Durability and group commit. Every write is one Pebble batch holding the
// data and the segment metadata together. Creation, Append, AppendReplica,
// AppendRecovered, Fence, Seal and DeleteSegment commit synced;
// AppendUnsynced, AppendReplicaUnsynced and AppendReplicasUnsynced (the hot
// path of a leader and a follower; the last puts a follower's consecutive
// batches in one Pebble batch, still with the metadata) and AdvanceLAC
// commit without sync, and Sync later makes
// everything committed before it durable with one synced empty WAL record,
// so many appends share one fsync, and concurrent Syncs and synced commits
// of any segments share Pebble's group commits. Invariants:
//
//   - Pebble's WAL is one ordered log and a crash replays a prefix of it,
//     so after a crash the store holds every synced write, every write
//     committed before a synced one, and of the rest some prefix: a segment
//     may lose its last unsynced appends, never a middle one, and its
//     metadata always matches its batches (they were in the same batch).
//   - Each segment keeps a durable end (SegmentState.DurableEnd <= LogEnd):
//     every batch below it survives a crash. It rises only when a synced
//     commit or a Sync completes, to the log end published before that
//     sync began; a trimming seal (itself synced) lowers it with the log
//     end. Callers report only durable ends to others (a follower's
//     log_end, a leader's own end in the LAC), so an end once reported is
//     never lost. Batches above it may be read and forwarded (a leader
//     replicates before its own Sync); the caller then owns the rule that
//     a crash losing them is not followed by appends at those offsets (the
//     journal: a restarted node never appends at its old epoch).
//   - Fence and Seal are synced and therefore order after every pending
//     unsynced append: the log end a fence reports is durable (a fence at
//     an epoch already reached syncs if needed), and a seal's end, trimmed
//     or not, is on disk when it returns.
//   - Open flushes what Pebble replayed from its WAL to synced tables, so
//     unsynced appends that survived a process crash only in the OS page
//     cache are durable before anything reports them: after Open the
//     durable end of every segment is its log end.
//
// Key layout (one Pebble keyspace, big-endian integers):
//
//	{0x00}'v'                                     store format version
//	'm' seg                                       segment metadata
//	'b' seg first_offset(8)                       batch bytes (recordbatch format)
//	't' seg max_ts(8, sign-flipped) first(8)      time index entry (empty value)
//
// where seg = len(tenant)(2) tenant len(shard)(2) shard seq(4). The segment
// encoding is self-delimiting, so every key of a segment lies in the range
// [kind seg, successor(kind seg)) and DeleteRange over it touches no other
// segment.
//
// The time index is sparse: an entry is written only for a batch whose
// max timestamp exceeds every earlier batch's in the segment. Its keys are
// thus increasing in both timestamp and offset, and the first entry at or
// after a timestamp names the first batch whose max timestamp reaches it.
package segstore
