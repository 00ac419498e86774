// Profiling aid for the Kafka benchmark, never part of a normal build:
// compiled into a copy of broker-server (bin/broker-server-pprof) through
// `go build -overlay` (see docs/benchmarks.md), without touching
// broker-server's sources. With RMQ_BENCH_PPROF_DIR set, the process
// serves net/http/pprof on a free loopback port and writes that address
// to $RMQ_BENCH_PPROF_DIR/broker.addr.
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	runtime.SetBlockProfileRate(100_000)
	runtime.SetMutexProfileFraction(10)
	if err := os.WriteFile(filepath.Join(dir, "broker.addr"), []byte(l.Addr().String()), 0o644); err != nil {
		l.Close()
		return
	}
	go func() { _ = http.Serve(l, nil) }()
}
