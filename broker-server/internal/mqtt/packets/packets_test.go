package packets

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// s is a two-byte-length-prefixed string or binary field.
func s(v string) []byte { return append([]byte{byte(len(v) >> 8), byte(len(v))}, v...) }

// raw builds a packet from its first byte and body parts, computing the
// remaining length.
func raw(first byte, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(appendVBI([]byte{first}, uint32(len(body))), body...)
}

func b(x ...byte) []byte { return x }

// roundTrip encodes p at v, decodes it back with Decode and ReadPacket and
// checks the value, Size and that re-encoding gives the same bytes.
// tb is what roundTrip needs of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func roundTrip(t tb, p Packet, v Version) []byte {
	t.Helper()
	enc, err := Encode(p, v)
	if err != nil {
		t.Fatalf("encode %T v%d: %v", p, v, err)
	}
	if n, err := Size(p, v); err != nil || n != len(enc) {
		t.Fatalf("Size = %d, %v; encoded %d bytes", n, err, len(enc))
	}
	dv := v
	if _, ok := p.(*Connect); ok {
		dv = 0
	}
	got, n, err := Decode(enc, dv, Limits{})
	if err != nil {
		t.Fatalf("decode %T v%d % x: %v", p, v, enc, err)
	}
	if n != len(enc) {
		t.Fatalf("decode used %d of %d bytes", n, len(enc))
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip v%d:\n in %#v\nout %#v", v, p, got)
	}
	got2, err := ReadPacket(bufio.NewReader(bytes.NewReader(enc)), dv, Limits{})
	if err != nil || !reflect.DeepEqual(got2, p) {
		t.Fatalf("ReadPacket: %v\n in %#v\nout %#v", err, p, got2)
	}
	re, err := Encode(got, v)
	if err != nil || !bytes.Equal(re, enc) {
		t.Fatalf("re-encode: %v\n% x\n% x", err, enc, re)
	}
	var w bytes.Buffer
	if err := WritePacket(&w, p, v); err != nil || !bytes.Equal(w.Bytes(), enc) {
		t.Fatalf("WritePacket: %v", err)
	}
	return enc
}

func TestRemainingLengthVectors(t *testing.T) {
	// MQTT 5.0 table 1-1 / 3.1.1 table 2.4.
	for _, c := range []struct {
		v   uint32
		enc []byte
	}{
		{0, b(0x00)}, {127, b(0x7F)}, {128, b(0x80, 0x01)}, {16383, b(0xFF, 0x7F)},
		{16384, b(0x80, 0x80, 0x01)}, {2097151, b(0xFF, 0xFF, 0x7F)},
		{2097152, b(0x80, 0x80, 0x80, 0x01)}, {268435455, b(0xFF, 0xFF, 0xFF, 0x7F)},
	} {
		if got := appendVBI(nil, c.v); !bytes.Equal(got, c.enc) {
			t.Errorf("encode %d = % x, want % x", c.v, got, c.enc)
		}
		if vbiLen(c.v) != len(c.enc) {
			t.Errorf("vbiLen(%d) = %d", c.v, vbiLen(c.v))
		}
		got, n, err := decodeVBI(c.enc)
		if err != nil || n != len(c.enc) || got != c.v {
			t.Errorf("decode % x = %d, %d, %v", c.enc, got, n, err)
		}
	}
	for _, bad := range [][]byte{b(0xFF, 0xFF, 0xFF, 0xFF, 0x7F), b(0x80, 0x00), b(0xFF, 0x80, 0x00)} {
		if _, _, err := decodeVBI(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("decode % x: %v, want malformed", bad, err)
		}
	}
}

