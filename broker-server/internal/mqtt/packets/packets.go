package packets

// Packet is one MQTT control packet: *Connect, *Connack, *Publish, *Puback,
// *Pubrec, *Pubrel, *Pubcomp, *Subscribe, *Suback, *Unsubscribe, *Unsuback,
// *Pingreq, *Pingresp, *Disconnect or *Auth. The set is closed.
type Packet interface {
	// Type is the control packet type.
	Type() Type
	// flags is the low nibble of the fixed header.
	flags(v Version) byte
	// check validates the packet for level v; enc adds the checks the
	// decoder makes while parsing (string encoding, lengths).
	check(v Version, enc bool) error
}

// encodeBody writes the variable header and payload of p. A type switch
// rather than an interface method, so w does not escape to the heap.
func encodeBody(p Packet, w *wbuf, v Version) {
	switch p := p.(type) {
	case *Connect:
		p.encodeBody(w, v)
	case *Connack:
		p.encodeBody(w, v)
	case *Publish:
		p.encodeBody(w, v)
	case *Puback:
		(*ack)(p).encodeBody(w, v)
	case *Pubrec:
		(*ack)(p).encodeBody(w, v)
	case *Pubrel:
		(*ack)(p).encodeBody(w, v)
	case *Pubcomp:
		(*ack)(p).encodeBody(w, v)
	case *Subscribe:
		p.encodeBody(w, v)
	case *Suback:
		p.encodeBody(w, v)
	case *Unsubscribe:
		p.encodeBody(w, v)
	case *Unsuback:
		p.encodeBody(w, v)
	case *Disconnect:
		p.encodeBody(w, v)
	case *Auth:
		p.encodeBody(w, v)
	}
}

// Will is the will message of a CONNECT.
type Will struct {
	QoS    byte
	Retain bool
	// Props are the will properties (MQTT 5).
	Props   Properties
	Topic   string
	Payload []byte
}

// Connect is CONNECT (MQTT 5.0 section 3.1). It carries its own protocol
// level; the level passed to the codec functions is ignored for it.
type Connect struct {
	// Level is the protocol level: V31 (name "MQIsdp"), V311 or V5
	// ("MQTT").
	Level Version
	// CleanStart is Clean Start (MQTT 5) or Clean Session (3.1, 3.1.1).
	CleanStart bool
	KeepAlive  uint16
	Props      Properties
	ClientID   string
	// Will is nil when the will flag is clear.
	Will     *Will
	Username Option[string]
	Password Option[[]byte]
}

// Connack is CONNACK (section 3.2). For levels 3 and 4 ReasonCode is the
// return code 0-5 (see V3ConnackCode) and Props must be empty; level 3 has no
// session present flag.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Props          Properties
}

// Publish is PUBLISH (section 3.3).
type Publish struct {
	Dup    bool
	QoS    byte
	Retain bool
	// Topic may be empty in MQTT 5 when Props.TopicAlias is set.
	Topic string
	// PacketID is present (and not 0) for QoS 1 and 2 only.
	PacketID uint16
	Props    Properties
	Payload  []byte
}

// Puback is PUBACK (section 3.4).
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode // MQTT 5
	Props      Properties // MQTT 5
}

// Pubrec is PUBREC (section 3.5).
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

// Pubrel is PUBREL (section 3.6); its fixed header flags are 0010.
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

// Pubcomp is PUBCOMP (section 3.7).
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options. The
// options after QoS are MQTT 5 only.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	// RetainHandling: 0 send retained messages on subscribe, 1 only if the
	// subscription is new, 2 never.
	RetainHandling byte
}

// Subscribe is SUBSCRIBE (section 3.8); flags 0010.
type Subscribe struct {
	PacketID      uint16
	Props         Properties
	Subscriptions []Subscription
}

// Suback is SUBACK (section 3.9): one reason code per subscription.
type Suback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is UNSUBSCRIBE (section 3.10); flags 0010.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties
	Filters  []string
}

// Unsuback is UNSUBACK (section 3.11). Levels 3 and 4 carry no reason codes.
type Unsuback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Pingreq is PINGREQ (section 3.12).
type Pingreq struct{}

// Pingresp is PINGRESP (section 3.13).
type Pingresp struct{}

// Disconnect is DISCONNECT (section 3.14). Levels 3 and 4 carry no body.
type Disconnect struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Auth is AUTH (section 3.15), MQTT 5 only.
type Auth struct {
	ReasonCode ReasonCode
	Props      Properties
}

