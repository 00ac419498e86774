// Package ctl is robustctl's command tree: one cobra command per operator
// action over the gRPC admin API, with table or JSON output. It owns flag
// parsing, output formatting and error reporting; it must never hold
// cluster logic — every command is one or a few API calls.
package ctl
