package grpcbuf

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

// tierExponents are the pool's buffer sizes as powers of two: 256 B, then
// every power of two from 4 KiB to 8 MiB (the journal's largest request).
var tierExponents = []uint8{8, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}

// NewPool returns a tiered buffer pool sized for record batches.
func NewPool() mem.BufferPool {
	p, err := mem.NewBinaryTieredBufferPool(tierExponents...)
	if err != nil {
		// The exponents are constants the tests cover.
		panic(fmt.Sprintf("grpcbuf: %v", err))
	}
	return p
}

// ServerOption makes a server use a new pool.
func ServerOption() grpc.ServerOption { return experimental.BufferPool(NewPool()) }

// DialOption makes a client connection use a new pool.
func DialOption() grpc.DialOption { return experimental.WithBufferPool(NewPool()) }