func (*Connect) Type() Type     { return TypeConnect }
func (*Connack) Type() Type     { return TypeConnack }
func (*Publish) Type() Type     { return TypePublish }
func (*Puback) Type() Type      { return TypePuback }
func (*Pubrec) Type() Type      { return TypePubrec }
func (*Pubrel) Type() Type      { return TypePubrel }
func (*Pubcomp) Type() Type     { return TypePubcomp }
func (*Subscribe) Type() Type   { return TypeSubscribe }
func (*Suback) Type() Type      { return TypeSuback }
func (*Unsubscribe) Type() Type { return TypeUnsubscribe }
func (*Unsuback) Type() Type    { return TypeUnsuback }
func (*Pingreq) Type() Type     { return TypePingreq }
func (*Pingresp) Type() Type    { return TypePingresp }
func (*Disconnect) Type() Type  { return TypeDisconnect }
func (*Auth) Type() Type        { return TypeAuth }

func (*Connect) flags(Version) byte     { return 0 }
func (*Connack) flags(Version) byte     { return 0 }
func (*Puback) flags(Version) byte      { return 0 }
func (*Pubrec) flags(Version) byte      { return 0 }
func (*Pubrel) flags(Version) byte      { return 2 }
func (*Pubcomp) flags(Version) byte     { return 0 }
func (*Subscribe) flags(Version) byte   { return 2 }
func (*Suback) flags(Version) byte      { return 0 }
func (*Unsubscribe) flags(Version) byte { return 2 }
func (*Unsuback) flags(Version) byte    { return 0 }
func (*Pingreq) flags(Version) byte     { return 0 }
func (*Pingresp) flags(Version) byte    { return 0 }
func (*Disconnect) flags(Version) byte  { return 0 }
func (*Auth) flags(Version) byte        { return 0 }

func (p *Publish) flags(Version) byte {
	f := p.QoS << 1
	if p.Dup {
		f |= 8
	}
	if p.Retain {
		f |= 1
	}
	return f
}

// fixedFlags is the required low nibble per type; PUBLISH's is variable.
var fixedFlags = [16]byte{TypePubrel: 2, TypeSubscribe: 2, TypeUnsubscribe: 2}

func noProps(p *Properties, v Version) error {
	if v < V5 && !p.IsEmpty() {
		return malformed("properties need MQTT 5")
	}
	return nil
}

// ---- CONNECT

func (p *Connect) check(_ Version, enc bool) error {
	v := p.Level
	if !v.Valid() {
		return reasonErr(ReasonUnsupportedProtocolVersion, "protocol level %d", byte(v))
	}
	if err := noProps(&p.Props, v); err != nil {
		return err
	}
	if err := p.Props.check(TypeConnect, enc); err != nil {
		return err
	}
	if v < V5 && p.Password.Set && !p.Username.Set {
		return malformed("password flag without user name flag")
	}
	if w := p.Will; w != nil {
		if w.QoS > 2 {
			return malformed("will QoS 3")
		}
		if err := noProps(&w.Props, v); err != nil {
			return err
		}
		if err := w.Props.check(ctxWill, enc); err != nil {
			return err
		}
		if enc {
			if err := checkString(w.Topic, "will topic"); err != nil {
				return err
			}
			if err := checkBinary(w.Payload, "will payload"); err != nil {
				return err
			}
		}
		if err := ValidateTopicName(w.Topic); err != nil {
			return err
		}
	}
	if enc {
		if err := checkString(p.ClientID, "client identifier"); err != nil {
			return err
		}
		if p.Username.Set {
			if err := checkString(p.Username.Val, "user name"); err != nil {
				return err
			}
		}
		if err := checkBinary(p.Password.Val, "password"); err != nil {
			return err
		}
	}
	return nil
}

func (p *Connect) encodeBody(w *wbuf, _ Version) {
	v := p.Level
	w.str(v.protocolName())
	w.u8(byte(v))
	var f byte
	if p.CleanStart {
		f |= 0x02
	}
	if p.Will != nil {
		f |= 0x04 | p.Will.QoS<<3
		if p.Will.Retain {
			f |= 0x20
		}
	}
	if p.Password.Set {
		f |= 0x40
	}
	if p.Username.Set {
		f |= 0x80
	}
	w.u8(f)
	w.u16(p.KeepAlive)
	if v >= V5 {
		p.Props.encode(w)
	}
	w.str(p.ClientID)
	if p.Will != nil {
		if v >= V5 {
			p.Will.Props.encode(w)
		}
		w.str(p.Will.Topic)
		w.bin(p.Will.Payload)
	}
	if p.Username.Set {
		w.str(p.Username.Val)
	}
	if p.Password.Set {
		w.bin(p.Password.Val)
	}
}

