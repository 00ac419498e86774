package grpcbuf

import "testing"

// Every size up to the largest tier gets a buffer at most twice as large
// (or the 4 KiB tier), and a put buffer comes back for the same size.
func TestPoolTiers(t *testing.T) {
	p := NewPool()
	for _, size := range []int{1, 200, 1024, 5000, 40 << 10, 64 << 10, 65<<10 + 1, 1 << 20, 3 << 20, 8 << 20} {
		b := p.Get(size)
		if len(*b) != size {
			t.Fatalf("Get(%d) has length %d", size, len(*b))
		}
		if c := cap(*b); c < size || (c > 2*size && c > 4<<10) {
			t.Fatalf("Get(%d) has capacity %d", size, c)
		}
		p.Put(b)
	}
}
