package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Version is the magic byte of the format this package writes and reads.
const Version byte = 1

// HeaderSize is the size in bytes of the fixed batch header.
const HeaderSize = 63

// Byte offsets of the header fields.
const (
	offMagic          = 0
	offCRC            = 1
	offLength         = 5
	offEpoch          = 9
	offFirstOffset    = 17
	offCount          = 25
	offFirstTimestamp = 29
	offMaxTimestamp   = 37
	offProducerID     = 45
	offProducerEpoch  = 53
	offBaseSequence   = 57
	offAttributes     = 61
)

// crcStart is where the CRC-covered bytes begin: right after the CRC field.
const crcStart = offLength

// Smallest possible encoded record: a one-byte timestamp delta, key length,
// value length and header count. Used to bound allocations by the input
// size rather than by a count field an attacker controls.
const minRecordSize = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by the decoding functions. They are wrapped with details;
// test them with errors.Is.
var (
	// ErrCorrupt means the CRC does not match the bytes: the batch was
	// damaged after it was written.
	ErrCorrupt = errors.New("recordbatch: corrupt (crc mismatch)")
	// ErrTruncated means the buffer ends before the batch does.
	ErrTruncated = errors.New("recordbatch: truncated")
	// ErrTooLarge means the batch is over one of the Limits.
	ErrTooLarge = errors.New("recordbatch: too large")
	// ErrMalformed means the bytes pass the CRC but do not follow the
	// format (bad varint, negative length, trailing bytes, header fields
	// that disagree with the records).
	ErrMalformed = errors.New("recordbatch: malformed")
	// ErrUnsupported means a version or attribute bits this code does not
	// understand.
	ErrUnsupported = errors.New("recordbatch: unsupported version or attributes")
)

// Header is the fixed part of a batch.
type Header struct {
	// Epoch is the epoch of the segment leader that assigned the offsets.
	Epoch uint64
	// FirstOffset is the offset of the first record; record i has offset
	// FirstOffset+i.
	FirstOffset uint64
	// Count is the number of records. Encode sets it from the records.
	Count uint32
	// FirstTimestampMs is the first record's timestamp. Encode sets it from
	// the records when there are any.
	FirstTimestampMs int64
	// MaxTimestampMs is the largest record timestamp. Encode sets it from
	// the records when there are any.
	MaxTimestampMs int64
	// ProducerID identifies an idempotent producer; 0 means none.
	ProducerID uint64
	// ProducerEpoch is the idempotent producer's epoch.
	ProducerEpoch uint32
	// BaseSequence is the producer sequence of the first record; -1 means
	// none.
	BaseSequence int32
	// Attributes is reserved (compression later); this version requires 0.
	Attributes uint16
	// CRC is the stored checksum. Filled by the decoders, ignored by Encode.
	CRC uint32
	// Length is the total encoded length. Filled by the decoders, ignored
	// by Encode.
	Length uint32
}

// NextOffset is the offset just past the batch's last record.
func (h Header) NextOffset() uint64 { return h.FirstOffset + uint64(h.Count) }

// RecordHeader is one key/value property of a record (MQTT 5 user property,
// Kafka header, AMQP property). A nil Value is distinct from an empty one.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one message. A nil Key or Value is encoded as null and decodes
// as nil; an empty non-nil one decodes as empty non-nil.
type Record struct {
	TimestampMs int64
	Key         []byte
	Value       []byte
	Headers     []RecordHeader
}

// Batch is a header and its records.
type Batch struct {
	Header
	Records []Record
}

// Limits bound what the decoders accept, so a hostile or broken peer cannot
// make a decoder allocate without bound. A zero or negative field means the
// default from DefaultLimits.
type Limits struct {
	// MaxBatchBytes bounds the whole encoded batch.
	MaxBatchBytes int
	// MaxRecords bounds the record count.
	MaxRecords int
	// MaxRecordBytes bounds the encoded size of one record.
	MaxRecordBytes int
	// MaxHeadersPerRecord bounds the header count of one record.
	MaxHeadersPerRecord int
}

// DefaultLimits returns the limits used for zero fields of Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxBatchBytes:       8 << 20,
		MaxRecords:          1 << 16,
		MaxRecordBytes:      8 << 20,
		MaxHeadersPerRecord: 256,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBatchBytes <= 0 {
		l.MaxBatchBytes = d.MaxBatchBytes
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = d.MaxRecords
	}
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = d.MaxRecordBytes
	}
	if l.MaxHeadersPerRecord <= 0 {
		l.MaxHeadersPerRecord = d.MaxHeadersPerRecord
	}
	return l
}

