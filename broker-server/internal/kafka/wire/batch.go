package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression codecs (the low three bits of a batch's attributes).
const (
	CompressionNone   = 0
	CompressionGzip   = 1
	CompressionSnappy = 2
	CompressionLZ4    = 3
	CompressionZstd   = 4
)

// Batch attribute bits other than the codec.
const (
	attrTimestampLogAppend = 1 << 3
	attrTransactional      = 1 << 4
	attrControl            = 1 << 5
)

// batchHeaderLen is the fixed part of a v2 record batch up to and
// including the record count.
const batchHeaderLen = 61

// ErrUnsupportedBatch means a batch with magic other than 2 (message sets
// v0/v1 are not accepted) or an unknown compression codec.
var ErrUnsupportedBatch = errors.New("kafka wire: unsupported record batch")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// RecordHeader is one Kafka record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one Kafka record with its absolute offset and timestamp.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// RecordBatch is a decoded v2 record batch.
type RecordBatch struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	Records              []Record
}

// Compression is the batch's codec.
func (b *RecordBatch) Compression() int { return int(b.Attributes & 7) }

// Transactional says whether the batch is part of a transaction.
func (b *RecordBatch) Transactional() bool { return b.Attributes&attrTransactional != 0 }

// Control says whether the batch is a transaction control batch.
func (b *RecordBatch) Control() bool { return b.Attributes&attrControl != 0 }

// BatchLimits bound what DecodeBatches accepts.
type BatchLimits struct {
	// MaxRecords bounds the records of one batch.
	MaxRecords int
	// MaxUncompressed bounds the decompressed size of one batch's records.
	MaxUncompressed int
}

// DefaultBatchLimits: 1 Mi records and 64 MiB decompressed per batch.
func DefaultBatchLimits() BatchLimits {
	return BatchLimits{MaxRecords: 1 << 20, MaxUncompressed: 64 << 20}
}

// DecodeBatches decodes the concatenated record batches of a Produce
// partition (or a Fetch response). A partial trailing batch (as a fetch
// may return) is an error here: producers never send one.
func DecodeBatches(data []byte, lim BatchLimits) ([]RecordBatch, error) {
	var out []RecordBatch
	for len(data) > 0 {
		if len(data) < 12 {
			return out, fmt.Errorf("%w: %d bytes of a batch header", ErrMalformed, len(data))
		}
		length := int32(binary.BigEndian.Uint32(data[8:12]))
		if length < batchHeaderLen-12 || int(length) > len(data)-12 {
			return out, fmt.Errorf("%w: batch length %d with %d bytes", ErrMalformed, length, len(data)-12)
		}
		b, err := DecodeBatch(data[:12+int(length)], lim)
		if err != nil {
			return out, err
		}
		out = append(out, b)
		data = data[12+int(length):]
	}
	return out, nil
}

// DecodeBatch decodes exactly one v2 record batch: it checks the CRC-32C,
// decompresses the records and resolves their offsets and timestamps.
func DecodeBatch(data []byte, lim BatchLimits) (RecordBatch, error) {
	var b RecordBatch
	if len(data) < batchHeaderLen {
		return b, fmt.Errorf("%w: batch of %d bytes", ErrMalformed, len(data))
	}
	if magic := data[16]; magic != 2 {
		return b, fmt.Errorf("%w: magic %d", ErrUnsupportedBatch, magic)
	}
	if int(binary.BigEndian.Uint32(data[8:12])) != len(data)-12 {
		return b, fmt.Errorf("%w: batch length field disagrees", ErrMalformed)
	}
	crc := binary.BigEndian.Uint32(data[17:21])
	if got := crc32.Checksum(data[21:], castagnoli); got != crc {
		return b, fmt.Errorf("%w: crc %08x, computed %08x", ErrMalformed, crc, got)
	}
	be := binary.BigEndian
	b.BaseOffset = int64(be.Uint64(data[0:8]))
	b.PartitionLeaderEpoch = int32(be.Uint32(data[12:16]))
	b.Attributes = int16(be.Uint16(data[21:23]))
	b.LastOffsetDelta = int32(be.Uint32(data[23:27]))
	b.BaseTimestamp = int64(be.Uint64(data[27:35]))
	b.MaxTimestamp = int64(be.Uint64(data[35:43]))
	b.ProducerID = int64(be.Uint64(data[43:51]))
	b.ProducerEpoch = int16(be.Uint16(data[51:53]))
	b.BaseSequence = int32(be.Uint32(data[53:57]))
	count := int32(be.Uint32(data[57:61]))
	if lim.MaxRecords <= 0 {
		lim = DefaultBatchLimits()
	}
	if count < 0 || int(count) > lim.MaxRecords {
		return b, fmt.Errorf("%w: %d records", ErrMalformed, count)
	}
	payload, err := decompress(b.Compression(), data[batchHeaderLen:], lim.MaxUncompressed)
	if err != nil {
		return b, err
	}
	// Every record takes at least 7 bytes.
	if int(count) > len(payload)/7+1 {
		return b, fmt.Errorf("%w: %d records in %d bytes", ErrMalformed, count, len(payload))
	}
	b.Records = make([]Record, 0, count)
	r := recReader{b: payload}
	for i := int32(0); i < count; i++ {
		rec, err := r.record(&b)
		if err != nil {
			return b, fmt.Errorf("record %d: %w", i, err)
		}
		b.Records = append(b.Records, rec)
	}
	if len(r.b) != 0 {
		return b, fmt.Errorf("%w: %d bytes after the last record", ErrMalformed, len(r.b))
	}
	return b, nil
}

