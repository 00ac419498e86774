// Package registry keeps the leases of registered broker and journal nodes
// and declares a node dead, through Raft, once its lease lapses. Leases live
// only in the leader's memory: heartbeats are frequent and carry no state
// change, so they never go through the log (DESIGN section 4). It must never
// declare a death before a full lease has passed since this member became
// leader, because the previous leader's heartbeat history is lost with it.
package registry
