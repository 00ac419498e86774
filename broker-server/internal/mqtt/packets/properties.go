package packets

import "fmt"

// Property identifiers (MQTT 5.0 section 2.2.2.2).
const (
	PropPayloadFormatIndicator          byte = 0x01
	PropMessageExpiryInterval           byte = 0x02
	PropContentType                     byte = 0x03
	PropResponseTopic                   byte = 0x08
	PropCorrelationData                 byte = 0x09
	PropSubscriptionIdentifier          byte = 0x0B
	PropSessionExpiryInterval           byte = 0x11
	PropAssignedClientIdentifier        byte = 0x12
	PropServerKeepAlive                 byte = 0x13
	PropAuthenticationMethod            byte = 0x15
	PropAuthenticationData              byte = 0x16
	PropRequestProblemInformation       byte = 0x17
	PropWillDelayInterval               byte = 0x18
	PropRequestResponseInformation      byte = 0x19
	PropResponseInformation             byte = 0x1A
	PropServerReference                 byte = 0x1C
	PropReasonString                    byte = 0x1F
	PropReceiveMaximum                  byte = 0x21
	PropTopicAliasMaximum               byte = 0x22
	PropTopicAlias                      byte = 0x23
	PropMaximumQoS                      byte = 0x24
	PropRetainAvailable                 byte = 0x25
	PropUserProperty                    byte = 0x26
	PropMaximumPacketSize               byte = 0x27
	PropWildcardSubscriptionAvailable   byte = 0x28
	PropSubscriptionIdentifierAvailable byte = 0x29
	PropSharedSubscriptionAvailable     byte = 0x2A
)

// UserProperty is one name/value string pair. Names may repeat; order is
// kept.
type UserProperty struct {
	Key   string
	Value string
}

// Properties are the MQTT 5 properties of a packet (or of a will). Only the
// ones allowed in the packet may be set; see the table in propTable.
type Properties struct {
	PayloadFormatIndicator Option[byte]   // 0x01 PUBLISH, will: 0 bytes, 1 UTF-8
	MessageExpiryInterval  Option[uint32] // 0x02 PUBLISH, will: seconds
	ContentType            Option[string] // 0x03 PUBLISH, will
	ResponseTopic          Option[string] // 0x08 PUBLISH, will
	CorrelationData        Option[[]byte] // 0x09 PUBLISH, will
	// SubscriptionIdentifiers (0x0B): several on PUBLISH (server to
	// client), at most one on SUBSCRIBE; 1..MaxSubscriptionID.
	SubscriptionIdentifiers         []uint32
	SessionExpiryInterval           Option[uint32] // 0x11 CONNECT, CONNACK, DISCONNECT
	AssignedClientIdentifier        Option[string] // 0x12 CONNACK
	ServerKeepAlive                 Option[uint16] // 0x13 CONNACK
	AuthenticationMethod            Option[string] // 0x15 CONNECT, CONNACK, AUTH
	AuthenticationData              Option[[]byte] // 0x16 CONNECT, CONNACK, AUTH
	RequestProblemInformation       Option[byte]   // 0x17 CONNECT: 0 or 1
	WillDelayInterval               Option[uint32] // 0x18 will
	RequestResponseInformation      Option[byte]   // 0x19 CONNECT: 0 or 1
	ResponseInformation             Option[string] // 0x1A CONNACK
	ServerReference                 Option[string] // 0x1C CONNACK, DISCONNECT
	ReasonString                    Option[string] // 0x1F acks, DISCONNECT, AUTH
	ReceiveMaximum                  Option[uint16] // 0x21 CONNECT, CONNACK: not 0
	TopicAliasMaximum               Option[uint16] // 0x22 CONNECT, CONNACK
	TopicAlias                      Option[uint16] // 0x23 PUBLISH: not 0
	MaximumQoS                      Option[byte]   // 0x24 CONNACK: 0 or 1
	RetainAvailable                 Option[byte]   // 0x25 CONNACK: 0 or 1
	User                            []UserProperty // 0x26 every packet with properties, will
	MaximumPacketSize               Option[uint32] // 0x27 CONNECT, CONNACK: not 0
	WildcardSubscriptionAvailable   Option[byte]   // 0x28 CONNACK: 0 or 1
	SubscriptionIdentifierAvailable Option[byte]   // 0x29 CONNACK: 0 or 1
	SharedSubscriptionAvailable     Option[byte]   // 0x2A CONNACK: 0 or 1
}

