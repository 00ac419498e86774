// Package streamclient is the Go client of RobustMQ-Go streams that every
// broker front end (and robustctl) uses to write and read the journal.
//
// A stream NAME of a tenant with P partitions is P placement shards
// "NAME/0" .. "NAME/<P-1>", each created with the config {"stream": NAME,
// "partition": "<i>", "partitions": "<P>"} plus optional per-stream
// segment and retention settings. The package owns:
//
//   - stream administration through the placement center (CreateStream,
//     DescribeStream, ListStreams, DeleteStream);
//   - finding a partition's segments, their leaders and replicas through a
//     watched metacache.Cache, falling back to a linearizable GetShard when
//     the cache is not ready, lags, or names a leader that just refused;
//   - a pool of gRPC connections to journal nodes, by address;
//   - the Producer: per partition one pipelined JournalService.Append
//     stream to the open segment's leader, a bounded in-flight window,
//     appends queued behind it merged into the next batch (which waits, at
//     most 200 µs after an answer, for the callers that answer woke),
//     idempotent batches (producer id, producer epoch, per-partition base
//     sequence in the recordbatch header) and, on NotLeader, Fenced,
//     SegmentSealed, Unavailable or a broken stream, a metadata refresh and
//     an in-order resend of every unacknowledged batch to the current
//     leader, whose dedupe table answers duplicate=true for batches already
//     written. Each batch's outcome (its offsets, or a typed error) is
//     reported to its caller exactly once;
//   - the Reader: per partition, JournalService.Read on a replica of the
//     segment that holds the next offset (the leader first, then the other
//     replicas), crossing segment boundaries at sealed=true, tailing with
//     follow, and resuming after any error at the first offset it has not
//     delivered.
//
// It must never write journal data anywhere but through a segment leader's
// Append, never assign offsets or epochs, never change placement state
// other than creating and deleting a stream's shards (no SealAndRoll, no
// node registration), never deliver a record twice or out of offset order
// from one Reader, and never report a batch as written unless the leader
// acknowledged it (a batch whose deadline passed is reported as a
// *TimeoutError: its outcome is unknown).
package streamclient
