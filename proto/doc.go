// Package proto holds RobustMQ-Go's service contracts: the .proto files under
// robustmq/ and the Go code generated from them under gen/. It owns the wire
// and on-disk formats shared by services; it must never hold behaviour. The
// generated code is committed and regenerated with `make proto`; a test fails
// when it is stale.
package proto
