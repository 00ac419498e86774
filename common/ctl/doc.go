// Package ctl is robustctl's command tree: one cobra command per operator
// action on the placement center's gRPC API (cluster, node, broker, kv,
// tenant, user, acl, shard, and the MQTT session and retained records the
// brokers keep in the KV, decoded), plus stream (alias topic)
// administration and the bench produce / bench consume load and
// verification runs, which go through common/streamclient, with table or
// JSON output, shell completion, and errors rendered with their typed
// details. Execute is the whole entry point; cmd/robustctl only wires it
// to the process.
//
// It owns flag parsing, output formatting, error reporting and the bench
// accounting (sequence-numbered values, latency percentiles, missing and
// duplicate counts). It must never hold cluster logic (every placement
// command is one API call, or one Status call per member for cluster
// status, or a ListNodes kind check before broker drain and undrain;
// streams, producing and reading are streamclient's), never write the
// brokers' MQTT records (it only reads them), never print password hashes
// or salts, and never keep state beyond one Execute call.
package ctl