// propCtx is where a property list sits: a packet type, or ctxWill for the
// will properties of CONNECT (type 0 is reserved, so its bit is free).
type propCtx = Type

const ctxWill propCtx = 0

type propKind byte

const (
	kByte propKind = iota + 1
	kU16
	kU32
	kVBI
	kString
	kBinary
	kPair
)

type propInfo struct {
	name    string
	kind    propKind
	allowed uint16 // bit t for packet type t, bit 0 for will properties
}

func in(ts ...Type) uint16 {
	var m uint16
	for _, t := range ts {
		m |= 1 << t
	}
	return m
}

// propTable is MQTT 5.0 table 2-4 (section 2.2.2.2).
var propTable = [0x2B]propInfo{
	PropPayloadFormatIndicator:          {"Payload Format Indicator", kByte, in(TypePublish, ctxWill)},
	PropMessageExpiryInterval:           {"Message Expiry Interval", kU32, in(TypePublish, ctxWill)},
	PropContentType:                     {"Content Type", kString, in(TypePublish, ctxWill)},
	PropResponseTopic:                   {"Response Topic", kString, in(TypePublish, ctxWill)},
	PropCorrelationData:                 {"Correlation Data", kBinary, in(TypePublish, ctxWill)},
	PropSubscriptionIdentifier:          {"Subscription Identifier", kVBI, in(TypePublish, TypeSubscribe)},
	PropSessionExpiryInterval:           {"Session Expiry Interval", kU32, in(TypeConnect, TypeConnack, TypeDisconnect)},
	PropAssignedClientIdentifier:        {"Assigned Client Identifier", kString, in(TypeConnack)},
	PropServerKeepAlive:                 {"Server Keep Alive", kU16, in(TypeConnack)},
	PropAuthenticationMethod:            {"Authentication Method", kString, in(TypeConnect, TypeConnack, TypeAuth)},
	PropAuthenticationData:              {"Authentication Data", kBinary, in(TypeConnect, TypeConnack, TypeAuth)},
	PropRequestProblemInformation:       {"Request Problem Information", kByte, in(TypeConnect)},
	PropWillDelayInterval:               {"Will Delay Interval", kU32, in(ctxWill)},
	PropRequestResponseInformation:      {"Request Response Information", kByte, in(TypeConnect)},
	PropResponseInformation:             {"Response Information", kString, in(TypeConnack)},
	PropServerReference:                 {"Server Reference", kString, in(TypeConnack, TypeDisconnect)},
	PropReasonString:                    {"Reason String", kString, in(TypeConnack, TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeSuback, TypeUnsuback, TypeDisconnect, TypeAuth)},
	PropReceiveMaximum:                  {"Receive Maximum", kU16, in(TypeConnect, TypeConnack)},
	PropTopicAliasMaximum:               {"Topic Alias Maximum", kU16, in(TypeConnect, TypeConnack)},
	PropTopicAlias:                      {"Topic Alias", kU16, in(TypePublish)},
	PropMaximumQoS:                      {"Maximum QoS", kByte, in(TypeConnack)},
	PropRetainAvailable:                 {"Retain Available", kByte, in(TypeConnack)},
	PropUserProperty:                    {"User Property", kPair, in(ctxWill, TypeConnect, TypeConnack, TypePublish, TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeSubscribe, TypeSuback, TypeUnsubscribe, TypeUnsuback, TypeDisconnect, TypeAuth)},
	PropMaximumPacketSize:               {"Maximum Packet Size", kU32, in(TypeConnect, TypeConnack)},
	PropWildcardSubscriptionAvailable:   {"Wildcard Subscription Available", kByte, in(TypeConnack)},
	PropSubscriptionIdentifierAvailable: {"Subscription Identifier Available", kByte, in(TypeConnack)},
	PropSharedSubscriptionAvailable:     {"Shared Subscription Available", kByte, in(TypeConnack)},
}

