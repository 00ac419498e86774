// Package harness runs the project's real binaries (bin/placement-center,
// bin/journal-server and bin/robustctl; the broker server once it lands)
// as child processes on loopback ports, for cross-service integration and
// fault tests.
//
// It owns those child processes: each runs in its own process group with
// its output in a per-process log file under the test's temp dir (the log
// tail is printed when the test fails), can be killed with SIGKILL, stopped
// with SIGTERM, paused with SIGSTOP and restarted with the same arguments
// and data dir; a journal cluster can be killed or stopped all at once. It
// must never let a process outlive its test (every process is killed in
// t.Cleanup, and the kernel kills it if the test binary dies), never bind
// anything but 127.0.0.1, and never wait without a deadline.
//
// Helpers that take a testing.TB call t.Fatal and so belong on the test's
// own goroutine; the rest return errors and may be used anywhere.
package harness
