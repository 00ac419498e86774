package packets

import (
	"strings"
	"unicode/utf8"
)

// cursor reads the primitive data types of MQTT (MQTT 5.0 section 1.5) from
// a packet body. Every read checks the bounds.
type cursor struct {
	b []byte
	i int
}

func (c *cursor) left() int { return len(c.b) - c.i }

var errShort = "packet ends inside a field"

func (c *cursor) u8() (byte, error) {
	if c.i >= len(c.b) {
		return 0, malformed("%s", errShort)
	}
	v := c.b[c.i]
	c.i++
	return v, nil
}

func (c *cursor) u16() (uint16, error) {
	if c.left() < 2 {
		return 0, malformed("%s", errShort)
	}
	v := uint16(c.b[c.i])<<8 | uint16(c.b[c.i+1])
	c.i += 2
	return v, nil
}

func (c *cursor) u32() (uint32, error) {
	if c.left() < 4 {
		return 0, malformed("%s", errShort)
	}
	b := c.b[c.i:]
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	c.i += 4
	return v, nil
}

// vbi reads a variable byte integer: at most four bytes, minimally encoded.
func (c *cursor) vbi() (uint32, error) {
	v, n, err := decodeVBI(c.b[c.i:])
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, malformed("%s", errShort)
	}
	c.i += n
	return v, nil
}

// decodeVBI decodes a variable byte integer from the start of b. n == 0 and
// no error means b ends before the integer does.
func decodeVBI(b []byte) (v uint32, n int, err error) {
	var shift uint
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, nil
		}
		d := b[i]
		v |= uint32(d&0x7F) << shift
		if d&0x80 == 0 {
			if d == 0 && i > 0 {
				return 0, 0, malformed("variable byte integer not minimally encoded")
			}
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, malformed("variable byte integer longer than 4 bytes")
}

// bin reads two-byte-length-prefixed binary data, aliasing the body. Empty
// data is nil.
func (c *cursor) bin() ([]byte, error) {
	n, err := c.u16()
	if err != nil {
		return nil, err
	}
	if c.left() < int(n) {
		return nil, malformed("%s", errShort)
	}
	if n == 0 {
		return nil, nil
	}
	v := c.b[c.i : c.i+int(n) : c.i+int(n)]
	c.i += int(n)
	return v, nil
}

// str reads a UTF-8 encoded string and checks it (MQTT 5.0 section 1.5.4).
func (c *cursor) str() (string, error) {
	b, err := c.bin()
	if err != nil {
		return "", err
	}
	if err := checkUTF8(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// rest returns the remaining bytes (nil if none).
func (c *cursor) rest() []byte {
	if c.i >= len(c.b) {
		return nil
	}
	v := c.b[c.i:len(c.b):len(c.b)]
	c.i = len(c.b)
	return v
}

func checkUTF8(b []byte) error {
	// utf8.Valid rejects overlong forms and the surrogates U+D800-U+DFFF.
	if !utf8.Valid(b) {
		return malformed("string is not well-formed UTF-8")
	}
	for _, x := range b {
		if x == 0 {
			return malformed("string contains U+0000")
		}
	}
	return nil
}

// checkString is the encoder's side of str: the string must be valid UTF-8
// without U+0000 and fit a two-byte length.
func checkString(s string, what string) error {
	if len(s) > 65535 {
		return malformed("%s longer than 65535 bytes", what)
	}
	if !utf8.ValidString(s) {
		return malformed("%s is not well-formed UTF-8", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return malformed("%s contains U+0000", what)
	}
	return nil
}

func checkBinary(b []byte, what string) error {
	if len(b) > 65535 {
		return malformed("%s longer than 65535 bytes", what)
	}
	return nil
}

// wbuf encodes, or only counts the bytes encoding would produce, so the
// size and the encoding come from the same code.
type wbuf struct {
	b      []byte
	n      int
	sizing bool
}

func (w *wbuf) u8(v byte) {
	if w.sizing {
		w.n++
		return
	}
	w.b = append(w.b, v)
}

func (w *wbuf) u16(v uint16) {
	if w.sizing {
		w.n += 2
		return
	}
	w.b = append(w.b, byte(v>>8), byte(v))
}

func (w *wbuf) u32(v uint32) {
	if w.sizing {
		w.n += 4
		return
	}
	w.b = append(w.b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (w *wbuf) vbi(v uint32) {
	if w.sizing {
		w.n += vbiLen(v)
		return
	}
	w.b = appendVBI(w.b, v)
}

func (w *wbuf) str(s string) {
	if w.sizing {
		w.n += 2 + len(s)
		return
	}
	w.b = append(w.b, byte(len(s)>>8), byte(len(s)))
	w.b = append(w.b, s...)
}

func (w *wbuf) bin(b []byte) {
	if w.sizing {
		w.n += 2 + len(b)
		return
	}
	w.b = append(w.b, byte(len(b)>>8), byte(len(b)))
	w.b = append(w.b, b...)
}

func (w *wbuf) raw(b []byte) {
	if w.sizing {
		w.n += len(b)
		return
	}
	w.b = append(w.b, b...)
}

func vbiLen(v uint32) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	default:
		return 4
	}
}

func appendVBI(b []byte, v uint32) []byte {
	for {
		d := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, d)
		}
		b = append(b, d|0x80)
	}
}