func TestSpecExamples(t *testing.T) {
	// MQTT 3.1.1 section 3.1.2.10 variable header example (flags 0xCE:
	// user name, password, will QoS 1, will, clean session; keep alive 10)
	// with a payload in the order of section 3.1.3.
	connect311 := raw(0x10, b(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xCE, 0x00, 0x0A),
		s("client"), s("will/t"), s("bye"), s("user"), s("pw"))
	want311 := &Connect{Level: V311, CleanStart: true, KeepAlive: 10, ClientID: "client",
		Will:     &Will{QoS: 1, Topic: "will/t", Payload: []byte("bye")},
		Username: Some("user"), Password: Some([]byte("pw"))}
	// MQTT 5.0 section 3.1.2.12 variable header example: flags 0xC2 (user
	// name, password, clean start), keep alive 10, Session Expiry 10.
	connect5 := raw(0x10, b(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0xC2, 0x00, 0x0A,
		0x05, 0x11, 0x00, 0x00, 0x00, 0x0A), s(""), s("u"), s("p"))
	want5 := &Connect{Level: V5, CleanStart: true, KeepAlive: 10,
		Props:    Properties{SessionExpiryInterval: Some[uint32](10)},
		Username: Some("u"), Password: Some([]byte("p"))}
	connect31 := raw(0x10, s("MQIsdp"), b(0x03, 0x02, 0x00, 0x3C), s("c31"))
	want31 := &Connect{Level: V31, CleanStart: true, KeepAlive: 60, ClientID: "c31"}

	for _, c := range []struct {
		name string
		v    Version
		enc  []byte
		want Packet
	}{
		{"connect 3.1.1", 0, connect311, want311},
		{"connect 5", 0, connect5, want5},
		{"connect 3.1", 0, connect31, want31},
		// 3.1.1 section 3.3.2.3: topic "a/b", packet identifier 10.
		{"publish 3.1.1", V311, raw(0x32, b(0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A), []byte("hi")),
			&Publish{QoS: 1, Topic: "a/b", PacketID: 10, Payload: []byte("hi")}},
		{"publish 5 with props", V5, raw(0x3D, s("a/b"), b(0x00, 0x0A, 0x05, 0x02, 0x00, 0x00, 0x00, 0x3C)),
			&Publish{QoS: 2, Dup: true, Retain: true, Topic: "a/b", PacketID: 10,
				Props: Properties{MessageExpiryInterval: Some[uint32](60)}}},
		// 3.1.1 section 3.8.3.1: "a/b" QoS 1, "c/d" QoS 2.
		{"subscribe 3.1.1", V311, b(0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01, 0x00, 0x03, 'c', '/', 'd', 0x02),
			&Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: "a/b", QoS: 1}, {Filter: "c/d", QoS: 2}}}},
		// 3.1.1 section 3.9.3.1: granted 0, granted 2, failure.
		{"suback 3.1.1", V311, b(0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80),
			&Suback{PacketID: 10, ReasonCodes: []ReasonCode{0, 2, 0x80}}},
		// 3.1.1 section 3.10.3.1.
		{"unsubscribe 3.1.1", V311, b(0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x03, 'c', '/', 'd'),
			&Unsubscribe{PacketID: 10, Filters: []string{"a/b", "c/d"}}},
		{"unsuback 3.1.1", V311, b(0xB0, 0x02, 0x00, 0x0A), &Unsuback{PacketID: 10}},
		{"connack 3.1.1", V311, b(0x20, 0x02, 0x01, 0x00), &Connack{SessionPresent: true}},
		{"connack 5", V5, b(0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x14),
			&Connack{Props: Properties{ReceiveMaximum: Some[uint16](20)}}},
		{"puback 3.1.1", V311, b(0x40, 0x02, 0x00, 0x07), &Puback{PacketID: 7}},
		{"puback 5 short", V5, b(0x40, 0x02, 0x00, 0x07), &Puback{PacketID: 7}},
		{"pubrec 5 reason only", V5, b(0x50, 0x03, 0x00, 0x07, 0x10), &Pubrec{PacketID: 7, ReasonCode: 0x10}},
		{"pubrel", V311, b(0x62, 0x02, 0x00, 0x07), &Pubrel{PacketID: 7}},
		{"pubcomp 5", V5, b(0x70, 0x03, 0x00, 0x07, 0x92), &Pubcomp{PacketID: 7, ReasonCode: 0x92}},
		{"pingreq", V311, b(0xC0, 0x00), &Pingreq{}},
		{"pingresp", V5, b(0xD0, 0x00), &Pingresp{}},
		{"disconnect 3.1.1", V311, b(0xE0, 0x00), &Disconnect{}},
		{"disconnect 5 reason", V5, b(0xE0, 0x01, 0x8E), &Disconnect{ReasonCode: ReasonSessionTakenOver}},
		{"auth 5 empty", V5, b(0xF0, 0x00), &Auth{}},
		// MQTT 5.0 section 1.5.4 example: "A𪛔" (U+2A6D4) is 41 F0 AA 9B 94.
		{"utf-8 example", V311, raw(0x30, b(0x00, 0x05, 0x41, 0xF0, 0xAA, 0x9B, 0x94)), &Publish{Topic: "A\U0002A6D4"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, n, err := Decode(c.enc, c.v, Limits{})
			if err != nil {
				t.Fatalf("decode % x: %v", c.enc, err)
			}
			if n != len(c.enc) || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decode % x (%d bytes):\n got %#v\nwant %#v", c.enc, n, got, c.want)
			}
			ev := c.v
			if ev == 0 {
				ev = c.want.(*Connect).Level
			}
			enc, err := Encode(c.want, ev)
			if err != nil || !bytes.Equal(enc, c.enc) {
				t.Fatalf("encode: %v\n got % x\nwant % x", err, enc, c.enc)
			}
		})
	}
}