// Encode returns the encoded batch. It derives Count, FirstTimestampMs and
// MaxTimestampMs from the records (the header cannot disagree with them),
// except that an empty batch keeps the timestamps it was given, and it
// computes Length and the CRC; the CRC and Length fields of b are ignored.
// A batch of more than 4 GiB or 2^32-1 records cannot be represented and
// makes Encode panic: callers bound batches by Limits long before that.
func Encode(b Batch) []byte {
	h := b.Header
	if uint64(len(b.Records)) > math.MaxUint32 {
		panic("recordbatch: more than 2^32-1 records in one batch")
	}
	h.Count = uint32(len(b.Records))
	if len(b.Records) > 0 {
		h.FirstTimestampMs = b.Records[0].TimestampMs
		h.MaxTimestampMs = b.Records[0].TimestampMs
		for _, r := range b.Records[1:] {
			h.MaxTimestampMs = max(h.MaxTimestampMs, r.TimestampMs)
		}
	}
	buf := make([]byte, HeaderSize, encodedSize(b))
	for _, r := range b.Records {
		// Wrapping subtraction: Decode adds the delta back with the same
		// wrapping, so every int64 pair round-trips.
		buf = binary.AppendVarint(buf, r.TimestampMs-h.FirstTimestampMs)
		buf = appendNullableBytes(buf, r.Key)
		buf = appendNullableBytes(buf, r.Value)
		buf = binary.AppendUvarint(buf, uint64(len(r.Headers)))
		for _, rh := range r.Headers {
			buf = binary.AppendUvarint(buf, uint64(len(rh.Key)))
			buf = append(buf, rh.Key...)
			buf = appendNullableBytes(buf, rh.Value)
		}
	}
	if uint64(len(buf)) > math.MaxUint32 {
		panic("recordbatch: batch larger than 4 GiB")
	}
	h.Length = uint32(len(buf))
	putHeader(buf, h)
	binary.BigEndian.PutUint32(buf[offCRC:], crc32.Checksum(buf[crcStart:], castagnoli))
	return buf
}

// encodedSize is an upper bound on the encoded size, to allocate once.
func encodedSize(b Batch) int {
	n := HeaderSize
	for _, r := range b.Records {
		n += 4*binary.MaxVarintLen64 + len(r.Key) + len(r.Value)
		for _, rh := range r.Headers {
			n += 2*binary.MaxVarintLen64 + len(rh.Key) + len(rh.Value)
		}
	}
	return n
}

func appendNullableBytes(buf, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(buf, -1)
	}
	buf = binary.AppendVarint(buf, int64(len(b)))
	return append(buf, b...)
}

// putHeader writes every header field except the CRC.
func putHeader(buf []byte, h Header) {
	be := binary.BigEndian
	buf[offMagic] = Version
	be.PutUint32(buf[offLength:], h.Length)
	be.PutUint64(buf[offEpoch:], h.Epoch)
	be.PutUint64(buf[offFirstOffset:], h.FirstOffset)
	be.PutUint32(buf[offCount:], h.Count)
	be.PutUint64(buf[offFirstTimestamp:], uint64(h.FirstTimestampMs))
	be.PutUint64(buf[offMaxTimestamp:], uint64(h.MaxTimestampMs))
	be.PutUint64(buf[offProducerID:], h.ProducerID)
	be.PutUint32(buf[offProducerEpoch:], h.ProducerEpoch)
	be.PutUint32(buf[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint16(buf[offAttributes:], h.Attributes)
}

// DecodeHeader parses the fixed header only. It is cheap: it checks the
// version and that buf holds a whole header, but neither the CRC (see
// Verify) nor that buf holds the whole batch, so it also works on a prefix.
func DecodeHeader(buf []byte) (Header, error) {
	if len(buf) >= 1 && buf[offMagic] != Version {
		return Header{}, fmt.Errorf("%w: version %d, want %d", ErrUnsupported, buf[offMagic], Version)
	}
	if len(buf) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrTruncated, len(buf), HeaderSize)
	}
	be := binary.BigEndian
	return Header{
		CRC:              be.Uint32(buf[offCRC:]),
		Length:           be.Uint32(buf[offLength:]),
		Epoch:            be.Uint64(buf[offEpoch:]),
		FirstOffset:      be.Uint64(buf[offFirstOffset:]),
		Count:            be.Uint32(buf[offCount:]),
		FirstTimestampMs: int64(be.Uint64(buf[offFirstTimestamp:])),
		MaxTimestampMs:   int64(be.Uint64(buf[offMaxTimestamp:])),
		ProducerID:       be.Uint64(buf[offProducerID:]),
		ProducerEpoch:    be.Uint32(buf[offProducerEpoch:]),
		BaseSequence:     int32(be.Uint32(buf[offBaseSequence:])),
		Attributes:       be.Uint16(buf[offAttributes:]),
	}, nil
}

