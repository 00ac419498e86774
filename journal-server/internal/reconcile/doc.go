// Package reconcile brings this journal node's local segment replicas in
// line with the placement center's metadata (docs/journal-protocol.md,
// "Reconciling local replicas"). On start and on every metadata change (and
// periodically) it lists the local replicas (segstore.ListSegments) and,
// for each:
//
//   - placement says SEALED at E and the replica is not sealed: Seal(E).
//     An old leader thereby trims the unacknowledged tail it wrote past E.
//     A replica that lacks data up to E (*segstore.IncompleteError) gets the
//     missing batches from another replica of the segment (ReadReplica over
//     gRPC, then AppendRecovered) and is sealed.
//   - the segment, or its whole shard, is gone from placement (retention's
//     DeleteSegments, DeleteShard): the replica is deleted
//     (segstore.DeleteSegment). So is a replica of a SEALED segment that
//     no longer lists this node (placement re-replicated it elsewhere
//     while this node was dead). A miss in the cache is only a
//     candidate: it is acted on after the cache's first full sync and only
//     when a linearizable GetShard confirms it (NotFound, the shard
//     without that segment, or the segment SEALED without this node),
//     never on a transient miss or an error.
//
// And for each SEALED segment placement lists on this node that the node
// does not hold (it replaces a dead replica, or the node lost its disk):
// CreateSegment(start, epoch), copy the whole segment from the other
// replicas (ReadReplica + AppendRecovered) and Seal at placement's end; a
// partial copy is completed by later passes like any incomplete replica.
//
// Work is bounded per pass (MaxActionsPerPass seals or copies, plus one
// GetShard per candidate shard); a segment whose action failed is retried
// with capped exponential backoff, the others are not held up by it.
//
// It owns only these local corrections. It must never: create a replica of
// a segment that is not SEALED in placement, seal a segment that
// placement does not say is SEALED, seal at any end but placement's, trim
// below the replica's LAC (segstore refuses; reconcile reports it), write to
// other nodes, change placement state, or delete a replica on the strength
// of the cache alone. A replica sealed locally at an end other than
// placement's is reported, not repaired.
package reconcile
