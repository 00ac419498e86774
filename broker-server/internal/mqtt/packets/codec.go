package packets

import (
	"io"
	"slices"
	"sync"
)

// FixedHeader is the first part of every packet: type, flags and the
// remaining length (the size of the rest of the packet).
type FixedHeader struct {
	Type            Type
	Flags           byte
	RemainingLength int
}

// Size is the size of the whole packet the header announces.
func (h FixedHeader) Size() int { return 1 + vbiLen(uint32(h.RemainingLength)) + h.RemainingLength }

// checkHeader validates the first byte against the level (MQTT 5.0 section
// 2.1.3: reserved type, fixed flags).
func checkHeader(first byte, v Version) error {
	t := Type(first >> 4)
	flags := first & 0x0F
	if t == 0 {
		return malformed("reserved packet type 0")
	}
	if v == 0 && t != TypeConnect {
		return &ProtocolError{Reason: ReasonProtocolError, Packet: t, Msg: "first packet is not CONNECT"}
	}
	if v != 0 && !v.Valid() {
		return &ProtocolError{Reason: ReasonUnsupportedProtocolVersion, Packet: t, Msg: "unknown protocol level"}
	}
	if t == TypeAuth && v != V5 {
		return &ProtocolError{Reason: ReasonMalformedPacket, Packet: t, Version: v, Msg: "reserved packet type 15 before MQTT 5"}
	}
	if t == TypePublish {
		if flags&0x06 == 0x06 {
			return &ProtocolError{Reason: ReasonMalformedPacket, Packet: t, Version: v, Msg: "QoS 3"}
		}
		return nil
	}
	want := fixedFlags[t]
	if v == V31 && want == 2 {
		// MQTT 3.1 allowed DUP on PUBREL, SUBSCRIBE and UNSUBSCRIBE
		// retries; the bit is ignored.
		flags &^= 0x08
	}
	if flags != want {
		return &ProtocolError{Reason: ReasonMalformedPacket, Packet: t, Version: v, Msg: "invalid fixed header flags"}
	}
	return nil
}

// ReadPacket reads and decodes one packet from r, at protocol level v (0
// before CONNECT). Give it a buffered reader: the fixed header is read one
// byte at a time. A packet over lim is refused from its fixed header
// (ReasonPacketTooLarge) without reading its body; the connection cannot be
// used after any error.
func ReadPacket(r io.Reader, v Version, lim Limits) (Packet, error) {
	var one [1]byte
	readByte := func() (byte, error) {
		if br, ok := r.(io.ByteReader); ok {
			return br.ReadByte()
		}
		_, err := io.ReadFull(r, one[:])
		return one[0], err
	}
	first, err := readByte()
	if err != nil {
		return nil, err // io.EOF: the peer closed between packets
	}
	if err := checkHeader(first, v); err != nil {
		return nil, err
	}
	var hdr [4]byte
	n := 0
	for {
		b, err := readByte()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		hdr[n] = b
		n++
		if b&0x80 == 0 || n == 4 {
			break
		}
	}
	rl, _, err := decodeVBI(hdr[:n])
	if err != nil {
		return nil, tag(err, Type(first>>4), v)
	}
	if size := 1 + n + int(rl); size > lim.maxPacketSize() {
		return nil, &ProtocolError{Reason: ReasonPacketTooLarge, Packet: Type(first >> 4), Version: v,
			Msg: "packet larger than the maximum packet size"}
	}
	body := make([]byte, rl)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return decodeBody(first, body, v)
}

// Decode decodes the first packet in data at protocol level v (0 before
// CONNECT) and returns it with the number of bytes it took. When data holds
// only part of a packet it returns io.ErrUnexpectedEOF (read more and call
// again), unless the part already shows the packet is invalid or over lim.
func Decode(data []byte, v Version, lim Limits) (Packet, int, error) {
	if len(data) == 0 {
		return nil, 0, io.ErrUnexpectedEOF
	}
	h, hn, err := DecodeFixedHeader(data, v, lim)
	if err != nil {
		return nil, 0, err
	}
	if len(data)-hn < h.RemainingLength {
		return nil, 0, io.ErrUnexpectedEOF
	}
	n := hn + h.RemainingLength
	p, err := decodeBody(data[0], data[hn:n:n], v)
	if err != nil {
		return nil, 0, err
	}
	return p, n, nil
}

// DecodeFixedHeader decodes and checks the fixed header at the start of
// data and returns it with its length. io.ErrUnexpectedEOF means data ends
// inside the header.
func DecodeFixedHeader(data []byte, v Version, lim Limits) (FixedHeader, int, error) {
	if len(data) == 0 {
		return FixedHeader{}, 0, io.ErrUnexpectedEOF
	}
	if err := checkHeader(data[0], v); err != nil {
		return FixedHeader{}, 0, err
	}
	t := Type(data[0] >> 4)
	rl, n, err := decodeVBI(data[1:])
	if err != nil {
		return FixedHeader{}, 0, tag(err, t, v)
	}
	if n == 0 {
		return FixedHeader{}, 0, io.ErrUnexpectedEOF
	}
	h := FixedHeader{Type: t, Flags: data[0] & 0x0F, RemainingLength: int(rl)}
	if h.Size() > lim.maxPacketSize() {
		return FixedHeader{}, 0, &ProtocolError{Reason: ReasonPacketTooLarge, Packet: t, Version: v,
			Msg: "packet larger than the maximum packet size"}
	}
	return h, 1 + n, nil
}