// PropertyName returns the specification's name of a property identifier.
func PropertyName(id byte) string {
	if int(id) < len(propTable) && propTable[id].kind != 0 {
		return propTable[id].name
	}
	return fmt.Sprintf("property 0x%02X", id)
}

// PropertyAllowed reports whether property id may appear in packets of type
// t (t == 0: in CONNECT's will properties).
func PropertyAllowed(id byte, t Type) bool {
	return int(id) < len(propTable) && propTable[id].allowed&(1<<t) != 0
}

func ctxName(ctx propCtx) string {
	if ctx == ctxWill {
		return "will properties"
	}
	return ctx.String()
}

func setOpt[T any](o *Option[T], v T, id byte) error {
	if o.Set {
		return protocolErr("%s included more than once", propTable[id].name)
	}
	o.Val, o.Set = v, true
	return nil
}

// decodeProps reads a property length and the properties that follow into
// p. Unknown identifiers and identifiers not allowed in ctx are malformed;
// repeated ones (but user properties and subscription identifiers) are a
// protocol error. Values are checked by p.check afterwards.
func decodeProps(c *cursor, p *Properties, ctx propCtx) error {
	n, err := c.vbi()
	if err != nil {
		return err
	}
	if int(n) > c.left() {
		return malformed("property length %d exceeds the packet", n)
	}
	sub := cursor{b: c.b[:c.i+int(n)], i: c.i}
	c.i += int(n)
	for sub.left() > 0 {
		idv, err := sub.vbi()
		if err != nil {
			return err
		}
		if idv >= uint32(len(propTable)) || propTable[idv].kind == 0 {
			return malformed("unknown property identifier 0x%02X", idv)
		}
		id := byte(idv)
		info := &propTable[id]
		if info.allowed&(1<<ctx) == 0 {
			return malformed("%s not allowed in %s", info.name, ctxName(ctx))
		}
		var (
			b   byte
			u16 uint16
			u32 uint32
			s   string
			bin []byte
			key string
		)
		switch info.kind {
		case kByte:
			b, err = sub.u8()
		case kU16:
			u16, err = sub.u16()
		case kU32:
			u32, err = sub.u32()
		case kVBI:
			u32, err = sub.vbi()
		case kString:
			s, err = sub.str()
		case kBinary:
			bin, err = sub.bin()
		case kPair:
			if key, err = sub.str(); err == nil {
				s, err = sub.str()
			}
		}
		if err != nil {
			return err
		}
		switch id {
		case PropPayloadFormatIndicator:
			err = setOpt(&p.PayloadFormatIndicator, b, id)
		case PropMessageExpiryInterval:
			err = setOpt(&p.MessageExpiryInterval, u32, id)
		case PropContentType:
			err = setOpt(&p.ContentType, s, id)
		case PropResponseTopic:
			err = setOpt(&p.ResponseTopic, s, id)
		case PropCorrelationData:
			err = setOpt(&p.CorrelationData, bin, id)
		case PropSubscriptionIdentifier:
			p.SubscriptionIdentifiers = append(p.SubscriptionIdentifiers, u32)
		case PropSessionExpiryInterval:
			err = setOpt(&p.SessionExpiryInterval, u32, id)
		case PropAssignedClientIdentifier:
			err = setOpt(&p.AssignedClientIdentifier, s, id)
		case PropServerKeepAlive:
			err = setOpt(&p.ServerKeepAlive, u16, id)
		case PropAuthenticationMethod:
			err = setOpt(&p.AuthenticationMethod, s, id)
		case PropAuthenticationData:
			err = setOpt(&p.AuthenticationData, bin, id)
		case PropRequestProblemInformation:
			err = setOpt(&p.RequestProblemInformation, b, id)
		case PropWillDelayInterval:
			err = setOpt(&p.WillDelayInterval, u32, id)
		case PropRequestResponseInformation:
			err = setOpt(&p.RequestResponseInformation, b, id)
		case PropResponseInformation:
			err = setOpt(&p.ResponseInformation, s, id)
		case PropServerReference:
			err = setOpt(&p.ServerReference, s, id)
		case PropReasonString:
			err = setOpt(&p.ReasonString, s, id)
		case PropReceiveMaximum:
			err = setOpt(&p.ReceiveMaximum, u16, id)
		case PropTopicAliasMaximum:
			err = setOpt(&p.TopicAliasMaximum, u16, id)
		case PropTopicAlias:
			err = setOpt(&p.TopicAlias, u16, id)
		case PropMaximumQoS:
			err = setOpt(&p.MaximumQoS, b, id)
		case PropRetainAvailable:
			err = setOpt(&p.RetainAvailable, b, id)
		case PropUserProperty:
			p.User = append(p.User, UserProperty{Key: key, Value: s})
		case PropMaximumPacketSize:
			err = setOpt(&p.MaximumPacketSize, u32, id)
		case PropWildcardSubscriptionAvailable:
			err = setOpt(&p.WildcardSubscriptionAvailable, b, id)
		case PropSubscriptionIdentifierAvailable:
			err = setOpt(&p.SubscriptionIdentifierAvailable, b, id)
		case PropSharedSubscriptionAvailable:
			err = setOpt(&p.SharedSubscriptionAvailable, b, id)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// present returns a bit per property identifier that is set.
func (p *Properties) present() uint64 {
	var m uint64
	set := func(ok bool, id byte) {
		if ok {
			m |= 1 << id
		}
	}
	if p == nil {
		return 0
	}
	set(p.PayloadFormatIndicator.Set, PropPayloadFormatIndicator)
	set(p.MessageExpiryInterval.Set, PropMessageExpiryInterval)
	set(p.ContentType.Set, PropContentType)
	set(p.ResponseTopic.Set, PropResponseTopic)
	set(p.CorrelationData.Set, PropCorrelationData)
	set(len(p.SubscriptionIdentifiers) > 0, PropSubscriptionIdentifier)
	set(p.SessionExpiryInterval.Set, PropSessionExpiryInterval)
	set(p.AssignedClientIdentifier.Set, PropAssignedClientIdentifier)
	set(p.ServerKeepAlive.Set, PropServerKeepAlive)
	set(p.AuthenticationMethod.Set, PropAuthenticationMethod)
	set(p.AuthenticationData.Set, PropAuthenticationData)
	set(p.RequestProblemInformation.Set, PropRequestProblemInformation)
	set(p.WillDelayInterval.Set, PropWillDelayInterval)
	set(p.RequestResponseInformation.Set, PropRequestResponseInformation)
	set(p.ResponseInformation.Set, PropResponseInformation)
	set(p.ServerReference.Set, PropServerReference)
	set(p.ReasonString.Set, PropReasonString)
	set(p.ReceiveMaximum.Set, PropReceiveMaximum)
	set(p.TopicAliasMaximum.Set, PropTopicAliasMaximum)
	set(p.TopicAlias.Set, PropTopicAlias)
	set(p.MaximumQoS.Set, PropMaximumQoS)
	set(p.RetainAvailable.Set, PropRetainAvailable)
	set(len(p.User) > 0, PropUserProperty)
	set(p.MaximumPacketSize.Set, PropMaximumPacketSize)
	set(p.WildcardSubscriptionAvailable.Set, PropWildcardSubscriptionAvailable)
	set(p.SubscriptionIdentifierAvailable.Set, PropSubscriptionIdentifierAvailable)
	set(p.SharedSubscriptionAvailable.Set, PropSharedSubscriptionAvailable)
	return m
}

// IsEmpty reports whether no property is set.
func (p *Properties) IsEmpty() bool { return p.present() == 0 }

var allowedMask [16]uint64 // per propCtx: bit id for each allowed property

func init() {
	for id, info := range propTable {
		for t := 0; t < 16; t++ {
			if info.allowed&(1<<t) != 0 {
				allowedMask[t] |= 1 << id
			}
		}
	}
}

// check validates the property values for ctx (MQTT 5.0 section 3.x.2.2).
// enc adds the checks that decoding has already made (well-formed strings,
// lengths that fit), for encoding.
func (p *Properties) check(ctx propCtx, enc bool) error {
	m := p.present()
	if m == 0 {
		return nil
	}
	if bad := m &^ allowedMask[ctx]; bad != 0 {
		for id := 0; id < 64; id++ {
			if bad&(1<<id) != 0 {
				return malformed("%s not allowed in %s", propTable[id].name, ctxName(ctx))
			}
		}
	}
	if m&zeroOneProps != 0 {
		for _, z := range [...]struct {
			o  *Option[byte]
			id byte
		}{
			{&p.PayloadFormatIndicator, PropPayloadFormatIndicator},
			{&p.RequestProblemInformation, PropRequestProblemInformation},
			{&p.RequestResponseInformation, PropRequestResponseInformation},
			{&p.MaximumQoS, PropMaximumQoS},
			{&p.RetainAvailable, PropRetainAvailable},
			{&p.WildcardSubscriptionAvailable, PropWildcardSubscriptionAvailable},
			{&p.SubscriptionIdentifierAvailable, PropSubscriptionIdentifierAvailable},
			{&p.SharedSubscriptionAvailable, PropSharedSubscriptionAvailable},
		} {
			if z.o.Set && z.o.Val > 1 {
				return protocolErr("%s is %d, not 0 or 1", propTable[z.id].name, z.o.Val)
			}
		}
	}
	if p.ReceiveMaximum.Set && p.ReceiveMaximum.Val == 0 {
		return protocolErr("Receive Maximum is 0")
	}
	if p.MaximumPacketSize.Set && p.MaximumPacketSize.Val == 0 {
		return protocolErr("Maximum Packet Size is 0")
	}
	if p.TopicAlias.Set && p.TopicAlias.Val == 0 {
		return reasonErr(ReasonTopicAliasInvalid, "Topic Alias is 0")
	}
	if ctx != TypePublish && len(p.SubscriptionIdentifiers) > 1 {
		return protocolErr("Subscription Identifier included more than once")
	}
	for _, id := range p.SubscriptionIdentifiers {
		if id == 0 {
			return protocolErr("Subscription Identifier is 0")
		}
		if id > MaxSubscriptionID {
			return malformed("Subscription Identifier %d over %d", id, MaxSubscriptionID)
		}
	}
	if !enc {
		return nil
	}
	if m&stringProps != 0 {
		for _, x := range [...]struct {
			o  *Option[string]
			id byte
		}{
			{&p.ContentType, PropContentType}, {&p.ResponseTopic, PropResponseTopic},
			{&p.AssignedClientIdentifier, PropAssignedClientIdentifier},
			{&p.AuthenticationMethod, PropAuthenticationMethod}, {&p.ResponseInformation, PropResponseInformation},
			{&p.ServerReference, PropServerReference}, {&p.ReasonString, PropReasonString},
		} {
			if x.o.Set {
				if err := checkString(x.o.Val, propTable[x.id].name); err != nil {
					return err
				}
			}
		}
	}
	if err := checkBinary(p.CorrelationData.Val, "Correlation Data"); err != nil {
		return err
	}
	if err := checkBinary(p.AuthenticationData.Val, "Authentication Data"); err != nil {
		return err
	}
	for _, u := range p.User {
		if err := checkString(u.Key, "User Property name"); err != nil {
			return err
		}
		if err := checkString(u.Value, "User Property value"); err != nil {
			return err
		}
	}
	return nil
}

// Masks of the properties check looks at more closely.
const (
	zeroOneProps = 1<<PropPayloadFormatIndicator | 1<<PropRequestProblemInformation |
		1<<PropRequestResponseInformation | 1<<PropMaximumQoS | 1<<PropRetainAvailable |
		1<<PropWildcardSubscriptionAvailable | 1<<PropSubscriptionIdentifierAvailable |
		1<<PropSharedSubscriptionAvailable
	stringProps = 1<<PropContentType | 1<<PropResponseTopic | 1<<PropAssignedClientIdentifier |
		1<<PropAuthenticationMethod | 1<<PropResponseInformation | 1<<PropServerReference |
		1<<PropReasonString
)

// encode writes the property length and the properties, in identifier
// order; user properties and subscription identifiers keep their order.
func (p *Properties) encode(w *wbuf) {
	if w.sizing {
		n := p.size()
		w.n += vbiLen(uint32(n)) + n
		return
	}
	w.vbi(uint32(p.size()))
	p.encodeList(w)
}

func (p *Properties) size() int {
	s := wbuf{sizing: true}
	p.encodeList(&s)
	return s.n
}

func (p *Properties) encodeList(w *wbuf) {
	u8 := func(o Option[byte], id byte) {
		if o.Set {
			w.u8(id)
			w.u8(o.Val)
		}
	}
	u16 := func(o Option[uint16], id byte) {
		if o.Set {
			w.u8(id)
			w.u16(o.Val)
		}
	}
	u32 := func(o Option[uint32], id byte) {
		if o.Set {
			w.u8(id)
			w.u32(o.Val)
		}
	}
	str := func(o Option[string], id byte) {
		if o.Set {
			w.u8(id)
			w.str(o.Val)
		}
	}
	bin := func(o Option[[]byte], id byte) {
		if o.Set {
			w.u8(id)
			w.bin(o.Val)
		}
	}
	u8(p.PayloadFormatIndicator, PropPayloadFormatIndicator)
	u32(p.MessageExpiryInterval, PropMessageExpiryInterval)
	str(p.ContentType, PropContentType)
	str(p.ResponseTopic, PropResponseTopic)
	bin(p.CorrelationData, PropCorrelationData)
	for _, id := range p.SubscriptionIdentifiers {
		w.u8(PropSubscriptionIdentifier)
		w.vbi(id)
	}
	u32(p.SessionExpiryInterval, PropSessionExpiryInterval)
	str(p.AssignedClientIdentifier, PropAssignedClientIdentifier)
	u16(p.ServerKeepAlive, PropServerKeepAlive)
	str(p.AuthenticationMethod, PropAuthenticationMethod)
	bin(p.AuthenticationData, PropAuthenticationData)
	u8(p.RequestProblemInformation, PropRequestProblemInformation)
	u32(p.WillDelayInterval, PropWillDelayInterval)
	u8(p.RequestResponseInformation, PropRequestResponseInformation)
	str(p.ResponseInformation, PropResponseInformation)
	str(p.ServerReference, PropServerReference)
	str(p.ReasonString, PropReasonString)
	u16(p.ReceiveMaximum, PropReceiveMaximum)
	u16(p.TopicAliasMaximum, PropTopicAliasMaximum)
	u16(p.TopicAlias, PropTopicAlias)
	u8(p.MaximumQoS, PropMaximumQoS)
	u8(p.RetainAvailable, PropRetainAvailable)
	for _, u := range p.User {
		w.u8(PropUserProperty)
		w.str(u.Key)
		w.str(u.Value)
	}
	u32(p.MaximumPacketSize, PropMaximumPacketSize)
	u8(p.WildcardSubscriptionAvailable, PropWildcardSubscriptionAvailable)
	u8(p.SubscriptionIdentifierAvailable, PropSubscriptionIdentifierAvailable)
	u8(p.SharedSubscriptionAvailable, PropSharedSubscriptionAvailable)
}
