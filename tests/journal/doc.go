// Package journal holds the journal's cross-process integration and fault
// tests (issue 3): real bin/placement-center and bin/journal-server
// processes on loopback ports, driven through bin/robustctl (stream and
// bench commands) and through the JournalService API directly, with
// journal nodes and placement members killed with SIGKILL and restarted.
//
// It owns nothing but its tests. Every test function is named
// TestIntegration* so `make test-integration` (-run Integration) selects
// them and the unit-test run skips them; it must never reach a server's
// internals, only its binary and its public API. ROBUSTMQ_CHAOS=1 (`make
// chaos`) runs the long variants.
package journal
