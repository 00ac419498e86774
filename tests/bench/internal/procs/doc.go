// Package procs starts the benchmark's child processes (placement-center
// members, etcd members) each in its own process group with its output in
// a log file, and stops them all: SIGTERM to the group, then SIGKILL after
// a grace period. Children also get SIGKILL from the kernel if the bench
// process dies without cleaning up (Pdeathsig).
//
// It owns the children it started. It must never signal a process it did
// not start, and never leave one running after StopAll returns.
package procs