type recReader struct{ b []byte }

func (r *recReader) varint() (int64, error) {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad varint", ErrMalformed)
	}
	r.b = r.b[n:]
	return v, nil
}

// nbytes reads a varint-length byte string; -1 is nil.
func (r *recReader) nbytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n == -1 {
		return nil, nil
	}
	if n < 0 || n > int64(len(r.b)) {
		return nil, fmt.Errorf("%w: length %d with %d bytes", ErrMalformed, n, len(r.b))
	}
	out := append([]byte{}, r.b[:n]...)
	r.b = r.b[n:]
	return out, nil
}

func (r *recReader) record(b *RecordBatch) (Record, error) {
	var rec Record
	length, err := r.varint()
	if err != nil {
		return rec, err
	}
	if length < 0 || length > int64(len(r.b)) {
		return rec, fmt.Errorf("%w: record length %d with %d bytes", ErrMalformed, length, len(r.b))
	}
	body := recReader{b: r.b[:length]}
	r.b = r.b[length:]
	if len(body.b) < 1 {
		return rec, fmt.Errorf("%w: empty record", ErrMalformed)
	}
	body.b = body.b[1:] // attributes: unused
	tsDelta, err := body.varint()
	if err != nil {
		return rec, err
	}
	offDelta, err := body.varint()
	if err != nil {
		return rec, err
	}
	if rec.Key, err = body.nbytes(); err != nil {
		return rec, err
	}
	if rec.Value, err = body.nbytes(); err != nil {
		return rec, err
	}
	nh, err := body.varint()
	if err != nil {
		return rec, err
	}
	if nh < 0 || nh > int64(len(body.b)/2) {
		return rec, fmt.Errorf("%w: %d headers", ErrMalformed, nh)
	}
	for i := int64(0); i < nh; i++ {
		k, err := body.nbytes()
		if err != nil {
			return rec, err
		}
		if k == nil {
			return rec, fmt.Errorf("%w: null header key", ErrMalformed)
		}
		v, err := body.nbytes()
		if err != nil {
			return rec, err
		}
		rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
	}
	if len(body.b) != 0 {
		return rec, fmt.Errorf("%w: %d bytes left in a record", ErrMalformed, len(body.b))
	}
	rec.Offset = b.BaseOffset + offDelta
	rec.Timestamp = b.BaseTimestamp + tsDelta
	if b.Attributes&attrTimestampLogAppend != 0 {
		rec.Timestamp = b.MaxTimestamp
	}
	return rec, nil
}

// xerialMagic starts the framed snappy format of the Java client.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

func decompress(codec int, in []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultBatchLimits().MaxUncompressed
	}
	readAll := func(r io.Reader) ([]byte, error) {
		out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
		if err != nil {
			return nil, fmt.Errorf("%w: decompress: %v", ErrMalformed, err)
		}
		if len(out) > limit {
			return nil, fmt.Errorf("%w: records decompress past %d bytes", ErrMalformed, limit)
		}
		return out, nil
	}
	switch codec {
	case CompressionNone:
		return in, nil
	case CompressionGzip:
		zr, err := gzip.NewReader(bytes.NewReader(in))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrMalformed, err)
		}
		return readAll(zr)
	case CompressionSnappy:
		if bytes.HasPrefix(in, xerialMagic) {
			return unxerial(in[16:], limit)
		}
		return snappyBlock(in, limit)
	case CompressionLZ4:
		return readAll(lz4.NewReader(bytes.NewReader(in)))
	case CompressionZstd:
		zr, err := zstd.NewReader(bytes.NewReader(in), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrMalformed, err)
		}
		defer zr.Close()
		return readAll(zr)
	default:
		return nil, fmt.Errorf("%w: compression codec %d", ErrUnsupportedBatch, codec)
	}
}

