// Package load drives one timed benchmark step: a fixed number of workers
// each writing distinct keys back to back through a pool of connections,
// recording the latency of every acknowledged write.
//
// It owns the worker goroutines of a step and ends them all before Run
// returns. It must never run without both a time bound and a count bound,
// and never know which system it is writing to.
package load
