// Package registry keeps the leases of registered broker and journal nodes
// and declares a node dead, through Raft, once its lease lapses or, faster,
// once the leader's health probes show it unreachable.
//
// A DRAINING node (an operator's DrainNode) is a live node in every
// respect here: its heartbeats renew its lease without changing its
// status, it is probed, and it is declared DEAD when its lease lapses or
// its probes fail. Nothing here sets a node DRAINING or back to ALIVE.
//
// Leases live only in the leader's memory: heartbeats are frequent and
// carry no state change, so they never go through the log (DESIGN section
// 4). A lease is only a backstop, though: with the default 10 s lease a
// crashed journal segment leader would stall its partition for 10 s. So the
// leader also probes every ALIVE or DRAINING node (prober.go): one
// goroutine per node incarnation keeps a gRPC connection to the node's
// grpc_addr with a grpc.health.v1 Watch stream (the connection of a crashed process breaks
// at once) and a health Check every probe interval (a hung process or a
// lost host answers nothing). When either fails it probes: probe_attempts
// Checks, each on a fresh connection (a reused one answers from its
// reconnect backoff without trying), probe_timeout each, probe_backoff
// apart. One answer of any kind (an error status from the server too)
// means alive; when none answers, the node is declared dead through the
// very path a lapsed lease takes (declareDead: one SetNodeStatus DEAD
// proposal carrying the incarnation, so journal segments go RECOVERING and
// recovery runs). A kill -9 is thus declared about 2 x probe_backoff after
// the crash; a hang after about probe_interval + (probe_attempts+1) x
// probe_timeout + (probe_attempts-1) x probe_backoff.
//
// A probe failure acts at once, even inside a new leader's first lease: it
// is direct evidence, while the lease rule ("never declare by lease before
// a full lease has passed since this member became leader") exists because
// the previous leader's heartbeat history is lost with it. The evidence is
// used only when it is strong; otherwise the node is left to its lease:
//
//   - the node must have answered a health call of this incarnation during
//     this leadership term (a node this member never reached, e.g. behind a
//     wrong advertised address, is not declared dead over and over after
//     each registration; the price: a node already down when this member
//     became leader waits for its lease);
//   - a node that last said NOT_SERVING is stopping cleanly and will
//     unregister;
//   - a node that heartbeated after the failure was seen is alive;
//   - when more than half of the nodes reached this term fail at once the
//     fault is more likely this member's own (its network, its file
//     descriptors) than theirs.
//
// A wrongly declared node stays harmless: journal fencing rejects its old
// epoch, and its next heartbeat is refused, so it registers again with a
// new incarnation. Declarations are serialised and re-checked against the
// applied state (still ALIVE or DRAINING, same incarnation) and the
// leadership term they were decided in, so a node is declared dead once, a node that
// re-registered meanwhile is spared, and nothing decided under an earlier
// term is proposed. Only the leader probes: losing leadership cancels the
// term's context, stops every watcher and waits for them (Registry.Run
// owns them all).
package registry
