package packets

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzDecode: any bytes at any level decode to a packet or a
// *ProtocolError / io.ErrUnexpectedEOF, never a panic; Decode and ReadPacket
// agree; a decoded packet encodes, and that encoding decodes to the same
// value and the same bytes.
func FuzzDecode(f *testing.F) {
	for _, v := range []Version{V31, V311, V5} {
		for _, p := range samples(v) {
			enc, err := Encode(p, v)
			if err != nil {
				f.Fatal(err)
			}
			lvl := byte(v)
			if _, ok := p.(*Connect); ok {
				lvl = 0
			}
			f.Add(enc, lvl)
		}
	}
	f.Add([]byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, byte(5))
	f.Add([]byte{0x82, 0x08, 0x00, 0x01, 0x03, 0x0B, 0x01, 0x26, 0x00, 0x00}, byte(5))
	f.Fuzz(func(t *testing.T, data []byte, lvl byte) {
		v := Version(lvl % 6) // 0 (before CONNECT), 3, 4, 5, and invalid 1, 2
		lim := Limits{MaxPacketSize: 1 << 16}
		p, n, err := Decode(data, v, lim)
		rp, rerr := ReadPacket(bufio.NewReader(bytes.NewReader(data)), v, lim)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) && err != io.ErrUnexpectedEOF {
				t.Fatalf("untyped error %T %v", err, err)
			}
			if pe != nil && pe.Reason < 0x80 {
				t.Fatalf("error with success reason: %v", err)
			}
			if rerr == nil {
				t.Fatalf("Decode: %v, ReadPacket decoded %#v", err, rp)
			}
			if pe != nil && (!errors.As(rerr, new(*ProtocolError)) || rerr.Error() != err.Error()) {
				t.Fatalf("Decode: %v, ReadPacket: %v", err, rerr)
			}
			return
		}
		if rerr != nil || !reflect.DeepEqual(p, rp) {
			t.Fatalf("Decode %#v, ReadPacket %#v, %v", p, rp, rerr)
		}
		ev := v
		if c, ok := p.(*Connect); ok {
			ev = c.Level
		}
		enc, err := Encode(p, ev)
		if err != nil {
			t.Fatalf("decoded %#v from % x does not encode: %v", p, data[:n], err)
		}
		if sz, err := Size(p, ev); err != nil || sz != len(enc) {
			t.Fatalf("Size %d, %v; encoded %d", sz, err, len(enc))
		}
		p2, n2, err := Decode(enc, v, lim)
		if err != nil || n2 != len(enc) {
			t.Fatalf("re-encoded % x does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("re-decode differs:\n%#v\n%#v", p, p2)
		}
		if enc2, _ := Encode(p2, ev); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n% x\n% x", enc, enc2)
		}
	})
}
