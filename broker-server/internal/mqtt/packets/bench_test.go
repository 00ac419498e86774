package packets

import "testing"

func benchPublish() *Publish {
	return &Publish{QoS: 1, PacketID: 7, Topic: "sensors/room1/temperature", Payload: make([]byte, 64),
		Props: Properties{MessageExpiryInterval: Some[uint32](60), User: []UserProperty{{"k", "v"}}}}
}

func BenchmarkEncodePublish(b *testing.B) {
	p := benchPublish()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = Append(buf[:0], p, V5)
	}
}

func BenchmarkDecodePublish(b *testing.B) {
	enc, _ := Encode(benchPublish(), V5)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for i := 0; i < b.N; i++ {
		if _, _, err := Decode(enc, V5, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatchTopic(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		MatchTopic("sensors/+/temperature/#", "sensors/room1/temperature")
	}
}

func TestEncodeDoesNotAllocate(t *testing.T) {
	p := benchPublish()
	buf := make([]byte, 0, 256)
	n := testing.AllocsPerRun(100, func() {
		buf, _ = Append(buf[:0], p, V5)
		_, _ = Size(p, V5)
	})
	if n != 0 {
		t.Fatalf("%v allocs per Append+Size", n)
	}
}
