// Package app assembles one journal node from its parts: the segment store
// under the data directory, the placement client (common/leaderclient),
// the metadata cache, the node registration, the replication manager, the
// gRPC JournalService and the HTTP /metrics and /healthz server, plus the
// background workers listed in workers (recovery, reconcile), and runs
// them until the context ends. It owns start-up order and shutdown; it
// must never hold business logic (that lives in the parts).
package app
