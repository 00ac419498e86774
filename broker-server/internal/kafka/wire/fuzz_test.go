package wire

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzDecodeRequest: any frame either decodes (and then re-encodes to a
// frame that encodes the same again) or returns an error; never a
// panic or a runaway allocation.
func FuzzDecodeRequest(f *testing.F) {
	fm := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	for _, a := range APIs() {
		for _, v := range []int16{a.Min, a.Max} {
			r := kmsg.RequestForKey(a.Key)
			fill(reflect.ValueOf(r), 1, 0)
			r.SetVersion(v)
			f.Add(fm.AppendRequest(nil, r, 1)[4:])
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, m, err := DecodeRequest(frame)
		if err != nil {
			return
		}
		out, err := EncodeRequest(nil, h, m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		h2, m2, err := DecodeRequest(out)
		if err != nil {
			t.Fatalf("decode of re-encoding: %v", err)
		}
		out2, err := EncodeRequest(nil, h2, m2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding is not stable: %v\n%x\n%x", err, out, out2)
		}
	})
}

// FuzzDecodeBatches: any produce payload either decodes or errors; a
// decoded uncompressed batch re-encodes to batches with the same records.
func FuzzDecodeBatches(f *testing.F) {
	for codec := CompressionNone; codec <= CompressionZstd; codec++ {
		raw, err := EncodeBatch(nil, RecordBatch{BaseOffset: 3, Attributes: int16(codec), BaseTimestamp: 10, Records: sampleRecords(3)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	lim := BatchLimits{MaxRecords: 1 << 12, MaxUncompressed: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		bs, err := DecodeBatches(data, lim)
		if err != nil {
			return
		}
		for _, b := range bs {
			b.Attributes &^= 7
			raw, err := EncodeBatch(nil, b)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := DecodeBatch(raw, lim)
			if err != nil {
				t.Fatalf("decode of re-encoding: %v", err)
			}
			if len(b2.Records) != len(b.Records) {
				t.Fatalf("records %d != %d", len(b2.Records), len(b.Records))
			}
			for i := range b.Records {
				if !bytes.Equal(b.Records[i].Value, b2.Records[i].Value) || b.Records[i].Offset != b2.Records[i].Offset {
					t.Fatalf("record %d differs", i)
				}
			}
		}
	})
}
