// Package grpcbuf owns the buffer pool every gRPC server and client of the
// project hands to grpc-go for message buffers.
//
// grpc-go's default pool has tiers of 256 B, 4 KiB, 16 KiB, 32 KiB and
// 1 MiB, and zeroes the whole capacity of a pooled buffer on every Get: a
// 40 KiB record batch takes a 1 MiB buffer and pays for clearing all of
// it (9% of a journal leader's CPU in the journal benchmark's profile with
// merged appends). This pool has a tier for every power of two up to
// 8 MiB, so each message sits in a buffer at most twice its size, and does
// not clear reused buffers (see Pool for why that is safe).
//
// It must never keep buffers or state of its own beyond a Pool: each call
// returns a new pool for its caller to own, and it must never hand a
// buffer to two holders at once.
package grpcbuf
