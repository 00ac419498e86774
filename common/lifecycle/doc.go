// Package lifecycle starts and stops the long-running parts of a process:
// a context cancelled by SIGINT/SIGTERM, and a Group that runs named
// components (gRPC server, HTTP server, Raft loop, ...), stops them all
// when one fails or the process is asked to stop, and waits for them
// within a bound.
//
// A Group owns the goroutines it starts, until Wait returns. It must
// never call os.Exit, never wait without a bound once stopping, and never
// swallow a component's failure.
package lifecycle
