package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

// normalized is what Decode(Encode(b)) must return: the derived header
// fields filled in, empty header lists as nil.
func normalized(b Batch, enc []byte) Batch {
	b.Count = uint32(len(b.Records))
	if len(b.Records) > 0 {
		b.FirstTimestampMs = b.Records[0].TimestampMs
		b.MaxTimestampMs = b.Records[0].TimestampMs
		for _, r := range b.Records {
			b.MaxTimestampMs = max(b.MaxTimestampMs, r.TimestampMs)
		}
	}
	b.Length = uint32(len(enc))
	b.CRC = binary.BigEndian.Uint32(enc[offCRC:])
	recs := make([]Record, len(b.Records))
	for i, r := range b.Records {
		if len(r.Headers) == 0 {
			r.Headers = nil
		}
		recs[i] = r
	}
	if len(recs) == 0 {
		recs = nil
	}
	b.Records = recs
	return b
}

func sampleBatch() Batch {
	return Batch{
		Header: Header{Epoch: 3, FirstOffset: 100, ProducerID: 42, ProducerEpoch: 7, BaseSequence: 9},
		Records: []Record{
			{TimestampMs: 1_700_000_000_000, Key: []byte("k1"), Value: []byte("v1"),
				Headers: []RecordHeader{{Key: "content-type", Value: []byte("text/plain")}, {Key: "nil", Value: nil}}},
			{TimestampMs: 1_699_999_999_000, Key: nil, Value: []byte{}},
			{TimestampMs: 1_700_000_000_500, Key: []byte{}, Value: nil},
		},
	}
}

