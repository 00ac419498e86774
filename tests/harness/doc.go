// Package harness starts the real service binaries (bin/placement-center,
// and later the journal and broker) as child processes on loopback ports for
// cross-service tests: each in its own process group, logs in the test's
// temp dir (their tail printed when a test fails), killable with SIGKILL or
// SIGTERM and restartable on the same data dir. It must never leave a
// process running after its test: everything is stopped in t.Cleanup.
package harness