func decodeConnect(c *cursor) (*Connect, error) {
	name, err := c.bin()
	if err != nil {
		return nil, err
	}
	lvl, err := c.u8()
	if err != nil {
		return nil, err
	}
	p := &Connect{Level: Version(lvl)}
	switch {
	case string(name) == "MQTT" && (p.Level == V311 || p.Level == V5):
	case string(name) == "MQIsdp" && p.Level == V31:
	case string(name) == "MQTT" || string(name) == "MQIsdp":
		return p, reasonErr(ReasonUnsupportedProtocolVersion, "protocol level %d with name %q", lvl, name)
	default:
		return p, reasonErr(ReasonUnsupportedProtocolVersion, "protocol name %q", name)
	}
	v := p.Level
	f, err := c.u8()
	if err != nil {
		return p, err
	}
	if f&0x01 != 0 {
		return p, malformed("reserved connect flag set")
	}
	p.CleanStart = f&0x02 != 0
	willQoS := f >> 3 & 3
	if f&0x04 == 0 {
		if willQoS != 0 || f&0x20 != 0 {
			return p, malformed("will QoS or will retain without will flag")
		}
	} else if willQoS == 3 {
		return p, malformed("will QoS 3")
	}
	if v < V5 && f&0x40 != 0 && f&0x80 == 0 {
		return p, malformed("password flag without user name flag")
	}
	if p.KeepAlive, err = c.u16(); err != nil {
		return p, err
	}
	if v >= V5 {
		if err := decodeProps(c, &p.Props, TypeConnect); err != nil {
			return p, err
		}
	}
	if p.ClientID, err = c.str(); err != nil {
		return p, err
	}
	if f&0x04 != 0 {
		w := &Will{QoS: willQoS, Retain: f&0x20 != 0}
		if v >= V5 {
			if err := decodeProps(c, &w.Props, ctxWill); err != nil {
				return p, err
			}
		}
		if w.Topic, err = c.str(); err != nil {
			return p, err
		}
		if w.Payload, err = c.bin(); err != nil {
			return p, err
		}
		p.Will = w
	}
	if f&0x80 != 0 {
		s, err := c.str()
		if err != nil {
			return p, err
		}
		p.Username = Some(s)
	}
	if f&0x40 != 0 {
		b, err := c.bin()
		if err != nil {
			return p, err
		}
		p.Password = Some(b)
	}
	return p, nil
}

// ---- CONNACK

func (p *Connack) check(v Version, enc bool) error {
	if err := noProps(&p.Props, v); err != nil {
		return err
	}
	if v < V5 {
		if p.ReasonCode > maxV3ConnackCode {
			return protocolErr("CONNACK return code %d", byte(p.ReasonCode))
		}
		if v == V31 && p.SessionPresent {
			return malformed("session present flag needs MQTT 3.1.1")
		}
	} else if !connackReasons.has(p.ReasonCode) {
		return protocolErr("reason code %s not allowed in CONNACK", p.ReasonCode)
	}
	if p.SessionPresent && p.ReasonCode != 0 {
		return protocolErr("session present with a failure reason code")
	}
	return p.Props.check(TypeConnack, enc)
}

func (p *Connack) encodeBody(w *wbuf, v Version) {
	var f byte
	if p.SessionPresent {
		f = 1
	}
	w.u8(f)
	w.u8(byte(p.ReasonCode))
	if v >= V5 {
		p.Props.encode(w)
	}
}