func TestRoundTripTable(t *testing.T) {
	big := make([]byte, 1<<16)
	for i := range big {
		big[i] = byte(i)
	}
	tests := []struct {
		name  string
		batch Batch
	}{
		{"empty batch keeps its timestamps", Batch{Header: Header{FirstTimestampMs: 5, MaxTimestampMs: 9, BaseSequence: -1}}},
		{"one null record", Batch{Records: []Record{{}}}},
		{"sample", sampleBatch()},
		{"extreme header values", Batch{Header: Header{Epoch: math.MaxUint64, FirstOffset: math.MaxUint64 - 1,
			ProducerID: math.MaxUint64, ProducerEpoch: math.MaxUint32, BaseSequence: math.MinInt32},
			Records: []Record{{TimestampMs: math.MinInt64}, {TimestampMs: math.MaxInt64}}}},
		{"wrapping timestamp delta", Batch{Records: []Record{{TimestampMs: math.MaxInt64}, {TimestampMs: math.MinInt64}}}},
		{"64 KiB value", Batch{Records: []Record{{TimestampMs: 1, Value: big}}}},
		{"many headers", Batch{Records: []Record{{Headers: func() []RecordHeader {
			hs := make([]RecordHeader, 200)
			for i := range hs {
				hs[i] = RecordHeader{Key: string(rune('a' + i%26)), Value: []byte{byte(i)}}
			}
			return hs
		}()}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := Encode(tt.batch)
			got, err := Decode(enc, Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if want := normalized(tt.batch, enc); !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
			if re := Encode(got); !bytes.Equal(re, enc) {
				t.Fatalf("re-encode differs")
			}
			h, err := Validate(enc, Limits{})
			if err != nil || h != got.Header {
				t.Fatalf("Validate = %+v, %v; want %+v", h, err, got.Header)
			}
			h, err = DecodeHeader(enc[:HeaderSize])
			if err != nil || h != got.Header {
				t.Fatalf("DecodeHeader(prefix) = %+v, %v; want %+v", h, err, got.Header)
			}
			if err := Verify(enc); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestNullAndEmptyStayDistinct(t *testing.T) {
	enc := Encode(sampleBatch())
	got, err := Decode(enc, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r := got.Records
	if r[1].Key != nil || r[1].Value == nil || len(r[1].Value) != 0 {
		t.Fatalf("record 1: key %v value %v, want nil key and empty value", r[1].Key, r[1].Value)
	}
	if r[2].Key == nil || r[2].Value != nil {
		t.Fatalf("record 2: key %v value %v, want empty key and nil value", r[2].Key, r[2].Value)
	}
	if r[0].Headers[1].Value != nil {
		t.Fatalf("nil header value came back as %v", r[0].Headers[1].Value)
	}
}

func TestDecodedSlicesDoNotGrowIntoBuffer(t *testing.T) {
	enc := Encode(sampleBatch())
	before := append([]byte(nil), enc...)
	got, err := Decode(enc, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_ = append(got.Records[0].Key, 'X', 'Y', 'Z')
	if !bytes.Equal(enc, before) {
		t.Fatal("appending to a decoded key overwrote the batch buffer")
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := Encode(sampleBatch())
	withCRC := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[crcStart:], castagnoli))
		return b
	}
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), valid...))
	}
	tests := []struct {
		name   string
		buf    []byte
		limits Limits
		want   error
	}{
		{"nil", nil, Limits{}, ErrTruncated},
		{"short header", valid[:HeaderSize-1], Limits{}, ErrTruncated},
		{"header only", valid[:HeaderSize], Limits{}, ErrTruncated},
		{"missing last byte", valid[:len(valid)-1], Limits{}, ErrTruncated},
		{"trailing byte", append(append([]byte(nil), valid...), 0), Limits{}, ErrMalformed},
		{"bad version", mutate(func(b []byte) []byte { b[0] = 9; return b }), Limits{}, ErrUnsupported},
		{"flipped payload bit", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), Limits{}, ErrCorrupt},
		{"flipped offset bit", mutate(func(b []byte) []byte { b[offFirstOffset+7] ^= 1; return b }), Limits{}, ErrCorrupt},
		{"attributes set", mutate(func(b []byte) []byte { b[offAttributes+1] = 1; return withCRC(b) }), Limits{}, ErrUnsupported},
		{"count too high", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offCount:], 4)
			return withCRC(b)
		}), Limits{}, ErrTruncated},
		{"count too low", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offCount:], 2)
			return withCRC(b)
		}), Limits{}, ErrMalformed},
		{"max timestamp disagrees", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[offMaxTimestamp:], 1)
			return withCRC(b)
		}), Limits{}, ErrMalformed},
		{"huge count", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offCount:], math.MaxUint32)
			return withCRC(b)
		}), Limits{}, ErrTooLarge},
		{"length below header", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLength:], 10)
			return withCRC(b)
		}), Limits{}, ErrMalformed},
		{"batch over limit", valid, Limits{MaxBatchBytes: len(valid) - 1}, ErrTooLarge},
		{"records over limit", valid, Limits{MaxRecords: 2}, ErrTooLarge},
		{"record over limit", valid, Limits{MaxRecordBytes: 8}, ErrTooLarge},
		{"headers over limit", valid, Limits{MaxHeadersPerRecord: 1}, ErrTooLarge},
		{"non-minimal varint", func() []byte {
			b := Encode(Batch{Records: []Record{{Key: nil}}})
			// Record is: delta 0, key -1 (0x01), value -1 (0x01), 0
			// headers. Spell the delta 0 as 0x80 0x00.
			b = append(b[:HeaderSize], 0x80, 0x00, 0x01, 0x01, 0x00)
			binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)))
			return withCRC(b)
		}(), Limits{}, ErrMalformed},
		{"negative length", func() []byte {
			b := Encode(Batch{Records: []Record{{Key: nil}}})
			b[HeaderSize+1] = 0x03 // zigzag -2
			return withCRC(b)
		}(), Limits{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.buf, tt.limits); !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v, want %v", err, tt.want)
			}
			if _, err := Validate(tt.buf, tt.limits); !errors.Is(err, tt.want) {
				t.Fatalf("Validate error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSetFirstOffsetAndEpoch(t *testing.T) {
	enc := Encode(sampleBatch())
	if err := SetFirstOffsetAndEpoch(enc, 12345, 99); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(enc, Limits{})
	if err != nil {
		t.Fatalf("Decode after patch: %v", err)
	}
	if got.FirstOffset != 12345 || got.Epoch != 99 || got.NextOffset() != 12348 {
		t.Fatalf("patched header = %+v", got.Header)
	}
	want := sampleBatch()
	want.FirstOffset, want.Epoch = 12345, 99
	if !bytes.Equal(Encode(want), enc) {
		t.Fatal("patched bytes differ from encoding the patched batch")
	}

	// A damaged batch must not be laundered into a valid checksum.
	enc[len(enc)-1] ^= 0xff
	before := append([]byte(nil), enc...)
	if err := SetFirstOffsetAndEpoch(enc, 1, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("patching a corrupt batch: err = %v, want ErrCorrupt", err)
	}
	if !bytes.Equal(enc, before) {
		t.Fatal("failed patch changed the buffer")
	}
	if err := SetFirstOffsetAndEpoch(enc[:10], 1, 1); !errors.Is(err, ErrTruncated) {
		t.Fatalf("patching a short buffer: err = %v", err)
	}
}

func genBytes(t *rapid.T, label string) []byte {
	switch rapid.IntRange(0, 3).Draw(t, label+"-kind") {
	case 0:
		return nil
	case 1:
		return []byte{}
	default:
		return rapid.SliceOfN(rapid.Byte(), 1, 40).Draw(t, label)
	}
}

func genBatch(t *rapid.T) Batch {
	var b Batch
	b.Epoch = rapid.Uint64().Draw(t, "epoch")
	b.FirstOffset = rapid.Uint64().Draw(t, "first")
	b.FirstTimestampMs = rapid.Int64().Draw(t, "firstTs")
	b.MaxTimestampMs = rapid.Int64().Draw(t, "maxTs")
	b.ProducerID = rapid.Uint64().Draw(t, "pid")
	b.ProducerEpoch = rapid.Uint32().Draw(t, "pepoch")
	b.BaseSequence = rapid.Int32().Draw(t, "seq")
	n := rapid.IntRange(0, 8).Draw(t, "records")
	base := rapid.Int64().Draw(t, "baseTs")
	for i := 0; i < n; i++ {
		r := Record{
			// Mostly near each other, sometimes anywhere (wrapping deltas).
			TimestampMs: base + rapid.Int64Range(-1e6, 1e6).Draw(t, "tsOff"),
			Key:         genBytes(t, "key"),
			Value:       genBytes(t, "value"),
		}
		if rapid.IntRange(0, 9).Draw(t, "wildTs") == 0 {
			r.TimestampMs = rapid.Int64().Draw(t, "ts")
		}
		for j := rapid.IntRange(0, 3).Draw(t, "headers"); j > 0; j-- {
			r.Headers = append(r.Headers, RecordHeader{Key: rapid.String().Draw(t, "hkey"), Value: genBytes(t, "hvalue")})
		}
		b.Records = append(b.Records, r)
	}
	return b
}

// TestPropertyRoundTrip: Decode(Encode(b)) is b with its derived fields.
func TestPropertyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := genBatch(t)
		enc := Encode(b)
		got, err := Decode(enc, Limits{})
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if want := normalized(b, enc); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
	})
}

