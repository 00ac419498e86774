// Package app assembles one placement-center member from its parts: the
// state machine, the Raft node, the registry, the gRPC and HTTP servers, and
// runs them until the context ends. It owns start-up order and shutdown;
// it must never hold business logic (that lives in the parts).
package app