// samples are hand-made packets covering every type and option.
func samples(v Version) []Packet {
	v5 := v == V5
	props := func(p Properties) Properties {
		if v5 {
			return p
		}
		return Properties{}
	}
	rc := func(r ReasonCode) ReasonCode {
		if v5 {
			return r
		}
		return 0
	}
	user := []UserProperty{{"k", "v"}, {"k", "v2"}, {"", ""}}
	ps := []Packet{
		&Connect{Level: v, ClientID: "c"},
		&Connect{Level: v, CleanStart: true, KeepAlive: 65535, ClientID: "",
			Will: &Will{QoS: 2, Retain: true, Topic: "w/t", Payload: []byte{0, 1, 2},
				Props: props(Properties{WillDelayInterval: Some[uint32](5), PayloadFormatIndicator: Some[byte](1),
					MessageExpiryInterval: Some[uint32](9), ContentType: Some("text/plain"),
					ResponseTopic: Some("r/t"), CorrelationData: Some([]byte("id")), User: user})},
			Username: Some("u"), Password: Some([]byte(nil)),
			Props: props(Properties{SessionExpiryInterval: Some[uint32](0xFFFFFFFF), ReceiveMaximum: Some[uint16](10),
				MaximumPacketSize: Some[uint32](1024), TopicAliasMaximum: Some[uint16](0),
				RequestResponseInformation: Some[byte](1), RequestProblemInformation: Some[byte](0),
				AuthenticationMethod: Some("SCRAM"), AuthenticationData: Some([]byte{9}), User: user})},
		&Connect{Level: v, Username: Some(""), Will: &Will{Topic: "$SYS/x"}},
		&Connack{ReasonCode: 0},
		&Publish{Topic: "a"},
		&Publish{Topic: "a/b/c", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("x")},
		&Publish{Topic: "/", QoS: 2, PacketID: 65535, Dup: true, Payload: bytes.Repeat([]byte{7}, 300),
			Props: props(Properties{PayloadFormatIndicator: Some[byte](0), TopicAlias: Some[uint16](3),
				SubscriptionIdentifiers: []uint32{1, MaxSubscriptionID, 128}, ContentType: Some(""),
				ResponseTopic: Some("resp"), CorrelationData: Some([]byte(nil)), User: user})},
		&Puback{PacketID: 1}, &Puback{PacketID: 2, ReasonCode: rc(ReasonNoMatchingSubscribers)},
		&Puback{PacketID: 3, ReasonCode: rc(ReasonQuotaExceeded), Props: props(Properties{ReasonString: Some("full"), User: user})},
		&Pubrec{PacketID: 1}, &Pubrec{PacketID: 9, ReasonCode: rc(ReasonPacketIdentifierInUse)},
		&Pubrel{PacketID: 1}, &Pubrel{PacketID: 9, ReasonCode: rc(ReasonPacketIdentifierNotFound), Props: props(Properties{ReasonString: Some("")})},
		&Pubcomp{PacketID: 1}, &Pubcomp{PacketID: 9, Props: props(Properties{User: user})},
		&Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "#"}, {Filter: "+/+/#", QoS: 2}, {Filter: "$share/g/a/+", QoS: 1}}},
		&Suback{PacketID: 1, ReasonCodes: []ReasonCode{0, 1, 2, 0x80}},
		&Unsubscribe{PacketID: 1, Filters: []string{"a/#", "$share/g/x"}},
		&Pingreq{}, &Pingresp{}, &Disconnect{},
	}
	if v != V31 {
		ps = append(ps, &Connack{SessionPresent: true})
	}
	if !v5 {
		ps = append(ps, &Unsuback{PacketID: 1})
	}
	if v == V31 || v == V311 {
		ps = append(ps, &Connack{ReasonCode: V3NotAuthorized}, &Connect{Level: v, Username: Some("u"), Password: Some([]byte("p"))})
	}
	if v5 {
		ps = append(ps,
			&Connect{Level: v, Password: Some([]byte("p"))}, // allowed without user name in MQTT 5
			&Connack{ReasonCode: ReasonBadUserNameOrPassword, Props: Properties{ReasonString: Some("no")}},
			&Connack{SessionPresent: true, Props: Properties{SessionExpiryInterval: Some[uint32](60),
				AssignedClientIdentifier: Some("auto-1"), ServerKeepAlive: Some[uint16](30),
				AuthenticationMethod: Some("m"), AuthenticationData: Some([]byte("d")), ResponseInformation: Some("ri"),
				ServerReference: Some("other:1883"), ReasonString: Some("ok"), ReceiveMaximum: Some[uint16](65535),
				TopicAliasMaximum: Some[uint16](10), MaximumQoS: Some[byte](1), RetainAvailable: Some[byte](0),
				MaximumPacketSize: Some[uint32](1 << 20), WildcardSubscriptionAvailable: Some[byte](1),
				SubscriptionIdentifierAvailable: Some[byte](0), SharedSubscriptionAvailable: Some[byte](1), User: user}},
			&Publish{Topic: "", Props: Properties{TopicAlias: Some[uint16](1)}},
			&Subscribe{PacketID: 2, Props: Properties{SubscriptionIdentifiers: []uint32{42}, User: user},
				Subscriptions: []Subscription{{Filter: "a", NoLocal: true, RetainAsPublished: true, RetainHandling: 2, QoS: 1},
					{Filter: "$share/g/b", RetainHandling: 1}}},
			&Suback{PacketID: 2, Props: Properties{ReasonString: Some("r")}, ReasonCodes: []ReasonCode{0x8F, 0x9E, 0xA1, 0xA2}},
			&Unsubscribe{PacketID: 2, Props: Properties{User: user}, Filters: []string{"a"}},
			&Unsuback{PacketID: 2, ReasonCodes: []ReasonCode{0, 0x11}, Props: Properties{ReasonString: Some("r")}},
			&Disconnect{ReasonCode: ReasonDisconnectWithWillMessage},
			&Disconnect{ReasonCode: ReasonServerMoved, Props: Properties{SessionExpiryInterval: Some[uint32](0),
				ServerReference: Some("b2"), ReasonString: Some("moved"), User: user}},
			&Auth{ReasonCode: ReasonContinueAuthentication, Props: Properties{AuthenticationMethod: Some("SCRAM"), AuthenticationData: Some([]byte{1, 2})}},
			&Auth{ReasonCode: ReasonReAuthenticate},
			&Auth{Props: Properties{ReasonString: Some("x")}},
		)
	}
	return ps
}

