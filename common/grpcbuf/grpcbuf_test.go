package grpcbuf

import "testing"

func TestPoolTiers(t *testing.T) {
	p := NewPool()
	for _, size := range []int{1, 200, 256, 257, 1024, 5000, 40 << 10, 64 << 10, 65<<10 + 1, 1 << 20, 3 << 20, 8 << 20, 8<<20 + 1} {
		b := p.Get(size)
		if len(*b) != size {
			t.Fatalf("Get(%d) has length %d", size, len(*b))
		}
		if c := cap(*b); c < size || (c > 2*size && c > 256) {
			t.Fatalf("Get(%d) has capacity %d", size, c)
		}
		p.Put(b)
	}
}

// TestPoolReuses checks that a returned buffer comes back for a request of
// its tier (the point of pooling), never for a larger one, and that
// buffers of foreign capacities are dropped rather than pooled.
func TestPoolReuses(t *testing.T) {
	p := NewPool()
	reused := false
	// sync.Pool may drop an item (a GC between Put and Get); a few rounds
	// make that unlikely to hide reuse altogether.
	for range 10 {
		b := p.Get(3000) // 4 KiB tier
		(*b)[0] = 42
		p.Put(b)
		c := p.Get(4096)
		if cap(*c) != 4096 {
			t.Fatalf("Get(4096) has capacity %d", cap(*c))
		}
		if &(*c)[0] == &(*b)[0] {
			reused = true
		}
		big := p.Get(5000)
		if cap(*big) < 5000 {
			t.Fatalf("Get(5000) has capacity %d", cap(*big))
		}
	}
	if !reused {
		t.Fatal("a returned 4 KiB buffer was never handed out again")
	}
	odd := make([]byte, 3000)
	p.Put(&odd) // capacity 3000 is no tier: dropped
	for range 10 {
		if b := p.Get(2049); cap(*b) != 4096 {
			t.Fatalf("Get(2049) has capacity %d after a 3000-byte buffer was put", cap(*b))
		}
	}
}
