// Package lac computes a segment's last add confirmed: the highest offset
// below which every record is durable on an ack quorum of its replicas. It
// owns that arithmetic and the waiting of appenders for it; it must never do
// I/O. Invariant: LAC never decreases, and it is never above the log end of
// ack-quorum replicas (the leader counts as one of them).
package lac