// TestPropertyByteFlipDetected: changing any one byte of an encoded batch
// makes Decode fail; it never returns a different batch.
func TestPropertyByteFlipDetected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		enc := Encode(genBatch(t))
		i := rapid.IntRange(0, len(enc)-1).Draw(t, "index")
		x := rapid.ByteRange(1, 255).Draw(t, "xor")
		bad := append([]byte(nil), enc...)
		bad[i] ^= x
		if got, err := Decode(bad, Limits{}); err == nil {
			t.Fatalf("flip of byte %d by %#x decoded as %+v", i, x, got)
		}
		if err := Verify(bad); err == nil {
			t.Fatalf("flip of byte %d by %#x passed Verify", i, x)
		}
		// A flip inside the CRC-covered area that keeps length and version
		// intact is reported as corruption specifically.
		if i >= offEpoch {
			if _, err := Decode(bad, Limits{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flip of byte %d: err = %v, want ErrCorrupt", i, err)
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(sampleBatch()))
	f.Add(Encode(Batch{}))
	f.Add(Encode(Batch{Records: []Record{{}}}))
	f.Add(Encode(Batch{Records: []Record{{TimestampMs: math.MaxInt64, Key: []byte("k"),
		Headers: []RecordHeader{{Key: "h"}}}, {TimestampMs: math.MinInt64}}}))
	f.Add([]byte{Version})
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(buf []byte) {
			got, err := Decode(buf, Limits{})
			_, verr := Validate(buf, Limits{})
			if (err == nil) != (verr == nil) {
				t.Fatalf("Decode err %v but Validate err %v", err, verr)
			}
			_, _ = DecodeHeader(buf)
			_ = Verify(buf)
			if err != nil {
				return
			}
			if re := Encode(got); !bytes.Equal(re, buf) {
				t.Fatalf("decoded batch re-encodes differently:\n in %x\nout %x", buf, re)
			}
		}
		check(data)
		// Random bytes almost never carry a valid CRC; also try the input
		// with its length and CRC fixed up so the record parser is reached.
		if len(data) >= HeaderSize && data[0] == Version {
			fixed := append([]byte(nil), data...)
			if uint64(len(fixed)) <= math.MaxUint32 {
				binary.BigEndian.PutUint32(fixed[offLength:], uint32(len(fixed)))
			}
			binary.BigEndian.PutUint32(fixed[offCRC:], crc32.Checksum(fixed[crcStart:], castagnoli))
			check(fixed)
			patched := append([]byte(nil), fixed...)
			if SetFirstOffsetAndEpoch(patched, 7, 8) == nil {
				check(patched)
			}
		}
	})
}

func benchBatch() Batch {
	var b Batch
	for i := 0; i < 100; i++ {
		b.Records = append(b.Records, Record{TimestampMs: int64(1_700_000_000_000 + i),
			Key: []byte("key-0000"), Value: bytes.Repeat([]byte{'v'}, 100)})
	}
	return b
}

func BenchmarkEncode(b *testing.B) {
	batch := benchBatch()
	b.SetBytes(int64(len(Encode(batch))))
	for b.Loop() {
		_ = Encode(batch)
	}
}

func BenchmarkDecode(b *testing.B) {
	enc := Encode(benchBatch())
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := Decode(enc, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	enc := Encode(benchBatch())
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := Validate(enc, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
