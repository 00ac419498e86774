// Package recovery is the journal's failover driver (DESIGN section 3,
// "Recovery" in docs/journal-protocol.md). When the placement center declares a
// segment leader dead (or the leader registers again after a restart) it
// moves the leader's open segments to RECOVERING at epoch+1 and names a
// live replica recovery_node. On that node this package:
//
//  1. fences every replica at the new epoch (Fence over gRPC; the local
//     replica directly through the segstore) and describes it;
//  2. waits for replica_count - ack_quorum + 1 replies: that set intersects
//     every ack quorum, so it holds every acknowledged batch;
//  3. takes E = the highest log end among the replies (or, when a replica
//     is already sealed by an earlier attempt, that seal's end), asserting
//     E >= every replier's LAC, so committed data is never trimmed;
//  4. copies the batches a replica misses below E from the fullest replier
//     (ReadReplica, then Replicate at the new epoch, or AppendRecovered for
//     the local replica) and seals every reachable replica at E, which
//     trims an unacknowledged tail past E;
//  5. once at least replica_count - ack_quorum + 1 replicas are sealed at E,
//     calls placement SealAndRoll(seq, end = E, expected_version =
//     segment.version, exclude_nodes = [old leader], left empty when the
//     old leader is ALIVE: it restarted and registered again, which is
//     what moved the segment to RECOVERING).
//
// It retries an attempt with capped, jittered backoff until SealAndRoll
// succeeds, placement answers VersionMismatch, SegmentSealed or NotFound
// (someone else finished, or the shard is gone), the segment leaves
// RECOVERING for this node in the metadata cache, or the context ends.
// Every step is idempotent (fence, copy of identical batches, seal at the
// same end), so a retry after a partial attempt, or after a restart of this
// node, converges on the same end.
//
// It owns only the recovery decision for segments it is the recovery node
// of. It must never: write to a segment that is not RECOVERING with this
// node as recovery node; choose an end below any replier's LAC; seal before
// a quorum-intersecting set of replicas answered; call SealAndRoll with an
// end that is not sealed on replica_count - ack_quorum + 1 replicas; or
// change placement state other than through that one SealAndRoll. Local
// replicas whose placement segment is already sealed are the reconcile
// package's business, not this one's.
//
// ReadRange (exported) streams a verified range of a remote replica's
// batches; the reconcile package copies with it too. Dialer (exported) is
// a small connection pool resolving node ids through the metadata cache,
// usable as Config.Dial by both packages.
package recovery
