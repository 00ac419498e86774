// Package bench is the root of the placement-center versus etcd write
// benchmark: a module of its own (kept out of go.work so that etcd's
// dependency tree never touches the product modules), built with
// GOWORK=off by scripts/bench-placement.sh into bin/robustmq-bench.
//
// It owns only benchmark code. It must never be imported by a product
// module, and nothing in it may reach an address outside 127.0.0.1.
package bench
