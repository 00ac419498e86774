// Package server exposes the placement center over gRPC: the
// PlacementService (registry, metadata objects, Watch) and the ClusterService
// (Raft membership and status). It validates requests, turns writes into
// Raft commands, serves reads from the applied state after a ReadIndex
// barrier, and asks the scheduler where new segments go. It must never write
// to the state directly: every change goes through Raft so every member
// applies it identically.
package server
