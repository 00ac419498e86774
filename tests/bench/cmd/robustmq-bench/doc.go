// Command robustmq-bench compares write throughput and latency of a
// 3-member placement center with a 3-member etcd cluster on this machine
// (scripts/bench-placement.sh builds and runs it). Subcommands:
//
//	robustmq-bench [flags]              run the comparison (default)
//	robustmq-bench etcd-member [flags]  one embedded etcd member (started by the bench)
//	robustmq-bench check --expect N     validate the JSON lines of a run on stdin
//
// It is wiring only: it must never hold benchmark logic of its own, and
// never leave a child process running when it exits.
package main
