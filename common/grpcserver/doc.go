// Package grpcserver builds the gRPC server every RobustMQ process runs:
// panic recovery, request logging, Prometheus metrics and a message size
// limit on every call, and gRPC health checking and server reflection on
// every port (DESIGN section 6).
//
// It owns the listener, the *grpc.Server and its health service, from New
// until Serve returns or Stop is called. It must never register business
// services itself, never choose a metrics registry for the caller and
// never let a panicking handler take the process down.
package grpcserver
