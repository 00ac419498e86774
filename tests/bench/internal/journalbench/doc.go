// Package journalbench is the journal benchmark (`make bench-journal`):
// on this machine, in one run, the produce throughput and latency of a
// RobustMQ-Go stream (three placement-center and three journal-server
// processes from bin/, stream replicas 3, ack quorum 2, driven in-process
// through common/streamclient) against a NATS JetStream cluster (three
// nats-server processes, a replicas-3 file stream, driven through
// nats.go) with sync_interval "always" and with its default, and against
// the disk's own limit (write + fdatasync of the same batch size, divided
// by the replica count); then the stream is read back from its earliest
// offset.
//
// Concurrency C means, for every system alike: one client connection to
// the stream's leader, single-record (1 KiB by default) appends or
// publishes, and at most C of them sent and not yet acknowledged; a new
// one is sent the moment an acknowledgement frees a slot. Latency is per
// record, from submission to acknowledgement. The disk limit at C writes
// C records per fdatasync, the best group commit C in-flight records allow.
//
// Each step prints a table and one JSON line; the run ends with one JSON
// line of goal verdicts (met only when met at every concurrency).
package journalbench
