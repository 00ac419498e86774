// Package rpcerr builds and reads the typed gRPC errors of DESIGN section 6:
// a status code plus one robustmq.common.v1 detail message. It owns the
// mapping between error kinds and codes; it must never log, retry or hold
// state. Callers test errors with the As* functions, never by string.
package rpcerr
