package grpcbuf

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

const (
	// minExp and maxExp bound the pool's tiers: every power of two from
	// 256 B to 8 MiB (the journal's largest request). Larger buffers are
	// allocated and left to the garbage collector.
	minExp = 8
	maxExp = 23
)

// Pool is a mem.BufferPool with one sync.Pool per power-of-two size that
// hands out buffers without clearing them.
//
// grpc-go's own pools clear the whole capacity of a reused buffer on every
// Get, a guard against a reader of bytes nobody wrote; at 64 concurrent
// journal appends that clearing was 4% of the machine's CPU. grpc-go fills
// every buffer it gets (a frame read, a marshalled message, a write batch)
// and reads only what it filled, which is what makes skipping it safe; its
// maintainers plan the same for their own internal use (grpc-go #8790,
// #8910).
type Pool struct {
	tiers [maxExp - minExp + 1]sync.Pool
}

var _ mem.BufferPool = (*Pool)(nil)

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{} }

// tier returns the index of the smallest tier that holds size bytes, or -1
// past the largest.
func tier(size int) int {
	exp := bits.Len(uint(size - 1)) // size <= 1<<exp
	switch {
	case size <= 1<<minExp:
		return 0
	case exp > maxExp:
		return -1
	}
	return exp - minExp
}

// Get returns a buffer of length size; its bytes are whatever it last
// held.
func (p *Pool) Get(size int) *[]byte {
	i := tier(size)
	if i < 0 {
		b := make([]byte, size)
		return &b
	}
	if b, ok := p.tiers[i].Get().(*[]byte); ok {
		*b = (*b)[:size]
		return b
	}
	b := make([]byte, size, 1<<(minExp+i))
	return &b
}

// Put returns a buffer to the tier of its capacity; buffers whose capacity
// is not one of the tiers' sizes (allocated elsewhere, or past the
// largest) are dropped.
func (p *Pool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minExp || c > 1<<maxExp || c&(c-1) != 0 {
		return
	}
	p.tiers[bits.Len(uint(c))-1-minExp].Put(b)
}

// ServerOptions make a server use a new pool for its transport buffers
// and its messages (Codec).
func ServerOptions() []grpc.ServerOption {
	p := NewPool()
	return []grpc.ServerOption{experimental.BufferPool(p), grpc.ForceServerCodecV2(NewCodec(p))}
}

// DialOptions make a client connection use a new pool for its transport
// buffers and its messages (Codec).
func DialOptions() []grpc.DialOption {
	p := NewPool()
	return []grpc.DialOption{
		experimental.WithBufferPool(p),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(NewCodec(p))),
	}
}
