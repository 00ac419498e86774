// Package workspace is the scaffolding every benchmark subcommand shares
// around its measurements: checking that the binaries and configuration it
// needs exist, one work directory holding the run's data and logs, the
// process group of its children (stopped when the run ends, the directory
// removed unless the run failed or was asked to keep it), the
// --concurrency flag, and the machine's load average for the record.
//
// It must never measure anything or know which systems a benchmark runs.
package workspace
