// Package replication is the journal node's segment leader and follower
// logic (DESIGN section 3; docs/journal-protocol.md "Append", "Replication",
// "Roll / early seal"). It owns, per segment this node leads: the append
// path (local unsynced append, forwarding, group-committed fsync), the
// Replicate streams to the followers, the LAC (lac.Tracker) and the
// acknowledgement of writers at LAC, the idempotent producer table (seeded
// from segment n-1 when segment n is taken), and the roll: seal on size or
// age, early seal when a replica is no longer ALIVE, then placement
// SealAndRoll. It also owns the follower side of Replicate (create on first
// contact, unsynced AppendReplica, AdvanceLAC, one sync per group), the
// per-segment change notification readers long-poll on, and the mapping of
// segstore errors to rpcerr typed errors.
//
// It must never: decide placement (leader, replicas, epochs come from the
// placement center through Metadata); recover RECOVERING segments or
// reconcile stale local replicas (internal/recovery, internal/reconcile);
// acknowledge a batch before LAC covers it; or expose a gRPC server (the
// server package maps requests onto it).
//
// Streams. Each (segment, follower) pair has its own Replicate stream and
// goroutine (a replicator). A per-node stream multiplexed across segments
// would need the follower to demultiplex to per-segment workers to keep
// segments independent, and one segment's resend (NotContiguous) or slow
// fsync would otherwise stall every other segment behind it on the stream.
// With one stream per segment the follower applies each segment in order
// on its own goroutine, segstore group-commits the fsyncs of concurrent
// segments, and the resend state (generation, in-flight window) is local
// to one goroutine. gRPC multiplexes all of them over one HTTP/2
// connection per follower node (Peers), so the cost is a stream, not a
// connection, per open segment replica.
//
// Replicators are pull-based: they send the leader's batches from the
// follower's acknowledged log end upward (up to the leader's log end,
// synced or not), out of an in-memory tail of
// recent batches or, for a follower far behind (or back after a failure),
// out of the leader's store. So a follower that returns is caught up from
// its log end and a failed follower never blocks appends: the LAC follows
// the ack_quorum-th highest log end.
//
// Group commit. The leader assigns offsets and writes under appendMu
// without sync (segstore.AppendUnsynced) and returns; a per-segment syncer
// goroutine runs one segstore.Sync for every append that arrived since its
// previous sync began, so appends queued behind an fsync share the next
// one. The replicators are poked by the append itself, so the followers'
// fsyncs run alongside the leader's. Each sync raises the leader's durable
// end, which counts toward the LAC; only durable ends ever do, so the LAC
// (the ack_quorum-th highest durable end) covers only batches durable on
// ack_quorum replicas, which need not include the leader.
//
// Leader restart. Followers may hold, durably, batches the leader never
// synced; a crash loses them on the leader only. INVARIANT: no process
// appends to a segment at an epoch led by an earlier process of the same
// node. Placement keeps it: registering again moves every OPEN segment the
// node leads to RECOVERING at epoch+1 (fsm registerNode); this package
// keeps it locally: with Config.AwaitRegistration the manager takes no
// leadership before SetRegistered, and then only of segments whose
// metadata version is above the registration's (Manager.takeable), so a
// metadata view from before the registration, still showing the old
// leadership OPEN, is never acted on. Recovery then seals at the highest
// log end of a quorum, which holds every acknowledged batch.
// The follower applies every Replicate request already received on the
// stream without sync (consecutive batches of one segment in one store
// commit), then one segstore.Sync, then answers them all: each log_end it
// reports is durable. Only followers the ack quorum needs sync every
// group; the others defer it (replicator.go, "Lazy replicas") and their
// unsynced answers count toward nothing. The leader's replicator handles every response
// already received and then records the highest end once, so a follower's
// group moves the LAC once. Seals and fences are synced and
// order after pending unsynced appends (see segstore). The Ack of an
// append waits for the LAC, so it is durable on ack_quorum replicas.
package replication