// Verify checks that buf is exactly one whole batch of this version whose
// CRC matches. It does not parse the records (see Validate).
func Verify(buf []byte) error {
	_, err := verify(buf)
	return err
}

func verify(buf []byte) (Header, error) {
	h, err := DecodeHeader(buf)
	if err != nil {
		return Header{}, err
	}
	if err := checkLength(h, len(buf)); err != nil {
		return Header{}, err
	}
	if got := crc32.Checksum(buf[crcStart:], castagnoli); got != h.CRC {
		return Header{}, fmt.Errorf("%w: stored %08x, computed %08x", ErrCorrupt, h.CRC, got)
	}
	return h, nil
}

func checkLength(h Header, have int) error {
	switch {
	case h.Length < HeaderSize:
		return fmt.Errorf("%w: length field %d is below the header size", ErrMalformed, h.Length)
	case uint64(have) < uint64(h.Length):
		return fmt.Errorf("%w: %d bytes, length field says %d", ErrTruncated, have, h.Length)
	case uint64(have) > uint64(h.Length):
		return fmt.Errorf("%w: %d trailing bytes after the batch", ErrMalformed, uint64(have)-uint64(h.Length))
	}
	return nil
}

// SetFirstOffsetAndEpoch rewrites the first offset and epoch of the encoded
// batch in buf in place and recomputes its CRC, so a leader assigns offsets
// without re-encoding. It verifies the old CRC first: patching must never
// turn a damaged batch into one with a valid checksum. On error buf is
// unchanged.
func SetFirstOffsetAndEpoch(buf []byte, first, epoch uint64) error {
	if _, err := verify(buf); err != nil {
		return err
	}
	binary.BigEndian.PutUint64(buf[offFirstOffset:], first)
	binary.BigEndian.PutUint64(buf[offEpoch:], epoch)
	binary.BigEndian.PutUint32(buf[offCRC:], crc32.Checksum(buf[crcStart:], castagnoli))
	return nil
}

// Validate checks everything Decode checks (CRC, limits, every record)
// without allocating the records, and returns the header. Use it where the
// bytes are stored or forwarded as they are.
func Validate(buf []byte, limits Limits) (Header, error) {
	return decode(buf, limits, nil)
}

// Decode verifies and decodes one whole batch; buf must hold exactly the
// batch. The returned Key, Value and header Value slices alias buf (with
// their capacity capped), so copy them before reusing buf.
func Decode(buf []byte, limits Limits) (Batch, error) {
	var b Batch
	h, err := decode(buf, limits, &b.Records)
	if err != nil {
		return Batch{}, err
	}
	b.Header = h
	return b, nil
}

// decode validates buf and, when records is non-nil, collects the records.
func decode(buf []byte, limits Limits, records *[]Record) (Header, error) {
	limits = limits.withDefaults()
	h, err := DecodeHeader(buf)
	if err != nil {
		return Header{}, err
	}
	// Size limits come before the CRC so an oversized batch costs nothing.
	if uint64(h.Length) > uint64(limits.MaxBatchBytes) {
		return Header{}, fmt.Errorf("%w: batch of %d bytes, limit %d", ErrTooLarge, h.Length, limits.MaxBatchBytes)
	}
	if h, err = verify(buf); err != nil {
		return Header{}, err
	}
	if h.Attributes != 0 {
		return Header{}, fmt.Errorf("%w: attributes %#04x", ErrUnsupported, h.Attributes)
	}
	if uint64(h.Count) > uint64(limits.MaxRecords) {
		return Header{}, fmt.Errorf("%w: %d records, limit %d", ErrTooLarge, h.Count, limits.MaxRecords)
	}
	r := reader{buf: buf, pos: HeaderSize}
	if records != nil && h.Count > 0 {
		// Cap the preallocation by what the bytes could hold, not by the
		// count field alone.
		*records = make([]Record, 0, min(int(h.Count), (len(buf)-HeaderSize)/minRecordSize))
	}
	maxTs := h.FirstTimestampMs
	for i := uint32(0); i < h.Count; i++ {
		start := r.pos
		rec, err := r.record(h.FirstTimestampMs, limits, records != nil)
		if err != nil {
			return Header{}, fmt.Errorf("record %d: %w", i, err)
		}
		if r.pos-start > limits.MaxRecordBytes {
			return Header{}, fmt.Errorf("record %d: %w: %d bytes, limit %d", i, ErrTooLarge, r.pos-start, limits.MaxRecordBytes)
		}
		if i == 0 && rec.TimestampMs != h.FirstTimestampMs {
			return Header{}, fmt.Errorf("%w: first record timestamp delta is not 0", ErrMalformed)
		}
		maxTs = max(maxTs, rec.TimestampMs)
		if records != nil {
			*records = append(*records, rec)
		}
	}
	if h.Count > 0 && maxTs != h.MaxTimestampMs {
		return Header{}, fmt.Errorf("%w: max timestamp %d, records say %d", ErrMalformed, h.MaxTimestampMs, maxTs)
	}
	if r.pos != len(buf) {
		return Header{}, fmt.Errorf("%w: %d bytes after the last record", ErrMalformed, len(buf)-r.pos)
	}
	return h, nil
}

