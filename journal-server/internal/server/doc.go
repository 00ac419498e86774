// Package server is the journal node's gRPC JournalService: it maps each
// RPC onto the local segment store (segstore) and the segment leader and
// follower logic (replication), and segstore errors onto rpcerr typed
// errors. Append answers in request order, each batch once the LAC covers
// it, errors in-band; Read serves batches up to the LAC (the live LAC on
// the leader), long-polls for more on the per-segment change notification
// and ends with sealed/sealed_end at a sealed segment's end; Fence, Seal,
// Describe and ReadReplica serve recovery and reconciliation; Replicate is
// the follower side of replication.
//
// It must never make replication decisions itself (who leads, when to
// seal, what the LAC is: replication and placement decide), never serve a
// record past the LAC outside ReadReplica, and never crash or end an Append
// or Replicate stream on one bad request.
package server
