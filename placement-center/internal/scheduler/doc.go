// Package scheduler decides where segments live: which live (ALIVE, not
// DRAINING) journal nodes hold a new segment's replicas and which of them
// leads it. It is a pure function of the node list and the current load;
// it owns no state and must never write anything — the leader proposes
// what it returns through Raft, so every member applies the same decision.
package scheduler
