// Package ctl is robustctl's command tree: one cobra command per operator
// action on the placement center's gRPC API (cluster, node, kv, tenant,
// user, acl, shard), with table or JSON output and errors rendered with
// their typed details. Execute is the whole entry point; cmd/robustctl only
// wires it to the process.
//
// It owns flag parsing, output formatting and error reporting. It must
// never hold cluster logic (every command is one API call, or one Status
// call per member for cluster status), never print password hashes or
// salts, and never keep state beyond one Execute call.
package ctl
