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
// has a writer mutex, held by writers (Append, AppendReplica,
// AppendRecovered, AdvanceLAC, Fence, Seal, DeleteSegment) for the whole of
// their Pebble commit, so one segment's writes are applied one at a time in
// offset order, while writes to different segments commit concurrently and
// Pebble's commit pipeline folds their WAL fsyncs into shared group commits.
// Per-segment throughput is therefore one synced commit at a time; callers
// batch records to amortize it. Readers (Read, FindOffsetByTime, Describe,
// ListSegments) take a second, short per-segment mutex to copy the cached
// metadata and open a Pebble iterator; they wait behind a writer's fsync
// only when that commit removes data (a seal that trims, a deletion), so
// the data a reader iterates always covers the metadata it read. The
// in-memory metadata is changed only after its Pebble batch committed; if a
// commit fails, the segment refuses further writes until the store is
// reopened, because memory and disk may then disagree. Close waits for
// in-flight calls.
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
