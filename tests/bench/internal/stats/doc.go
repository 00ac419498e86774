// Package stats turns the per-request latencies of one benchmark step into
// a Summary (writes/s, p50, p99), pairs the placement and etcd summaries of
// one concurrency into a Comparison with their ratios, and prints that as a
// human table and as one JSON line; it also reads those JSON lines back.
//
// It owns arithmetic and formatting only: it must never start processes,
// touch the network or read the clock.
package stats
