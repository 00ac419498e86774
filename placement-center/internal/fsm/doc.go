// Package fsm is the placement center's typed state machine: it applies
// committed placementpb.Commands to its own Pebble database, serves reads of
// the applied state, takes and restores snapshots, and hands the resulting
// change events to the watch hub. It implements raftnode.StateMachine.
//
// It must never read a clock, randomness or local configuration while
// applying (every member must reach byte-identical state from the same log),
// never propose anything, and never hand out a pointer to a message it keeps
// or publishes: every getter unmarshals a fresh message.
//
// # Key layout
//
// Every value is a placementpb message marshalled with Deterministic set,
// except the meta/ counters, which are 8-byte big-endian integers.
//
//	node/<id 8B BE>                          ClusterNode
//	shard/<tenant>/<name>                    Shard
//	segment/<tenant>/<shard>/<seq 8B BE>     Segment
//	tenant/<name>                            Tenant
//	user/<tenant>/<username>                 User
//	acl/<tenant>/<id 8B BE>                  AclRule
//	kv/<key>                                 KeyValue
//	meta/applied_index                       last applied Raft index
//	meta/next_acl_id/<tenant>                next ACL id of the tenant (from 1)
//	meta/max_node_id                         highest node id ever registered
//
// Tenant names may not contain '/', so every per-tenant prefix is
// unambiguous. Shard names may: segment keys are recognised by their exact
// length (prefix + 8 bytes), never by prefix alone, which is also why
// DeleteShard deletes segment keys one by one instead of with a DeleteRange
// over the prefix (it would hit shard "a/b" when deleting shard "a").
//
// # Semantics worth knowing
//
//   - Node status: SetNodeStatus with a non-empty from list applies only
//     when the node is in one of those statuses (else FailedPrecondition
//     with a NodeStatusMismatch detail): a drain (from ALIVE, DRAINING)
//     racing with a death declaration never revives a DEAD node. A node
//     re-registering keeps DRAINING (a drain outlives the process); any
//     other re-registration makes it ALIVE. A DRAINING journal node gets no
//     new replica (neither placement nor re-replication choose it) but may
//     still be named recovery node.
//   - The tenant "default" always exists: Open writes it (version 0,
//     created_at_ms 0, identical on every member) when missing, Restore
//     re-adds it, and DeleteTenant refuses it.
//   - DeleteTenant fails while the tenant has shards and otherwise deletes
//     its users and ACLs with it; the tenant's ACL id counter is kept so ids
//     are never reused if the tenant is created again.
//   - DeleteShard deletes the shard and all its segments outright (no
//     DELETING state); each deletion emits a DELETE event.
//   - DeleteSegments (retention) deletes a shard's segments below up_to_seq
//     in one entry, only when every one of them is SEALED and the open
//     segment is not among them (else FailedPrecondition with a
//     SegmentNotSealed detail, nothing changed), and records the first
//     remaining segment's seq and start offset on the shard
//     (first_segment, first_offset). Deleting what is already gone
//     succeeds without writing.
//   - Re-replication: when a journal node turns DEAD, every SEALED segment
//     listing a DEAD journal node gets, in the same entry, a live journal
//     node not already holding it in that replica's place (the scheduler's
//     Replace: fewest stored replicas, then lowest id); the epoch stays,
//     the version becomes the entry's index and a replaced leader passes
//     to the first surviving replica. SealAndRoll does the same for the
//     segment it seals (recovery seals segments naming the dead leader),
//     and a journal node registering or set ALIVE repairs segments that
//     found no spare before. The decision reads only the state, so every
//     member makes the same one.
//   - Entries at or below the applied index are not applied again; their
//     outcome is a FailedPrecondition error.
//
// # Reads and revisions
//
// Reads go straight to Pebble and may run concurrently with Apply; each list
// uses one iterator, so it sees one applied batch. The applied index is
// published (atomically) only after its batch commits, so a caller that
// reads AppliedIndex before reading data gets a revision the data is at
// least as new as: watching from that revision+1 never misses a change.
package fsm