func TestRoundTripSamples(t *testing.T) {
	for _, v := range []Version{V31, V311, V5} {
		for _, p := range samples(v) {
			roundTrip(t, p, v)
		}
	}
}

func TestShortForms(t *testing.T) {
	// MQTT 5 acks without reason code and properties, with a reason code
	// only, and a reason code 0 written in full all decode.
	for _, c := range []struct {
		enc  []byte
		want Packet
	}{
		{b(0x40, 0x03, 0x00, 0x01, 0x00), &Puback{PacketID: 1}},
		{b(0x40, 0x04, 0x00, 0x01, 0x00, 0x00), &Puback{PacketID: 1}},
		{b(0xE0, 0x02, 0x00, 0x00), &Disconnect{}},
		{b(0xF0, 0x01, 0x18), &Auth{ReasonCode: 0x18}},
		{b(0xF0, 0x02, 0x00, 0x00), &Auth{}},
	} {
		got, _, err := Decode(c.enc, V5, Limits{})
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("% x: %#v, %v", c.enc, got, err)
		}
	}
	enc, _ := Encode(&Puback{PacketID: 1, ReasonCode: 0x80}, V5)
	if !bytes.Equal(enc, b(0x40, 0x03, 0x00, 0x01, 0x80)) {
		t.Errorf("puback reason only: % x", enc)
	}
	enc, _ = Encode(&Auth{ReasonCode: 0x18}, V5)
	if !bytes.Equal(enc, b(0xF0, 0x02, 0x18, 0x00)) {
		t.Errorf("auth: % x", enc)
	}
}

