package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fill sets every exported field of a kmsg struct to a non-zero value
// (seeded by n so siblings differ) and gives every slice two elements, so
// that every field a version carries shows up in the encoding. kmsg's own
// tagged-field holders are left empty.
func fill(v reflect.Value, n int, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 6 {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), n, depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(kmsg.Tags{}) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Name == "Version" {
				continue
			}
			fill(v.Field(i), n+i, depth+1)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{byte(n), 2, 3})
			return
		}
		if depth > 6 {
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), n+i+1, depth+1)
		}
		v.Set(s)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			v.Index(i).SetUint(uint64(n + i))
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n%100 + 1))
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n%100 + 1))
	}
}

// TestGoldenAgainstKmsg: for every supported API and version, a request
// and a response encoded by franz-go's kmsg decode with this package and
// re-encode to the same bytes.
func TestGoldenAgainstKmsg(t *testing.T) {
	for _, a := range APIs() {
		for v := a.Min; v <= a.Max; v++ {
			for _, side := range []string{"request", "response"} {
				t.Run(fmt.Sprintf("%s/v%d/%s", a.Name, v, side), func(t *testing.T) {
					var km interface {
						SetVersion(int16)
						AppendTo([]byte) []byte
					}
					var ours Message
					if side == "request" {
						r := kmsg.RequestForKey(a.Key)
						km, ours = r, a.NewRequest()
					} else {
						r := kmsg.ResponseForKey(a.Key)
						km, ours = r, a.NewResponse()
					}
					fill(reflect.ValueOf(km), 1, 0)
					km.SetVersion(v)
					want := km.AppendTo(nil)
					if err := DecodeBody(a, v, want, ours); err != nil {
						t.Fatalf("decode kmsg bytes: %v", err)
					}
					got := EncodeBody(nil, a, v, ours)
					if !bytes.Equal(got, want) {
						t.Fatalf("re-encoding differs\n got %x\nwant %x", got, want)
					}
				})
			}
		}
	}
}

// TestRequestHeaderAgainstKmsg: kmsg's request framing (size, header v1 or
// v2, body) parses with DecodeRequest and re-encodes to the same frame.
func TestRequestHeaderAgainstKmsg(t *testing.T) {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("client-1"))
	for _, a := range APIs() {
		for v := a.Min; v <= a.Max; v++ {
			r := kmsg.RequestForKey(a.Key)
			fill(reflect.ValueOf(r), 3, 0)
			r.SetVersion(v)
			frame := f.AppendRequest(nil, r, 77)
			if int(binary.BigEndian.Uint32(frame)) != len(frame)-4 {
				t.Fatalf("kmsg frame size")
			}
			h, m, err := DecodeRequest(frame[4:])
			if err != nil {
				t.Fatalf("%s v%d: %v", a.Name, v, err)
			}
			if h.APIKey != a.Key || h.APIVersion != v || h.CorrelationID != 77 || h.ClientID == nil || *h.ClientID != "client-1" {
				t.Fatalf("%s v%d: header %+v", a.Name, v, h)
			}
			got, err := EncodeRequest(nil, h, m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, frame[4:]) {
				t.Fatalf("%s v%d: re-encoded request differs\n got %x\nwant %x", a.Name, v, got, frame[4:])
			}
		}
	}
}

func TestUnsupportedVersion(t *testing.T) {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("c"))
	r := kmsg.NewPtrApiVersionsRequest()
	r.SetVersion(4)
	r.ClientSoftwareName = "x"
	frame := f.AppendRequest(nil, r, 9)
	h, _, err := DecodeRequest(frame[4:])
	var ue *UnsupportedError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("err %v", err)
	}
	if h.CorrelationID != 9 || *h.ClientID != "c" {
		t.Fatalf("header %+v", h)
	}
	if _, _, err := DecodeRequest([]byte{0, 99, 0, 0, 0, 0, 0, 1, 0, 0}); !errors.Is(err, ErrUnknownAPI) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, _, err := DecodeRequest([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 5}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated metadata: %v", err)
	}
}

