// Package apidoc renders the gRPC API reference (docs/admin-api.md) from a
// protobuf descriptor set that protoc wrote with --include_source_info:
// every service, rpc, message, field, enum and value of the chosen files,
// each with its .proto comments, plus where each service listens and how to
// call it with grpcurl through server reflection.
//
// It owns the Markdown layout, the list of processes with their services,
// configs and grpcurl examples (Layout; Render checks every example against
// the descriptors) and the reading of listen addresses from the services'
// TOML config files. It must never run protoc or touch files
// itself (the caller reads the descriptor set and the configs and writes
// the result), and its output must depend only on its inputs, so a check
// can regenerate the document and compare it byte for byte.
package apidoc