func TestMalformed(t *testing.T) {
	hdr5 := b(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05)
	hdr4 := b(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04)
	for _, c := range []struct {
		name string
		v    Version
		enc  []byte
		want ReasonCode
	}{
		{"remaining length 5 bytes", V311, b(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), 0x81},
		{"remaining length not minimal", V311, b(0xC0, 0x80, 0x00), 0x81},
		{"reserved type 0", V311, b(0x00, 0x00), 0x81},
		{"AUTH before MQTT 5", V311, b(0xF0, 0x00), 0x81},
		{"packet before CONNECT", 0, b(0xC0, 0x00), 0x82},
		{"pubrel flags 0000", V311, b(0x60, 0x02, 0x00, 0x01), 0x81},
		{"pubrel flags 1010 in 3.1.1", V311, b(0x6A, 0x02, 0x00, 0x01), 0x81},
		{"subscribe flags 0000", V311, raw(0x80, b(0, 1), s("a"), b(0)), 0x81},
		{"unsubscribe flags 0011", V5, raw(0xA3, b(0, 1, 0), s("a")), 0x81},
		{"puback flags 0001", V311, b(0x41, 0x02, 0x00, 0x01), 0x81},
		{"pingreq with body", V311, b(0xC0, 0x01, 0x00), 0x81},
		{"disconnect with body in 3.1.1", V311, b(0xE0, 0x01, 0x00), 0x81},
		{"puback 3 bytes in 3.1.1", V311, b(0x40, 0x03, 0x00, 0x01, 0x00), 0x81},
		{"publish QoS 3", V311, raw(0x36, s("a"), b(0, 1)), 0x81},
		{"publish QoS 0 with DUP", V311, raw(0x38, s("a")), 0x81},
		{"publish packet id 0", V311, raw(0x32, s("a"), b(0, 0)), 0x82},
		{"publish wildcard +", V311, raw(0x30, s("a/+")), 0x90},
		{"publish wildcard #", V5, raw(0x30, s("#"), b(0)), 0x90},
		{"publish empty topic 3.1.1", V311, raw(0x30, s("")), 0x90},
		{"publish empty topic without alias", V5, raw(0x30, s(""), b(0)), 0x82},
		{"publish topic alias 0", V5, raw(0x30, s("a"), b(3, 0x23, 0, 0)), 0x94},
		{"publish invalid utf-8", V311, raw(0x30, s("a\xff")), 0x81},
		{"publish overlong utf-8", V311, raw(0x30, s("\xc0\xaf")), 0x81},
		{"publish surrogate", V311, raw(0x30, s("\xed\xa0\x80")), 0x81},
		{"publish U+0000", V311, raw(0x30, s("a\x00b")), 0x81},
		{"publish string past end", V311, raw(0x30, b(0x00, 0x09, 'a')), 0x81},
		{"publish property length past end", V5, raw(0x30, s("a"), b(0x09, 0x01)), 0x81},
		{"publish duplicate property", V5, raw(0x30, s("a"), b(4, 0x01, 0, 0x01, 1)), 0x82},
		{"publish payload format 2", V5, raw(0x30, s("a"), b(2, 0x01, 2)), 0x82},
		{"publish property not allowed", V5, raw(0x30, s("a"), b(3, 0x21, 0, 1)), 0x81},
		{"publish unknown property", V5, raw(0x30, s("a"), b(2, 0x05, 0)), 0x81},
		{"publish subscription id 0", V5, raw(0x30, s("a"), b(2, 0x0B, 0)), 0x82},
		{"publish user property bad utf-8", V5, raw(0x30, s("a"), b(7, 0x26), s("k"), s("\xff")), 0x81},
		{"connect reserved flag", 0, raw(0x10, hdr4, b(0x03, 0, 0), s("c")), 0x81},
		{"connect protocol level 6", 0, raw(0x10, b(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0, 0), s("c")), 0x84},
		{"connect protocol name", 0, raw(0x10, b(0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0, 0), s("c")), 0x84},
		{"connect MQIsdp level 4", 0, raw(0x10, s("MQIsdp"), b(0x04, 0x02, 0, 0), s("c")), 0x84},
		{"connect will QoS 3", 0, raw(0x10, hdr4, b(0x1C, 0, 0), s("c"), s("t"), s("m")), 0x81},
		{"connect will retain without will", 0, raw(0x10, hdr4, b(0x20, 0, 0), s("c")), 0x81},
		{"connect password without user 3.1.1", 0, raw(0x10, hdr4, b(0x40, 0, 0), s("c"), s("p")), 0x81},
		{"connect will topic wildcard", 0, raw(0x10, hdr4, b(0x04, 0, 0), s("c"), s("a/#"), s("m")), 0x90},
		{"connect trailing bytes", 0, raw(0x10, hdr4, b(0x00, 0, 0), s("c"), b(1)), 0x81},
		{"connect truncated", 0, raw(0x10, hdr4, b(0x00, 0)), 0x81},
		{"connect receive maximum 0", 0, raw(0x10, hdr5, b(0x00, 0, 0, 3, 0x21, 0, 0), s("c")), 0x82},
		{"connect maximum packet size 0", 0, raw(0x10, hdr5, b(0x00, 0, 0, 5, 0x27, 0, 0, 0, 0), s("c")), 0x82},
		{"connect request problem info 2", 0, raw(0x10, hdr5, b(0x00, 0, 0, 2, 0x17, 2), s("c")), 0x82},
		{"connect topic alias not allowed", 0, raw(0x10, hdr5, b(0x00, 0, 0, 3, 0x23, 0, 1), s("c")), 0x81},
		{"connect will delay outside will", 0, raw(0x10, hdr5, b(0x00, 0, 0, 5, 0x18, 0, 0, 0, 1), s("c")), 0x81},
		{"connect will property not allowed", 0, raw(0x10, hdr5, b(0x04, 0, 0, 0), s("c"), b(5, 0x11, 0, 0, 0, 1), s("t"), s("m")), 0x81},
		{"connect duplicate session expiry", 0, raw(0x10, hdr5, b(0x00, 0, 0, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2), s("c")), 0x82},
		{"connack reserved flags", V311, b(0x20, 0x02, 0x02, 0x00), 0x81},
		{"connack bad return code", V311, b(0x20, 0x02, 0x00, 0x06), 0x82},
		{"connack session present with error", V5, b(0x20, 0x03, 0x01, 0x87, 0x00), 0x82},
		{"connack maximum QoS 2", V5, b(0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02), 0x82},
		{"puback packet id 0", V311, b(0x40, 0x02, 0x00, 0x00), 0x82},
		{"puback reason not allowed", V5, b(0x40, 0x03, 0x00, 0x01, 0x04), 0x82},
		{"pubrel reason not allowed", V5, b(0x62, 0x03, 0x00, 0x01, 0x10), 0x82},
		{"subscribe packet id 0", V311, raw(0x82, b(0, 0), s("a"), b(0)), 0x82},
		{"subscribe no filter", V311, raw(0x82, b(0, 1)), 0x82},
		{"subscribe options reserved 3.1.1", V311, raw(0x82, b(0, 1), s("a"), b(0x04)), 0x81},
		{"subscribe options reserved 5", V5, raw(0x82, b(0, 1, 0), s("a"), b(0x40)), 0x81},
		{"subscribe QoS 3", V5, raw(0x82, b(0, 1, 0), s("a"), b(0x03)), 0x81},
		{"subscribe retain handling 3", V5, raw(0x82, b(0, 1, 0), s("a"), b(0x30)), 0x82},
		{"subscribe options missing", V311, raw(0x82, b(0, 1), s("a")), 0x81},
		{"subscribe two subscription ids", V5, raw(0x82, b(0, 1, 4, 0x0B, 1, 0x0B, 2), s("a"), b(0)), 0x82},
		{"subscribe shared no local", V5, raw(0x82, b(0, 1, 0), s("$share/g/a"), b(0x04)), 0x82},
		{"suback no reason code", V5, b(0x90, 0x03, 0x00, 0x01, 0x00), 0x82},
		{"suback bad reason 3.1.1", V311, b(0x90, 0x03, 0x00, 0x01, 0x03), 0x82},
		{"unsubscribe no filter", V5, raw(0xA2, b(0, 1, 0)), 0x82},
		{"unsuback reason codes 3.1.1", V311, b(0xB0, 0x03, 0x00, 0x01, 0x00), 0x81},
		{"unsuback no reason code 5", V5, b(0xB0, 0x03, 0x00, 0x01, 0x00), 0x82},
		{"disconnect reason not allowed", V5, b(0xE0, 0x01, 0x01), 0x82},
		{"disconnect session expiry twice", V5, b(0xE0, 0x0C, 0x00, 0x0A, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1), 0x82},
		{"auth reason not allowed", V5, b(0xF0, 0x01, 0x80), 0x82},
		{"auth property not allowed", V5, b(0xF0, 0x04, 0x18, 0x02, 0x01, 0x00), 0x81},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, read := range []bool{false, true} {
				var err error
				if read {
					_, err = ReadPacket(bufio.NewReader(bytes.NewReader(c.enc)), c.v, Limits{})
				} else {
					_, _, err = Decode(c.enc, c.v, Limits{})
				}
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("% x: err %v, want reason 0x%02X", c.enc, err, byte(c.want))
				}
				if pe.Reason != c.want {
					t.Fatalf("% x: %v, want reason 0x%02X", c.enc, err, byte(c.want))
				}
				if pe.Packet == 0 && c.enc[0]>>4 != 0 {
					t.Fatalf("error without packet type: %v", err)
				}
			}
		})
	}
}

