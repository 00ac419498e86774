package packets

import (
	"testing"

	"pgregory.net/rapid"
)

// Generators of valid packets for property tests. paho restricts them to
// what github.com/eclipse/paho.golang can express (it drops empty strings
// and binary properties, keeps one subscription identifier and packs only
// Will Delay Interval and user properties into will properties).

var runes = []rune("abcXYZ019 /-_$é中😀\u00a0")

func genStr(t *rapid.T, label string, nonEmpty bool) string {
	min := 0
	if nonEmpty {
		min = 1
	}
	return rapid.StringOfN(rapid.SampledFrom(runes), min, 10, -1).Draw(t, label)
}

func genBin(t *rapid.T, label string, nonEmpty bool) []byte {
	min := 0
	if nonEmpty {
		min = 1
	}
	b := rapid.SliceOfN(rapid.Byte(), min, 12).Draw(t, label)
	if len(b) == 0 {
		return nil
	}
	return b
}

func genTopic(t *rapid.T, label string) string {
	return rapid.StringMatching(`[a-z0-9$é ]{1,4}(/[a-z0-9é]{0,3}){0,3}`).Draw(t, label)
}

func genFilter(t *rapid.T, label string, allowShare bool) string {
	n := rapid.IntRange(1, 4).Draw(t, label+"-levels")
	levels := make([]string, 0, n+1)
	for i := 0; i < n; i++ {
		levels = append(levels, rapid.SampledFrom([]string{"+", "a", "b", "", "$x", "é", "sport"}).Draw(t, label+"-level"))
	}
	if rapid.Bool().Draw(t, label+"-hash") {
		levels = append(levels, "#")
	}
	f := levels[0]
	for _, l := range levels[1:] {
		f += "/" + l
	}
	if f == "" {
		f = "a"
	}
	if allowShare && rapid.IntRange(0, 4).Draw(t, label+"-share") == 0 {
		f = "$share/" + rapid.StringMatching(`[a-z0-9]{1,4}`).Draw(t, label+"-group") + "/" + f
	}
	return f
}

func maybe(t *rapid.T, label string) bool { return rapid.IntRange(0, 2).Draw(t, label) == 0 }

func genProps(t *rapid.T, ctx propCtx, paho bool) Properties {
	var p Properties
	ok := func(id byte) bool {
		if !PropertyAllowed(id, ctx) {
			return false
		}
		if paho && ctx == ctxWill && id != PropWillDelayInterval && id != PropUserProperty {
			return false
		}
		return maybe(t, PropertyName(id))
	}
	zeroOne := func(id byte) Option[byte] {
		if ok(id) {
			return Some(byte(rapid.IntRange(0, 1).Draw(t, "b")))
		}
		return Option[byte]{}
	}
	u16 := func(id byte, min int) Option[uint16] {
		if ok(id) {
			return Some(uint16(rapid.IntRange(min, 65535).Draw(t, "u16")))
		}
		return Option[uint16]{}
	}
	u32 := func(id byte, min uint32) Option[uint32] {
		if ok(id) {
			return Some(rapid.Uint32Range(min, 0xFFFFFFFF).Draw(t, "u32"))
		}
		return Option[uint32]{}
	}
	str := func(id byte) Option[string] {
		if ok(id) {
			return Some(genStr(t, "s", paho))
		}
		return Option[string]{}
	}
	bin := func(id byte) Option[[]byte] {
		if ok(id) {
			return Some(genBin(t, "bin", paho))
		}
		return Option[[]byte]{}
	}
	p.PayloadFormatIndicator = zeroOne(PropPayloadFormatIndicator)
	p.MessageExpiryInterval = u32(PropMessageExpiryInterval, 0)
	p.ContentType = str(PropContentType)
	if ok(PropResponseTopic) {
		p.ResponseTopic = Some(genTopic(t, "response-topic"))
	}
	p.CorrelationData = bin(PropCorrelationData)
	if ok(PropSubscriptionIdentifier) {
		max := 1
		if ctx == TypePublish && !paho {
			max = 3
		}
		p.SubscriptionIdentifiers = rapid.SliceOfN(rapid.Uint32Range(1, MaxSubscriptionID), 1, max).Draw(t, "subids")
	}
	p.SessionExpiryInterval = u32(PropSessionExpiryInterval, 0)
	p.AssignedClientIdentifier = str(PropAssignedClientIdentifier)
	p.ServerKeepAlive = u16(PropServerKeepAlive, 0)
	p.AuthenticationMethod = str(PropAuthenticationMethod)
	p.AuthenticationData = bin(PropAuthenticationData)
	p.RequestProblemInformation = zeroOne(PropRequestProblemInformation)
	p.WillDelayInterval = u32(PropWillDelayInterval, 0)
	p.RequestResponseInformation = zeroOne(PropRequestResponseInformation)
	p.ResponseInformation = str(PropResponseInformation)
	p.ServerReference = str(PropServerReference)
	p.ReasonString = str(PropReasonString)
	p.ReceiveMaximum = u16(PropReceiveMaximum, 1)
	p.TopicAliasMaximum = u16(PropTopicAliasMaximum, 0)
	p.TopicAlias = u16(PropTopicAlias, 1)
	p.MaximumQoS = zeroOne(PropMaximumQoS)
	p.RetainAvailable = zeroOne(PropRetainAvailable)
	if ok(PropUserProperty) {
		n := rapid.IntRange(1, 3).Draw(t, "users")
		for i := 0; i < n; i++ {
			p.User = append(p.User, UserProperty{genStr(t, "uk", false), genStr(t, "uv", false)})
		}
	}
	p.MaximumPacketSize = u32(PropMaximumPacketSize, 1)
	p.WildcardSubscriptionAvailable = zeroOne(PropWildcardSubscriptionAvailable)
	p.SubscriptionIdentifierAvailable = zeroOne(PropSubscriptionIdentifierAvailable)
	p.SharedSubscriptionAvailable = zeroOne(PropSharedSubscriptionAvailable)
	return p
}

