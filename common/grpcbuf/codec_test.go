package grpcbuf

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestCodecRoundTrip encodes messages below and above grpc-go's pooling
// threshold, decodes them from several frame-sized pieces (as the
// transport hands a large message over) and checks that the decoded
// message keeps its bytes after the pooled buffers are reused.
func TestCodecRoundTrip(t *testing.T) {
	pool := NewPool()
	c := NewCodec(pool)
	for _, size := range []int{0, 10, 1 << 10, 40 << 10, 3 << 20} {
		want := bytes.Repeat([]byte{0xa5}, size)
		data, err := c.Marshal(wrapperspb.Bytes(want))
		if err != nil {
			t.Fatalf("Marshal(%d bytes): %v", size, err)
		}
		wire := data.Materialize()
		data.Free()
		var pieces mem.BufferSlice
		for rest := wire; len(rest) > 0; {
			n := min(len(rest), 16<<10)
			b := pool.Get(n)
			copy(*b, rest[:n])
			pieces = append(pieces, mem.NewBuffer(b, pool))
			rest = rest[n:]
		}
		got := &wrapperspb.BytesValue{}
		if err := c.Unmarshal(pieces, got); err != nil {
			t.Fatalf("Unmarshal(%d bytes): %v", size, err)
		}
		pieces.Free()
		// Dirty every buffer the pool may hand out again.
		for range 4 {
			b := pool.Get(4 << 20)
			for i := range *b {
				(*b)[i] = 0x11
			}
			pool.Put(b)
		}
		if !bytes.Equal(got.GetValue(), want) {
			t.Fatalf("%d bytes: decoded value differs after the pool reused its buffers", size)
		}
	}
}

func TestCodecRefusesOtherTypes(t *testing.T) {
	c := NewCodec(NewPool())
	if _, err := c.Marshal("not a message"); err == nil {
		t.Fatal("Marshal of a string succeeded")
	}
	if err := c.Unmarshal(nil, new(int)); err == nil {
		t.Fatal("Unmarshal into an int succeeded")
	}
}