// A topic filter that is a well-formed string but breaks the topic filter
// rules (MQTT 5.0 sections 4.7.1, 4.8.2) is not a malformed packet: the
// SUBSCRIBE or UNSUBSCRIBE decodes, and the server fails that filter alone
// in its SUBACK (0x8F; 0x80 in 3.1.1) or UNSUBACK (MQTT 5.0 section 3.8.4:
// the packet is handled as a sequence of one-filter packets).
func TestInvalidFilterDecodes(t *testing.T) {
	for _, c := range []struct {
		name string
		v    Version
		enc  []byte
	}{
		{"subscribe empty filter", V311, raw(0x82, b(0, 1), s(""), b(0))},
		{"subscribe bad # ", V311, raw(0x82, b(0, 1), s("a#"), b(0))},
		{"subscribe # not last", V5, raw(0x82, b(0, 1, 0), s("#/a"), b(0))},
		{"subscribe bad +", V311, raw(0x82, b(0, 1), s("a+/b"), b(0))},
		{"subscribe shared without filter", V5, raw(0x82, b(0, 1, 0), s("$share/g"), b(0))},
		{"subscribe shared empty group", V5, raw(0x82, b(0, 1, 0), s("$share//a"), b(0))},
		{"subscribe shared wildcard group", V5, raw(0x82, b(0, 1, 0), s("$share/g+/a"), b(0))},
		{"unsubscribe empty filter", V311, raw(0xA2, b(0, 1), s(""))},
	} {
		p, _, err := Decode(c.enc, c.v, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var filter string
		switch p := p.(type) {
		case *Subscribe:
			filter = p.Subscriptions[0].Filter
		case *Unsubscribe:
			filter = p.Filters[0]
		}
		if err := ValidateTopicFilter(filter); !errors.Is(err, ErrTopicFilterInvalid) {
			t.Fatalf("%s: ValidateTopicFilter(%q) = %v", c.name, filter, err)
		}
		// It encodes back to the same bytes (a raw test client can send it).
		if enc, err := Encode(p, c.v); err != nil || !bytes.Equal(enc, c.enc) {
			t.Fatalf("%s: re-encoded % x, %v; want % x", c.name, enc, err, c.enc)
		}
	}
}

func TestErrorDetails(t *testing.T) {
	// A CONNECT error carries the level it was read with, so the server
	// can answer with a CONNACK of that level.
	_, _, err := Decode(raw(0x10, b(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x01, 0, 0), b(0)), 0, Limits{})
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Version != V5 || pe.Packet != TypeConnect || !errors.Is(err, ErrMalformed) {
		t.Fatalf("%#v", err)
	}
	if r, ok := ReasonOf(err); !ok || r != ReasonMalformedPacket {
		t.Fatal(r, ok)
	}
	if errors.Is(err, ErrProtocol) {
		t.Fatal("malformed matched ErrProtocol")
	}
	if !strings.Contains(err.Error(), "CONNECT") || !strings.Contains(err.Error(), "0x81") {
		t.Fatal(err)
	}
}

func TestPacketTooLarge(t *testing.T) {
	p := &Publish{Topic: "t", Payload: make([]byte, 100)}
	enc, _ := Encode(p, V5)
	lim := Limits{MaxPacketSize: len(enc) - 1}
	if _, _, err := Decode(enc, V5, lim); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatal(err)
	}
	// Only the fixed header is needed to refuse it, and nothing of the
	// body is read.
	if _, _, err := Decode(enc[:2], V5, lim); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatal(err)
	}
	r := bytes.NewReader(enc)
	if _, err := ReadPacket(r, V5, lim); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatal(err)
	}
	if r.Len() != len(enc)-2 {
		t.Fatalf("ReadPacket read %d bytes of a refused packet", len(enc)-r.Len())
	}
	// A 256 MiB announcement is refused by default limits only when over the
	// protocol maximum; with a limit it is refused without allocating.
	huge := b(0x30, 0xFF, 0xFF, 0xFF, 0x7F)
	if _, err := ReadPacket(bytes.NewReader(huge), V5, Limits{MaxPacketSize: 1 << 20}); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatal(err)
	}
	if _, _, err := Decode(enc, V5, Limits{MaxPacketSize: len(enc)}); err != nil {
		t.Fatal(err)
	}
}

