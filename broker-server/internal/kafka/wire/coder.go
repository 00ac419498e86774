package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrMalformed is wrapped by every decoding failure: a truncated field, a
// negative or oversized length, a varint that does not end.
var ErrMalformed = errors.New("kafka wire: malformed")

// coder is one symmetric walk over a message: the same field sequence both
// encodes (dec false: fields are appended to b) and decodes (dec true:
// fields are taken from b into the pointers). A message's codec method is
// therefore its only description, and encoding and decoding cannot drift
// apart.
type coder struct {
	dec      bool
	flexible bool
	b        []byte
	err      error
}

func (c *coder) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// take returns the next n bytes of the input, or nil after a failure.
func (c *coder) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || n > len(c.b) {
		c.fail("need %d bytes, have %d", n, len(c.b))
		return nil
	}
	out := c.b[:n]
	c.b = c.b[n:]
	return out
}

func (c *coder) i8(p *int8) {
	if !c.dec {
		c.b = append(c.b, byte(*p))
		return
	}
	if s := c.take(1); s != nil {
		*p = int8(s[0])
	}
}

func (c *coder) boolean(p *bool) {
	if !c.dec {
		v := byte(0)
		if *p {
			v = 1
		}
		c.b = append(c.b, v)
		return
	}
	if s := c.take(1); s != nil {
		*p = s[0] != 0
	}
}

func (c *coder) i16(p *int16) {
	if !c.dec {
		c.b = binary.BigEndian.AppendUint16(c.b, uint16(*p))
		return
	}
	if s := c.take(2); s != nil {
		*p = int16(binary.BigEndian.Uint16(s))
	}
}

func (c *coder) i32(p *int32) {
	if !c.dec {
		c.b = binary.BigEndian.AppendUint32(c.b, uint32(*p))
		return
	}
	if s := c.take(4); s != nil {
		*p = int32(binary.BigEndian.Uint32(s))
	}
}

func (c *coder) i64(p *int64) {
	if !c.dec {
		c.b = binary.BigEndian.AppendUint64(c.b, uint64(*p))
		return
	}
	if s := c.take(8); s != nil {
		*p = int64(binary.BigEndian.Uint64(s))
	}
}

func (c *coder) uuid(p *[16]byte) {
	if !c.dec {
		c.b = append(c.b, p[:]...)
		return
	}
	if s := c.take(16); s != nil {
		copy(p[:], s)
	}
}

// uvarint reads an unsigned varint (at most 5 bytes for the 32-bit lengths
// and tags the protocol uses).
func (c *coder) uvarint() uint32 {
	if c.err != nil {
		return 0
	}
	v, n := binary.Uvarint(c.b)
	if n <= 0 || v > math.MaxUint32 {
		c.fail("bad unsigned varint")
		return 0
	}
	c.b = c.b[n:]
	return uint32(v)
}

func (c *coder) putUvarint(v uint32) { c.b = binary.AppendUvarint(c.b, uint64(v)) }

// length reads or writes a string/bytes/array length: int16 (strings) or
// int32 (bytes, arrays) in classic versions, unsigned varint N+1 in
// flexible (compact) ones. -1 is null. On decode the result is checked
// against the bytes left (each element takes at least min bytes).
func (c *coder) length(n int, wide bool, min int) int {
	if !c.dec {
		switch {
		case c.flexible:
			c.putUvarint(uint32(n + 1))
		case wide:
			v := int32(n)
			c.i32(&v)
		default:
			v := int16(n)
			c.i16(&v)
		}
		return n
	}
	var v int
	switch {
	case c.flexible:
		v = int(c.uvarint()) - 1
	case wide:
		var x int32
		c.i32(&x)
		v = int(x)
	default:
		var x int16
		c.i16(&x)
		v = int(x)
	}
	if c.err != nil {
		return -1
	}
	if v < -1 {
		c.fail("negative length %d", v)
		return -1
	}
	if v > 0 && v*max(min, 1) > len(c.b) && min > 0 {
		c.fail("length %d exceeds the %d bytes left", v, len(c.b))
		return -1
	}
	return v
}