// reader walks the record section. Every method bounds-checks, so no input
// can make it index out of range.
type reader struct {
	buf []byte
	pos int
}

func (r *reader) record(firstTs int64, limits Limits, keep bool) (Record, error) {
	var rec Record
	delta, err := r.varint()
	if err != nil {
		return Record{}, fmt.Errorf("timestamp: %w", err)
	}
	rec.TimestampMs = firstTs + delta
	if rec.Key, err = r.nullableBytes(limits.MaxRecordBytes); err != nil {
		return Record{}, fmt.Errorf("key: %w", err)
	}
	if rec.Value, err = r.nullableBytes(limits.MaxRecordBytes); err != nil {
		return Record{}, fmt.Errorf("value: %w", err)
	}
	n, err := r.uvarint()
	if err != nil {
		return Record{}, fmt.Errorf("header count: %w", err)
	}
	if n > uint64(limits.MaxHeadersPerRecord) {
		return Record{}, fmt.Errorf("%w: %d headers, limit %d", ErrTooLarge, n, limits.MaxHeadersPerRecord)
	}
	if keep && n > 0 {
		rec.Headers = make([]RecordHeader, 0, min(int(n), (len(r.buf)-r.pos)/2))
	}
	for j := uint64(0); j < n; j++ {
		kl, err := r.uvarint()
		if err != nil {
			return Record{}, fmt.Errorf("header %d key length: %w", j, err)
		}
		key, err := r.bytes(kl, limits.MaxRecordBytes)
		if err != nil {
			return Record{}, fmt.Errorf("header %d key: %w", j, err)
		}
		val, err := r.nullableBytes(limits.MaxRecordBytes)
		if err != nil {
			return Record{}, fmt.Errorf("header %d value: %w", j, err)
		}
		if keep {
			rec.Headers = append(rec.Headers, RecordHeader{Key: string(key), Value: val})
		}
	}
	if !keep {
		return Record{TimestampMs: rec.TimestampMs}, nil
	}
	return rec, nil
}

// uvarint reads a minimal unsigned varint. Non-minimal encodings are
// rejected so that every accepted batch re-encodes to the same bytes.
func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.buf[r.pos:])
	switch {
	case n == 0:
		return 0, ErrTruncated
	case n < 0:
		return 0, fmt.Errorf("%w: varint overflows 64 bits", ErrMalformed)
	case n > 1 && r.buf[r.pos+n-1] == 0:
		return 0, fmt.Errorf("%w: non-minimal varint", ErrMalformed)
	}
	r.pos += n
	return v, nil
}

// varint reads a minimal zigzag-encoded signed varint.
func (r *reader) varint() (int64, error) {
	u, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	return int64(u>>1) ^ -int64(u&1), nil
}

// nullableBytes reads a zigzag length (-1 = nil) and that many bytes.
func (r *reader) nullableBytes(limit int) ([]byte, error) {
	l, err := r.varint()
	if err != nil {
		return nil, fmt.Errorf("length: %w", err)
	}
	if l == -1 {
		return nil, nil
	}
	if l < 0 {
		return nil, fmt.Errorf("%w: negative length %d", ErrMalformed, l)
	}
	return r.bytes(uint64(l), limit)
}

func (r *reader) bytes(n uint64, limit int) ([]byte, error) {
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	if n > uint64(len(r.buf)-r.pos) {
		return nil, fmt.Errorf("%w: %d bytes wanted, %d left", ErrTruncated, n, len(r.buf)-r.pos)
	}
	end := r.pos + int(n)
	b := r.buf[r.pos:end:end]
	r.pos = end
	return b, nil
}