// decodeBody decodes a packet body whose first fixed header byte is first
// (already checked by checkHeader).
func decodeBody(first byte, body []byte, v Version) (Packet, error) {
	t := Type(first >> 4)
	flags := first & 0x0F
	c := &cursor{b: body}
	var (
		p   Packet
		err error
	)
	switch t {
	case TypeConnect:
		var cp *Connect
		cp, err = decodeConnect(c)
		if cp != nil {
			v = cp.Level
		} else {
			v = 0
		}
		if err == nil {
			p = cp
		}
	case TypeConnack:
		p, err = decodeConnack(c, v)
	case TypePublish:
		p, err = decodePublish(c, flags, v)
	case TypePuback:
		var a ack
		a, err = decodeAck(c, t, v)
		p = (*Puback)(&a)
	case TypePubrec:
		var a ack
		a, err = decodeAck(c, t, v)
		p = (*Pubrec)(&a)
	case TypePubrel:
		var a ack
		a, err = decodeAck(c, t, v)
		p = (*Pubrel)(&a)
	case TypePubcomp:
		var a ack
		a, err = decodeAck(c, t, v)
		p = (*Pubcomp)(&a)
	case TypeSubscribe:
		p, err = decodeSubscribe(c, v)
	case TypeSuback:
		p, err = decodeSuback(c, v)
	case TypeUnsubscribe:
		p, err = decodeUnsubscribe(c, v)
	case TypeUnsuback:
		p, err = decodeUnsuback(c, v)
	case TypePingreq:
		p = &Pingreq{}
	case TypePingresp:
		p = &Pingresp{}
	case TypeDisconnect:
		d := &Disconnect{}
		if v >= V5 {
			err = decodeReasonProps(c, t, &d.ReasonCode, &d.Props)
		}
		p = d
	case TypeAuth:
		a := &Auth{}
		err = decodeReasonProps(c, t, &a.ReasonCode, &a.Props)
		p = a
	default:
		err = malformed("reserved packet type")
	}
	if err == nil && c.left() != 0 {
		err = malformed("%d bytes after the end of the packet", c.left())
	}
	if err == nil {
		err = p.check(v, false)
	}
	if err != nil {
		return nil, tag(err, t, v)
	}
	return p, nil
}

// version is the level p is encoded with: a CONNECT's own.
func version(p Packet, v Version) Version {
	if c, ok := p.(*Connect); ok {
		return c.Level
	}
	return v
}

// prepare validates p for encoding and returns its level and body size.
func prepare(p Packet, v Version) (Version, int, error) {
	v = version(p, v)
	if !v.Valid() {
		return v, 0, &ProtocolError{Reason: ReasonUnsupportedProtocolVersion, Packet: p.Type(), Msg: "unknown protocol level"}
	}
	if err := p.check(v, true); err != nil {
		return v, 0, tag(err, p.Type(), v)
	}
	w := wbuf{sizing: true}
	encodeBody(p, &w, v)
	if w.n > MaxRemainingLength {
		return v, 0, &ProtocolError{Reason: ReasonPacketTooLarge, Packet: p.Type(), Version: v,
			Msg: "packet larger than the protocol allows"}
	}
	return v, w.n, nil
}

// Size returns the encoded size of p at level v (fixed header included),
// after the checks Append makes.
func Size(p Packet, v Version) (int, error) {
	_, n, err := prepare(p, v)
	if err != nil {
		return 0, err
	}
	return 1 + vbiLen(uint32(n)) + n, nil
}

// Append validates p for level v (a CONNECT uses its own Level) and appends
// its encoding to dst.
func Append(dst []byte, p Packet, v Version) ([]byte, error) {
	v, n, err := prepare(p, v)
	if err != nil {
		return dst, err
	}
	// Grow geometrically: callers append many packets to one buffer, and
	// growing by exactly one packet would copy it once per packet.
	dst = slices.Grow(dst, 5+n)
	dst = append(dst, byte(p.Type())<<4|p.flags(v))
	dst = appendVBI(dst, uint32(n))
	w := wbuf{b: dst}
	encodeBody(p, &w, v)
	return w.b, nil
}

// Encode is Append to a new slice.
func Encode(p Packet, v Version) ([]byte, error) { return Append(nil, p, v) }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// WritePacket encodes p at level v and writes it to w in one Write.
func WritePacket(w io.Writer, p Packet, v Version) error {
	bp := bufPool.Get().(*[]byte)
	b, err := Append((*bp)[:0], p, v)
	if err == nil {
		_, err = w.Write(b)
	}
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		bufPool.Put(bp)
	}
	return err
}