func pick(t *rapid.T, label string, set *reasonSet) ReasonCode {
	var codes []ReasonCode
	for c := 0; c < 256; c++ {
		if set.has(ReasonCode(c)) {
			codes = append(codes, ReasonCode(c))
		}
	}
	return rapid.SampledFrom(codes).Draw(t, label)
}

// genPacket draws a valid packet of any type for level v.
func genPacket(t *rapid.T, v Version, paho bool) Packet {
	v5 := v == V5
	props := func(ctx propCtx) Properties {
		if !v5 {
			return Properties{}
		}
		return genProps(t, ctx, paho)
	}
	id := func() uint16 { return uint16(rapid.IntRange(1, 65535).Draw(t, "packet-id")) }
	types := []Type{TypeConnect, TypeConnack, TypePublish, TypePuback, TypePubrec, TypePubrel, TypePubcomp,
		TypeSubscribe, TypeSuback, TypeUnsubscribe, TypeUnsuback, TypePingreq, TypePingresp, TypeDisconnect}
	if v5 {
		types = append(types, TypeAuth)
	}
	switch rapid.SampledFrom(types).Draw(t, "type") {
	case TypeConnect:
		p := &Connect{Level: v, CleanStart: rapid.Bool().Draw(t, "clean"),
			KeepAlive: rapid.Uint16().Draw(t, "keepalive"), Props: props(TypeConnect),
			ClientID: genStr(t, "client-id", false)}
		if rapid.Bool().Draw(t, "will") {
			p.Will = &Will{QoS: byte(rapid.IntRange(0, 2).Draw(t, "will-qos")), Retain: rapid.Bool().Draw(t, "will-retain"),
				Props: props(ctxWill), Topic: genTopic(t, "will-topic"), Payload: genBin(t, "will-payload", false)}
		}
		if rapid.Bool().Draw(t, "user") {
			p.Username = Some(genStr(t, "username", false))
		}
		if (p.Username.Set || v5) && rapid.Bool().Draw(t, "password") {
			p.Password = Some(genBin(t, "password", false))
		}
		return p
	case TypeConnack:
		p := &Connack{Props: props(TypeConnack)}
		if v5 {
			p.ReasonCode = pick(t, "reason", &connackReasons)
		} else {
			p.ReasonCode = ReasonCode(rapid.IntRange(0, 5).Draw(t, "return-code"))
		}
		p.SessionPresent = v != V31 && p.ReasonCode == 0 && rapid.Bool().Draw(t, "session-present")
		return p
	case TypePublish:
		p := &Publish{QoS: byte(rapid.IntRange(0, 2).Draw(t, "qos")), Retain: rapid.Bool().Draw(t, "retain"),
			Topic: genTopic(t, "topic"), Props: props(TypePublish), Payload: genBin(t, "payload", false)}
		if p.QoS > 0 {
			p.PacketID = id()
			p.Dup = rapid.Bool().Draw(t, "dup")
		}
		if p.Props.TopicAlias.Set && rapid.Bool().Draw(t, "alias-only") {
			p.Topic = ""
		}
		return p
	case TypePuback, TypePubrec, TypePubrel, TypePubcomp:
		a := ack{PacketID: id()}
		typ := rapid.SampledFrom([]Type{TypePuback, TypePubrec, TypePubrel, TypePubcomp}).Draw(t, "ack")
		set := &pubackReasons
		if typ == TypePubrel || typ == TypePubcomp {
			set = &pubrelReasons
		}
		if v5 {
			a.ReasonCode = pick(t, "reason", set)
			a.Props = props(typ)
		}
		switch typ {
		case TypePuback:
			return (*Puback)(&a)
		case TypePubrec:
			return (*Pubrec)(&a)
		case TypePubrel:
			return (*Pubrel)(&a)
		}
		return (*Pubcomp)(&a)
	case TypeSubscribe:
		p := &Subscribe{PacketID: id(), Props: props(TypeSubscribe)}
		n := rapid.IntRange(1, 4).Draw(t, "subs")
		for i := 0; i < n; i++ {
			s := Subscription{Filter: genFilter(t, "filter", true), QoS: byte(rapid.IntRange(0, 2).Draw(t, "sub-qos"))}
			if v5 {
				s.NoLocal = !IsShared(s.Filter) && rapid.Bool().Draw(t, "no-local")
				s.RetainAsPublished = rapid.Bool().Draw(t, "rap")
				s.RetainHandling = byte(rapid.IntRange(0, 2).Draw(t, "rh"))
			}
			p.Subscriptions = append(p.Subscriptions, s)
		}
		return p
	case TypeSuback:
		p := &Suback{PacketID: id(), Props: props(TypeSuback)}
		set := &subackReasons
		if !v5 {
			set = &subackV3
		}
		n := rapid.IntRange(1, 4).Draw(t, "codes")
		for i := 0; i < n; i++ {
			p.ReasonCodes = append(p.ReasonCodes, pick(t, "reason", set))
		}
		return p
	case TypeUnsubscribe:
		p := &Unsubscribe{PacketID: id(), Props: props(TypeUnsubscribe)}
		n := rapid.IntRange(1, 4).Draw(t, "filters")
		for i := 0; i < n; i++ {
			p.Filters = append(p.Filters, genFilter(t, "filter", true))
		}
		return p
	case TypeUnsuback:
		p := &Unsuback{PacketID: id()}
		if v5 {
			p.Props = props(TypeUnsuback)
			n := rapid.IntRange(1, 4).Draw(t, "codes")
			for i := 0; i < n; i++ {
				p.ReasonCodes = append(p.ReasonCodes, pick(t, "reason", &unsubackReason))
			}
		}
		return p
	case TypePingreq:
		return &Pingreq{}
	case TypePingresp:
		return &Pingresp{}
	case TypeDisconnect:
		p := &Disconnect{}
		if v5 {
			p.ReasonCode = pick(t, "reason", &disconnReasons)
			p.Props = props(TypeDisconnect)
		}
		return p
	default:
		return &Auth{ReasonCode: pick(t, "reason", &authReasons), Props: props(TypeAuth)}
	}
}

// TestRoundTripGenerated: decode(encode(p)) == p and re-encoding is
// byte-identical, for generated packets of every type and level.
func TestRoundTripGenerated(t *testing.T) {
	for _, v := range []Version{V31, V311, V5} {
		t.Run(v.String(), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				roundTrip(rt, genPacket(rt, v, false), v)
			})
		})
	}
}