// TestResponseHeader: flexible responses carry an empty tag section after
// the correlation id, except ApiVersions.
func TestResponseHeader(t *testing.T) {
	a, _ := Lookup(KeyMetadata)
	b := EncodeResponse(nil, a, 9, 5, &MetadataResponse{})
	if !bytes.Equal(b[:5], []byte{0, 0, 0, 5, 0}) {
		t.Fatalf("metadata v9 header %x", b[:5])
	}
	a, _ = Lookup(KeyApiVersions)
	b = EncodeResponse(nil, a, 3, 5, &ApiVersionsResponse{})
	kr := kmsg.NewPtrApiVersionsResponse()
	kr.SetVersion(3)
	if err := kr.ReadFrom(b[4:]); err != nil {
		t.Fatalf("kmsg reads our ApiVersions v3 body: %v", err)
	}
}

func sampleRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Offset: 100 + int64(i), Timestamp: 1700000000000 + int64(i*3),
			Key: []byte(fmt.Sprintf("k%d", i)), Value: bytes.Repeat([]byte{byte(i)}, i*10)}
		if i%2 == 0 {
			recs[i].Headers = []RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "n", Value: nil}}
		}
		if i == 3 {
			recs[i].Key = nil
		}
	}
	return recs
}

// TestBatchRoundTripAllCodecs: EncodeBatch then DecodeBatch for every
// codec, and kmsg parses our batch header and checks our CRC-less fields.
func TestBatchRoundTripAllCodecs(t *testing.T) {
	for codec := CompressionNone; codec <= CompressionZstd; codec++ {
		in := RecordBatch{BaseOffset: 100, Attributes: int16(codec), BaseTimestamp: 1700000000000,
			ProducerID: 7, ProducerEpoch: 1, BaseSequence: 42, Records: sampleRecords(9)}
		raw, err := EncodeBatch(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(raw); err != nil {
			t.Fatalf("codec %d: kmsg: %v", codec, err)
		}
		if kb.NumRecords != 9 || kb.LastOffsetDelta != 8 || kb.ProducerID != 7 || kb.FirstSequence != 42 || kb.MaxTimestamp != 1700000000024 {
			t.Fatalf("codec %d: kmsg header %+v", codec, kb)
		}
		bs, err := DecodeBatches(append(raw, raw...), DefaultBatchLimits())
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		if len(bs) != 2 {
			t.Fatalf("batches %d", len(bs))
		}
		if !reflect.DeepEqual(bs[0].Records, in.Records) {
			t.Fatalf("codec %d: records\n got %+v\nwant %+v", codec, bs[0].Records, in.Records)
		}
		raw[len(raw)-1] ^= 1
		if _, err := DecodeBatch(raw, DefaultBatchLimits()); !errors.Is(err, ErrMalformed) {
			t.Fatalf("corrupt batch: %v", err)
		}
	}
}

// TestBatchFromKmsg decodes a batch whose records kmsg encoded.
func TestBatchFromKmsg(t *testing.T) {
	var recs []byte
	for i := 0; i < 3; i++ {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: []byte{'k', byte('0' + i)}, Value: []byte("value"),
			Headers: []kmsg.Header{{Key: "a", Value: []byte("b")}}}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		body := r.AppendTo(nil)
		recs = append(recs, body...)
	}
	kb := kmsg.RecordBatch{FirstOffset: 5, Magic: 2, LastOffsetDelta: 2, FirstTimestamp: 1000, MaxTimestamp: 1002,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 3, Records: recs}
	raw := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32c(raw[21:]))
	b, err := DecodeBatch(raw, DefaultBatchLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 3 || b.Records[2].Offset != 7 || b.Records[2].Timestamp != 1002 || string(b.Records[1].Key) != "k1" || b.Records[0].Headers[0].Key != "a" {
		t.Fatalf("records %+v", b.Records)
	}
}