func decodeConnack(c *cursor, v Version) (*Connack, error) {
	f, err := c.u8()
	if err != nil {
		return nil, err
	}
	if f&^1 != 0 {
		return nil, malformed("reserved connect acknowledge flags set")
	}
	rc, err := c.u8()
	if err != nil {
		return nil, err
	}
	p := &Connack{SessionPresent: f == 1, ReasonCode: ReasonCode(rc)}
	if v >= V5 {
		if err := decodeProps(c, &p.Props, TypeConnack); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// ---- PUBLISH

func (p *Publish) check(v Version, enc bool) error {
	if p.QoS > 2 {
		return malformed("QoS 3")
	}
	if p.QoS == 0 && p.Dup {
		return malformed("DUP set on a QoS 0 message")
	}
	if p.QoS == 0 && p.PacketID != 0 {
		return malformed("packet identifier on a QoS 0 message")
	}
	if p.QoS > 0 && p.PacketID == 0 {
		return protocolErr("packet identifier 0")
	}
	if err := noProps(&p.Props, v); err != nil {
		return err
	}
	if err := p.Props.check(TypePublish, enc); err != nil {
		return err
	}
	if enc {
		if err := checkString(p.Topic, "topic name"); err != nil {
			return err
		}
	}
	if p.Topic == "" && v >= V5 {
		if !p.Props.TopicAlias.Set {
			return protocolErr("empty topic name without a topic alias")
		}
		return nil
	}
	return ValidateTopicName(p.Topic)
}

func (p *Publish) encodeBody(w *wbuf, v Version) {
	w.str(p.Topic)
	if p.QoS > 0 {
		w.u16(p.PacketID)
	}
	if v >= V5 {
		p.Props.encode(w)
	}
	w.raw(p.Payload)
}

func decodePublish(c *cursor, flags byte, v Version) (*Publish, error) {
	p := &Publish{Dup: flags&8 != 0, QoS: flags >> 1 & 3, Retain: flags&1 != 0}
	if p.QoS == 3 {
		return nil, malformed("QoS 3")
	}
	var err error
	if p.Topic, err = c.str(); err != nil {
		return nil, err
	}
	if p.QoS > 0 {
		if p.PacketID, err = c.u16(); err != nil {
			return nil, err
		}
	}
	if v >= V5 {
		if err := decodeProps(c, &p.Props, TypePublish); err != nil {
			return nil, err
		}
	}
	p.Payload = c.rest()
	return p, nil
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP

// ack is the shared shape of the four publish acknowledgements.
type ack struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Props      Properties
}

func (a *ack) check(t Type, v Version, enc bool, reasons *reasonSet) error {
	if a.PacketID == 0 {
		return protocolErr("packet identifier 0")
	}
	if v < V5 {
		if a.ReasonCode != 0 {
			return malformed("reason code needs MQTT 5")
		}
		return noProps(&a.Props, v)
	}
	if !reasons.has(a.ReasonCode) {
		return protocolErr("reason code %s not allowed in %s", a.ReasonCode, t)
	}
	return a.Props.check(t, enc)
}

func (a *ack) encodeBody(w *wbuf, v Version) {
	w.u16(a.PacketID)
	if v < V5 {
		return
	}
	empty := a.Props.IsEmpty()
	if a.ReasonCode == 0 && empty {
		return
	}
	w.u8(byte(a.ReasonCode))
	if !empty {
		a.Props.encode(w)
	}
}

func decodeAck(c *cursor, t Type, v Version) (ack, error) {
	var a ack
	var err error
	if a.PacketID, err = c.u16(); err != nil {
		return a, err
	}
	if v < V5 || c.left() == 0 {
		return a, nil
	}
	rc, _ := c.u8()
	a.ReasonCode = ReasonCode(rc)
	if c.left() == 0 {
		return a, nil
	}
	return a, decodeProps(c, &a.Props, t)
}

func (p *Puback) check(v Version, enc bool) error {
	return (*ack)(p).check(TypePuback, v, enc, &pubackReasons)
}
func (p *Pubrec) check(v Version, enc bool) error {
	return (*ack)(p).check(TypePubrec, v, enc, &pubackReasons)
}
func (p *Pubrel) check(v Version, enc bool) error {
	return (*ack)(p).check(TypePubrel, v, enc, &pubrelReasons)
}
func (p *Pubcomp) check(v Version, enc bool) error {
	return (*ack)(p).check(TypePubcomp, v, enc, &pubrelReasons)
}

// ---- SUBSCRIBE

func (p *Subscribe) check(v Version, enc bool) error {
	if p.PacketID == 0 {
		return protocolErr("packet identifier 0")
	}
	if err := noProps(&p.Props, v); err != nil {
		return err
	}
	if err := p.Props.check(TypeSubscribe, enc); err != nil {
		return err
	}
	if len(p.Subscriptions) == 0 {
		return protocolErr("no topic filter")
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if s.QoS > 2 {
			return malformed("QoS 3 in subscription options")
		}
		if v < V5 && (s.NoLocal || s.RetainAsPublished || s.RetainHandling != 0) {
			return malformed("subscription options need MQTT 5")
		}
		if s.RetainHandling > 2 {
			return protocolErr("retain handling 3")
		}
		if enc {
			if err := checkString(s.Filter, "topic filter"); err != nil {
				return err
			}
		}
		// The filter's topic rules (wildcards, share names) are not
		// checked here: a broken filter fails only its own subscription
		// (SUBACK 0x8F / 0x80), which the server decides.
		if s.NoLocal && IsShared(s.Filter) {
			return protocolErr("no local on a shared subscription")
		}
	}
	return nil
}

func (p *Subscribe) encodeBody(w *wbuf, v Version) {
	w.u16(p.PacketID)
	if v >= V5 {
		p.Props.encode(w)
	}
	for _, s := range p.Subscriptions {
		w.str(s.Filter)
		o := s.QoS
		if s.NoLocal {
			o |= 0x04
		}
		if s.RetainAsPublished {
			o |= 0x08
		}
		o |= s.RetainHandling << 4
		w.u8(o)
	}
}

func decodeSubscribe(c *cursor, v Version) (*Subscribe, error) {
	p := &Subscribe{}
	var err error
	if p.PacketID, err = c.u16(); err != nil {
		return nil, err
	}
	if v >= V5 {
		if err := decodeProps(c, &p.Props, TypeSubscribe); err != nil {
			return nil, err
		}
	}
	for c.left() > 0 {
		var s Subscription
		if s.Filter, err = c.str(); err != nil {
			return nil, err
		}
		o, err := c.u8()
		if err != nil {
			return nil, err
		}
		if v < V5 && o&0xFC != 0 {
			return nil, malformed("reserved subscription option bits set")
		}
		if o&0xC0 != 0 {
			return nil, malformed("reserved subscription option bits set")
		}
		s.QoS = o & 3
		if s.QoS == 3 {
			return nil, malformed("QoS 3 in subscription options")
		}
		s.NoLocal = o&0x04 != 0
		s.RetainAsPublished = o&0x08 != 0
		s.RetainHandling = o >> 4 & 3
		p.Subscriptions = append(p.Subscriptions, s)
	}
	return p, nil
}

// ---- SUBACK

func (p *Suback) check(v Version, enc bool) error {
	if p.PacketID == 0 {
		return protocolErr("packet identifier 0")
	}
	if err := noProps(&p.Props, v); err != nil {
		return err
	}
	if len(p.ReasonCodes) == 0 {
		return protocolErr("no reason code")
	}
	set := &subackReasons
	if v < V5 {
		set = &subackV3
	}
	for _, rc := range p.ReasonCodes {
		if !set.has(rc) {
			return protocolErr("reason code %s not allowed in SUBACK", rc)
		}
	}
	return p.Props.check(TypeSuback, enc)
}

func (p *Suback) encodeBody(w *wbuf, v Version) {
	w.u16(p.PacketID)
	if v >= V5 {
		p.Props.encode(w)
	}
	for _, rc := range p.ReasonCodes {
		w.u8(byte(rc))
	}
}

func decodeReasonList(c *cursor) []ReasonCode {
	b := c.rest()
	if len(b) == 0 {
		return nil
	}
	rcs := make([]ReasonCode, len(b))
	for i, x := range b {
		rcs[i] = ReasonCode(x)
	}
	return rcs
}

func decodeSuback(c *cursor, v Version) (*Suback, error) {
	p := &Suback{}
	var err error
	if p.PacketID, err = c.u16(); err != nil {
		return nil, err
	}
	if v >= V5 {
		if err := decodeProps(c, &p.Props, TypeSuback); err != nil {
			return nil, err
		}
	}
	p.ReasonCodes = decodeReasonList(c)
	return p, nil
}

// ---- UNSUBSCRIBE

func (p *Unsubscribe) check(v Version, enc bool) error {
	if p.PacketID == 0 {
		return protocolErr("packet identifier 0")
	}
	if err := noProps(&p.Props, v); err != nil {
		return err
	}
	if err := p.Props.check(TypeUnsubscribe, enc); err != nil {
		return err
	}
	if len(p.Filters) == 0 {
		return protocolErr("no topic filter")
	}
	for _, f := range p.Filters {
		if enc {
			if err := checkString(f, "topic filter"); err != nil {
				return err
			}
		}
		// As in SUBSCRIBE, a broken filter is the server's per-filter
		// answer (UNSUBACK 0x8F), not a malformed packet.
	}
	return nil
}

func (p *Unsubscribe) encodeBody(w *wbuf, v Version) {
	w.u16(p.PacketID)
	if v >= V5 {
		p.Props.encode(w)
	}
	for _, f := range p.Filters {
		w.str(f)
	}
}

func decodeUnsubscribe(c *cursor, v Version) (*Unsubscribe, error) {
	p := &Unsubscribe{}
	var err error
	if p.PacketID, err = c.u16(); err != nil {
		return nil, err
	}
	if v >= V5 {
		if err := decodeProps(c, &p.Props, TypeUnsubscribe); err != nil {
			return nil, err
		}
	}
	for c.left() > 0 {
		f, err := c.str()
		if err != nil {
			return nil, err
		}
		p.Filters = append(p.Filters, f)
	}
	return p, nil
}

// ---- UNSUBACK

func (p *Unsuback) check(v Version, enc bool) error {
	if p.PacketID == 0 {
		return protocolErr("packet identifier 0")
	}
	if v < V5 {
		if len(p.ReasonCodes) != 0 {
			return malformed("UNSUBACK reason codes need MQTT 5")
		}
		return noProps(&p.Props, v)
	}
	if len(p.ReasonCodes) == 0 {
		return protocolErr("no reason code")
	}
	for _, rc := range p.ReasonCodes {
		if !unsubackReason.has(rc) {
			return protocolErr("reason code %s not allowed in UNSUBACK", rc)
		}
	}
	return p.Props.check(TypeUnsuback, enc)
}

func (p *Unsuback) encodeBody(w *wbuf, v Version) {
	w.u16(p.PacketID)
	if v < V5 {
		return
	}
	p.Props.encode(w)
	for _, rc := range p.ReasonCodes {
		w.u8(byte(rc))
	}
}

func decodeUnsuback(c *cursor, v Version) (*Unsuback, error) {
	p := &Unsuback{}
	var err error
	if p.PacketID, err = c.u16(); err != nil {
		return nil, err
	}
	if v < V5 {
		return p, nil
	}
	if err := decodeProps(c, &p.Props, TypeUnsuback); err != nil {
		return nil, err
	}
	p.ReasonCodes = decodeReasonList(c)
	return p, nil
}

// ---- PINGREQ, PINGRESP

func (*Pingreq) check(Version, bool) error  { return nil }
func (*Pingresp) check(Version, bool) error { return nil }

// ---- DISCONNECT

func (p *Disconnect) check(v Version, enc bool) error {
	if v < V5 {
		if p.ReasonCode != 0 {
			return malformed("reason code needs MQTT 5")
		}
		return noProps(&p.Props, v)
	}
	if !disconnReasons.has(p.ReasonCode) {
		return protocolErr("reason code %s not allowed in DISCONNECT", p.ReasonCode)
	}
	return p.Props.check(TypeDisconnect, enc)
}

func (p *Disconnect) encodeBody(w *wbuf, v Version) {
	if v < V5 {
		return
	}
	// The reason code is always written: remaining length 0 is allowed
	// for Normal Disconnection without properties, but some clients
	// (paho.golang v0.23.0) cannot read it; remaining length 1 is also
	// valid (MQTT 5.0 section 3.14.2.2.1).
	w.u8(byte(p.ReasonCode))
	if !p.Props.IsEmpty() {
		p.Props.encode(w)
	}
}

// decodeReasonProps reads the optional reason code and properties of
// DISCONNECT and AUTH (remaining length 0: success, 1: reason only).
func decodeReasonProps(c *cursor, t Type, rc *ReasonCode, props *Properties) error {
	if c.left() == 0 {
		return nil
	}
	b, _ := c.u8()
	*rc = ReasonCode(b)
	if c.left() == 0 {
		return nil
	}
	return decodeProps(c, props, t)
}

// ---- AUTH

func (p *Auth) check(v Version, enc bool) error {
	if v < V5 {
		return malformed("AUTH needs MQTT 5")
	}
	if !authReasons.has(p.ReasonCode) {
		return protocolErr("reason code %s not allowed in AUTH", p.ReasonCode)
	}
	return p.Props.check(TypeAuth, enc)
}

func (p *Auth) encodeBody(w *wbuf, v Version) {
	if p.ReasonCode == 0 && p.Props.IsEmpty() {
		return
	}
	w.u8(byte(p.ReasonCode))
	p.Props.encode(w)
}