func TestIncompleteAndEOF(t *testing.T) {
	enc, _ := Encode(&Publish{Topic: "a/b", QoS: 1, PacketID: 5, Payload: []byte("xyz")}, V311)
	for i := 0; i < len(enc); i++ {
		if _, _, err := Decode(enc[:i], V311, Limits{}); err != io.ErrUnexpectedEOF {
			t.Fatalf("prefix %d: %v", i, err)
		}
		_, err := ReadPacket(bytes.NewReader(enc[:i]), V311, Limits{})
		want := io.ErrUnexpectedEOF
		if i == 0 {
			want = io.EOF
		}
		if err != want {
			t.Fatalf("ReadPacket prefix %d: %v", i, err)
		}
	}
	// Two packets back to back.
	two := append(append([]byte(nil), enc...), b(0xC0, 0x00)...)
	p, n, err := Decode(two, V311, Limits{})
	if err != nil || n != len(enc) || p.Type() != TypePublish {
		t.Fatal(p, n, err)
	}
	r := bufio.NewReader(bytes.NewReader(two))
	for _, want := range []Type{TypePublish, TypePingreq} {
		p, err := ReadPacket(r, V311, Limits{})
		if err != nil || p.Type() != want {
			t.Fatal(p, err)
		}
	}
	if _, err := ReadPacket(r, V311, Limits{}); err != io.EOF {
		t.Fatal(err)
	}
}

