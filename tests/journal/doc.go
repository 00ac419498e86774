// Package journal holds the journal's cross-process integration and fault
// tests (issue 3): real bin/placement-center and bin/journal-server
// processes on loopback ports, driven through bin/robustctl (stream and
// bench commands) and through the JournalService API directly, with
// journal nodes and placement members killed with SIGKILL, stopped with
// SIGTERM, paused with SIGSTOP and restarted.
//
// The fault list, on three journal nodes with replicas 3 and ack quorum 2:
// kill -9 of a segment leader under a verifiable produce (the producer
// resumes and finishes, every acked record read back once, dense offsets;
// 5 cycles, 20 under ROBUSTMQ_CHAOS=1), kill -9 of a follower (writes
// continue), kill -9 of the placement leader during rolls, every journal
// node killed or stopped at once and restarted (all data intact, writes
// resume), and an old leader returning after the seal (fenced, tail
// trimmed, serves the sealed data byte for byte). Corrupt batches on disk
// are covered by journal-server/internal/server's tests.
//
// It owns nothing but its tests. Every test function is named
// TestIntegration* so `make test-integration` (-run Integration) selects
// them and the unit-test run skips them; it must never reach a server's
// internals, only its binary and its public API. ROBUSTMQ_CHAOS=1 (`make
// chaos`) runs the long variants.
package journal