func snappyBlock(in []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(in)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrMalformed, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: records decompress past %d bytes", ErrMalformed, limit)
	}
	out, err := s2.Decode(nil, in)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrMalformed, err)
	}
	return out, nil
}

// unxerial reads xerial framing after its 16-byte header: chunks of a
// 4-byte big-endian length and a snappy block.
func unxerial(in []byte, limit int) ([]byte, error) {
	var out []byte
	for len(in) > 0 {
		if len(in) < 4 {
			return nil, fmt.Errorf("%w: xerial chunk header", ErrMalformed)
		}
		n := int(binary.BigEndian.Uint32(in))
		in = in[4:]
		if n < 0 || n > len(in) {
			return nil, fmt.Errorf("%w: xerial chunk of %d bytes", ErrMalformed, n)
		}
		blk, err := snappyBlock(in[:n], limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, blk...)
		in = in[n:]
	}
	return out, nil
}

// compress is used by EncodeBatch for producers (tests) and, for now, never
// for fetch responses.
func compress(codec int, in []byte) ([]byte, error) {
	switch codec {
	case CompressionNone:
		return in, nil
	case CompressionGzip:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(in); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CompressionSnappy:
		return s2.EncodeSnappy(nil, in), nil
	case CompressionLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(in); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CompressionZstd:
		w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer func() { _ = w.Close() }()
		return w.EncodeAll(in, nil), nil
	default:
		return nil, fmt.Errorf("%w: compression codec %d", ErrUnsupportedBatch, codec)
	}
}

// EncodeBatch appends b as a v2 record batch. Record offsets and
// timestamps are written as deltas from b.BaseOffset and b.BaseTimestamp;
// LastOffsetDelta and MaxTimestamp are computed from the records. The
// codec in b.Attributes compresses the records.
func EncodeBatch(dst []byte, b RecordBatch) ([]byte, error) {
	maxTs := b.BaseTimestamp
	lastDelta := int32(-1)
	if len(b.Records) > 0 {
		lastDelta = int32(b.Records[len(b.Records)-1].Offset - b.BaseOffset)
	}
	// Each record is written once, straight into recs, after its length
	// (computed first), and recs is sized once: fetch responses encode
	// every record they serve here.
	lens := make([]int, len(b.Records))
	total := 0
	for i, r := range b.Records {
		n := 1 + varintLen(r.Timestamp-b.BaseTimestamp) + varintLen(r.Offset-b.BaseOffset) +
			varBytesLen(r.Key) + varBytesLen(r.Value) + varintLen(int64(len(r.Headers)))
		for _, h := range r.Headers {
			n += varBytesLen([]byte(h.Key)) + varBytesLen(h.Value)
		}
		lens[i] = n
		total += varintLen(int64(n)) + n
	}
	recs := make([]byte, 0, total)
	for i, r := range b.Records {
		recs = binary.AppendVarint(recs, int64(lens[i]))
		recs = append(recs, 0)
		recs = binary.AppendVarint(recs, r.Timestamp-b.BaseTimestamp)
		recs = binary.AppendVarint(recs, r.Offset-b.BaseOffset)
		recs = appendVarBytes(recs, r.Key)
		recs = appendVarBytes(recs, r.Value)
		recs = binary.AppendVarint(recs, int64(len(r.Headers)))
		for _, h := range r.Headers {
			recs = appendVarBytes(recs, []byte(h.Key))
			recs = appendVarBytes(recs, h.Value)
		}
		maxTs = max(maxTs, r.Timestamp)
	}
	payload, err := compress(b.Compression(), recs)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, batchHeaderLen+len(payload))
	start := len(dst)
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(b.BaseOffset))
	dst = be.AppendUint32(dst, uint32(batchHeaderLen-12+len(payload)))
	dst = be.AppendUint32(dst, uint32(b.PartitionLeaderEpoch))
	dst = append(dst, 2)
	dst = be.AppendUint32(dst, 0) // crc, below
	dst = be.AppendUint16(dst, uint16(b.Attributes))
	dst = be.AppendUint32(dst, uint32(lastDelta))
	dst = be.AppendUint64(dst, uint64(b.BaseTimestamp))
	dst = be.AppendUint64(dst, uint64(maxTs))
	dst = be.AppendUint64(dst, uint64(b.ProducerID))
	dst = be.AppendUint16(dst, uint16(b.ProducerEpoch))
	dst = be.AppendUint32(dst, uint32(b.BaseSequence))
	dst = be.AppendUint32(dst, uint32(len(b.Records)))
	dst = append(dst, payload...)
	be.PutUint32(dst[start+17:], crc32.Checksum(dst[start+21:], castagnoli))
	return dst, nil
}

// varintLen is the length of x as a zigzag varint.
func varintLen(x int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], x)
}

// varBytesLen is the length appendVarBytes writes for b.
func varBytesLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