func TestEncodeRejects(t *testing.T) {
	long := strings.Repeat("x", 65536)
	for _, c := range []struct {
		name string
		p    Packet
		v    Version
		want ReasonCode
	}{
		{"QoS 3", &Publish{Topic: "a", QoS: 3, PacketID: 1}, V5, 0x81},
		{"packet id on QoS 0", &Publish{Topic: "a", PacketID: 1}, V5, 0x81},
		{"packet id 0", &Publish{Topic: "a", QoS: 1}, V5, 0x82},
		{"wildcard topic", &Publish{Topic: "a/+"}, V311, 0x90},
		{"topic too long", &Publish{Topic: long}, V311, 0x81},
		{"topic invalid utf-8", &Publish{Topic: "\xff"}, V311, 0x81},
		{"properties in 3.1.1", &Publish{Topic: "a", Props: Properties{TopicAlias: Some[uint16](1)}}, V311, 0x81},
		{"property not allowed", &Publish{Topic: "a", Props: Properties{ReceiveMaximum: Some[uint16](1)}}, V5, 0x81},
		{"user property nul", &Puback{PacketID: 1, Props: Properties{User: []UserProperty{{"a\x00", ""}}}}, V5, 0x81},
		{"correlation data too long", &Publish{Topic: "a", Props: Properties{CorrelationData: Some(make([]byte, 65536))}}, V5, 0x81},
		{"subscription id too large", &Publish{Topic: "a", Props: Properties{SubscriptionIdentifiers: []uint32{MaxSubscriptionID + 1}}}, V5, 0x81},
		{"reason code in 3.1.1", &Puback{PacketID: 1, ReasonCode: 0x80}, V311, 0x81},
		{"no local in 3.1.1", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", NoLocal: true}}}, V311, 0x81},
		{"auth in 3.1.1", &Auth{}, V311, 0x81},
		{"session present in 3.1", &Connack{SessionPresent: true}, V31, 0x81},
		{"connect level 2", &Connect{Level: 2}, V5, 0x84},
		{"unknown level", &Pingreq{}, 7, 0x84},
		{"too large", &Publish{Topic: "a", Payload: make([]byte, MaxRemainingLength)}, V311, 0x95},
	} {
		_, err := Encode(c.p, c.v)
		if r, ok := ReasonOf(err); !ok || r != c.want {
			t.Errorf("%s: %v, want 0x%02X", c.name, err, byte(c.want))
		}
		if _, err := Size(c.p, c.v); err == nil {
			t.Errorf("%s: Size accepted", c.name)
		}
	}
}

func TestPropertyTable(t *testing.T) {
	// Spot checks of MQTT 5.0 table 2-4 through the exported helpers.
	for _, c := range []struct {
		id byte
		t  Type
		ok bool
	}{
		{PropTopicAlias, TypePublish, true}, {PropTopicAlias, TypeConnect, false},
		{PropWillDelayInterval, 0, true}, {PropWillDelayInterval, TypeConnect, false},
		{PropUserProperty, TypeAuth, true}, {PropUserProperty, TypePingreq, false},
		{PropReasonString, TypePublish, false}, {PropReasonString, TypeSuback, true},
		{PropSubscriptionIdentifier, TypeSubscribe, true}, {PropSubscriptionIdentifier, TypeUnsubscribe, false},
		{PropServerReference, TypeDisconnect, true}, {PropSessionExpiryInterval, TypeDisconnect, true},
		{0x05, TypePublish, false}, {0x7F, TypePublish, false},
	} {
		if got := PropertyAllowed(c.id, c.t); got != c.ok {
			t.Errorf("PropertyAllowed(%s, %s) = %v", PropertyName(c.id), c.t, got)
		}
	}
}

func TestV3ConnackCode(t *testing.T) {
	for r, want := range map[ReasonCode]ReasonCode{0: 0, 0x84: 1, 0x85: 2, 0x88: 3, 0x89: 3, 0x86: 4, 0x87: 5, 0x8A: 5} {
		if got := V3ConnackCode(r); got != want {
			t.Errorf("%s -> %d, want %d", r, got, want)
		}
	}
}

func TestMQTT31Leniency(t *testing.T) {
	// MQTT 3.1 clients may set DUP on PUBREL, SUBSCRIBE and UNSUBSCRIBE
	// retries.
	p, _, err := Decode(b(0x6A, 0x02, 0x00, 0x01), V31, Limits{})
	if err != nil || !reflect.DeepEqual(p, &Pubrel{PacketID: 1}) {
		t.Fatal(p, err)
	}
}