func (c *coder) str(p *string) {
	if !c.dec {
		c.length(len(*p), false, 1)
		c.b = append(c.b, *p...)
		return
	}
	n := c.length(0, false, 1)
	if n < 0 {
		if c.err == nil {
			c.fail("null non-nullable string")
		}
		return
	}
	*p = string(c.take(n))
}

func (c *coder) nstr(p **string) {
	if !c.dec {
		if *p == nil {
			c.length(-1, false, 1)
			return
		}
		c.str(*p)
		return
	}
	n := c.length(0, false, 1)
	if n < 0 {
		*p = nil
		return
	}
	s := string(c.take(n))
	if c.err == nil {
		*p = &s
	}
}

// bytes is a non-nullable byte string; nbytes a nullable one (nil is null).
func (c *coder) bytes(p *[]byte) {
	if !c.dec {
		c.length(len(*p), true, 1)
		c.b = append(c.b, *p...)
		return
	}
	n := c.length(0, true, 1)
	if n < 0 {
		if c.err == nil {
			c.fail("null non-nullable bytes")
		}
		return
	}
	if s := c.take(n); s != nil {
		*p = append([]byte{}, s...)
	}
}

func (c *coder) nbytes(p *[]byte) {
	if !c.dec {
		if *p == nil {
			c.length(-1, true, 1)
			return
		}
		c.bytes(p)
		return
	}
	n := c.length(0, true, 1)
	if n < 0 {
		*p = nil
		return
	}
	if s := c.take(n); s != nil {
		*p = append([]byte{}, s...)
	}
}

// Tag is one tagged field this package does not interpret, kept as its raw
// bytes so it survives a decode/encode round trip.
type Tag struct {
	Tag  uint32
	Data []byte
}

// Tags are the tagged fields of a flexible structure.
type Tags []Tag

// tags reads or writes a tagged-field section (flexible versions only).
func (c *coder) tags(p *Tags) {
	if !c.flexible {
		return
	}
	if !c.dec {
		c.putUvarint(uint32(len(*p)))
		for _, t := range *p {
			c.putUvarint(t.Tag)
			c.putUvarint(uint32(len(t.Data)))
			c.b = append(c.b, t.Data...)
		}
		return
	}
	n := int(c.uvarint())
	if n > len(c.b) {
		c.fail("%d tagged fields in %d bytes", n, len(c.b))
		return
	}
	var out Tags
	last := -1
	for i := 0; i < n && c.err == nil; i++ {
		tag := c.uvarint()
		if int(tag) <= last {
			c.fail("tagged fields out of order")
			return
		}
		last = int(tag)
		size := int(c.uvarint())
		data := c.take(size)
		if c.err == nil {
			out = append(out, Tag{Tag: tag, Data: append([]byte{}, data...)})
		}
	}
	*p = out
}

// array walks a non-nullable array; a null one decodes as nil.
func array[T any](c *coder, p *[]T, min int, f func(*coder, *T)) {
	if !c.dec {
		c.length(len(*p), true, min)
		for i := range *p {
			f(c, &(*p)[i])
		}
		return
	}
	n := c.length(0, true, min)
	if n < 0 {
		*p = nil
		return
	}
	out := make([]T, n)
	for i := 0; i < n && c.err == nil; i++ {
		f(c, &out[i])
	}
	*p = out
}

// narray walks a nullable array: nil is null.
func narray[T any](c *coder, p *[]T, min int, f func(*coder, *T)) {
	if !c.dec && *p == nil {
		c.length(-1, true, min)
		return
	}
	array(c, p, min, f)
}

func i32s(c *coder, p *[]int32) { array(c, p, 4, func(c *coder, v *int32) { c.i32(v) }) }
func i64s(c *coder, p *[]int64) { array(c, p, 8, func(c *coder, v *int64) { c.i64(v) }) }
func strs(c *coder, p *[]string) {
	array(c, p, 1, func(c *coder, v *string) { c.str(v) })
}
