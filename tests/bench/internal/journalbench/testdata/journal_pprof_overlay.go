// Profiling aid for scripts/bench-journal.sh --profile, never part of a
// normal build: the script compiles it into a copy of journal-server
// (bin/journal-server-pprof) through `go build -overlay`, without touching
// journal-server's sources. With RMQ_BENCH_PPROF_DIR set, the process
// serves net/http/pprof on a free loopback port, writes that address to
// $RMQ_BENCH_PPROF_DIR/node-<id>.addr, and samples blocking and mutex
// contention.
package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
)

func init() {
	dir := os.Getenv("RMQ_BENCH_PPROF_DIR")
	if dir == "" {
		return
	}
	id := "unknown"
	for i, a := range os.Args {
		if a == "--node-id" && i+1 < len(os.Args) {
			id = os.Args[i+1]
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	runtime.SetBlockProfileRate(100_000) // one sample per 100µs blocked
	runtime.SetMutexProfileFraction(10)
	if err := os.WriteFile(filepath.Join(dir, "node-"+id+".addr"), []byte(l.Addr().String()), 0o644); err != nil {
		l.Close()
		return
	}
	go func() { _ = http.Serve(l, nil) }()
}
