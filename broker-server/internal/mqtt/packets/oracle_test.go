package packets

// Cross-checks against third-party encoders and decoders used as oracles
// (tests only): github.com/eclipse/paho.golang/packets for MQTT 5 and
// github.com/eclipse/paho.mqtt.golang/packets for MQTT 3.1 and 3.1.1.
// Generated packets are encoded by theirs and decoded by ours, and the other
// way round, and must come out equal.

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	p5 "github.com/eclipse/paho.golang/packets"
	p3 "github.com/eclipse/paho.mqtt.golang/packets"
	"pgregory.net/rapid"
)

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ---- MQTT 5: paho.golang

func optB(o Option[byte]) *byte {
	if !o.Set {
		return nil
	}
	v := o.Val
	return &v
}

func optU16(o Option[uint16]) *uint16 {
	if !o.Set {
		return nil
	}
	v := o.Val
	return &v
}

func optU32(o Option[uint32]) *uint32 {
	if !o.Set {
		return nil
	}
	v := o.Val
	return &v
}

func fromB(p *byte) Option[byte] {
	if p == nil {
		return Option[byte]{}
	}
	return Some(*p)
}

func fromU16(p *uint16) Option[uint16] {
	if p == nil {
		return Option[uint16]{}
	}
	return Some(*p)
}

func fromU32(p *uint32) Option[uint32] {
	if p == nil {
		return Option[uint32]{}
	}
	return Some(*p)
}

func fromStr(s string) Option[string] {
	if s == "" {
		return Option[string]{}
	}
	return Some(s)
}

func fromBin(b []byte) Option[[]byte] {
	if len(b) == 0 {
		return Option[[]byte]{}
	}
	return Some(b)
}

func toPahoProps(p *Properties) *p5.Properties {
	q := &p5.Properties{
		PayloadFormat: optB(p.PayloadFormatIndicator), MessageExpiry: optU32(p.MessageExpiryInterval),
		ContentType: p.ContentType.Val, ResponseTopic: p.ResponseTopic.Val, CorrelationData: p.CorrelationData.Val,
		SessionExpiryInterval: optU32(p.SessionExpiryInterval), AssignedClientID: p.AssignedClientIdentifier.Val,
		ServerKeepAlive: optU16(p.ServerKeepAlive), AuthMethod: p.AuthenticationMethod.Val,
		AuthData: p.AuthenticationData.Val, RequestProblemInfo: optB(p.RequestProblemInformation),
		WillDelayInterval: optU32(p.WillDelayInterval), RequestResponseInfo: optB(p.RequestResponseInformation),
		ResponseInfo: p.ResponseInformation.Val, ServerReference: p.ServerReference.Val,
		ReasonString: p.ReasonString.Val, ReceiveMaximum: optU16(p.ReceiveMaximum),
		TopicAliasMaximum: optU16(p.TopicAliasMaximum), TopicAlias: optU16(p.TopicAlias),
		MaximumQOS: optB(p.MaximumQoS), RetainAvailable: optB(p.RetainAvailable),
		MaximumPacketSize: optU32(p.MaximumPacketSize), WildcardSubAvailable: optB(p.WildcardSubscriptionAvailable),
		SubIDAvailable: optB(p.SubscriptionIdentifierAvailable), SharedSubAvailable: optB(p.SharedSubscriptionAvailable),
	}
	if len(p.SubscriptionIdentifiers) > 0 {
		id := int(p.SubscriptionIdentifiers[0])
		q.SubscriptionIdentifier = &id
	}
	for _, u := range p.User {
		q.User = append(q.User, p5.User{Key: u.Key, Value: u.Value})
	}
	return q
}

func fromPahoProps(q *p5.Properties) Properties {
	if q == nil {
		return Properties{}
	}
	p := Properties{
		PayloadFormatIndicator: fromB(q.PayloadFormat), MessageExpiryInterval: fromU32(q.MessageExpiry),
		ContentType: fromStr(q.ContentType), ResponseTopic: fromStr(q.ResponseTopic),
		CorrelationData: fromBin(q.CorrelationData), SessionExpiryInterval: fromU32(q.SessionExpiryInterval),
		AssignedClientIdentifier: fromStr(q.AssignedClientID), ServerKeepAlive: fromU16(q.ServerKeepAlive),
		AuthenticationMethod: fromStr(q.AuthMethod), AuthenticationData: fromBin(q.AuthData),
		RequestProblemInformation: fromB(q.RequestProblemInfo), WillDelayInterval: fromU32(q.WillDelayInterval),
		RequestResponseInformation: fromB(q.RequestResponseInfo), ResponseInformation: fromStr(q.ResponseInfo),
		ServerReference: fromStr(q.ServerReference), ReasonString: fromStr(q.ReasonString),
		ReceiveMaximum: fromU16(q.ReceiveMaximum), TopicAliasMaximum: fromU16(q.TopicAliasMaximum),
		TopicAlias: fromU16(q.TopicAlias), MaximumQoS: fromB(q.MaximumQOS), RetainAvailable: fromB(q.RetainAvailable),
		MaximumPacketSize: fromU32(q.MaximumPacketSize), WildcardSubscriptionAvailable: fromB(q.WildcardSubAvailable),
		SubscriptionIdentifierAvailable: fromB(q.SubIDAvailable), SharedSubscriptionAvailable: fromB(q.SharedSubAvailable),
	}
	if q.SubscriptionIdentifier != nil {
		p.SubscriptionIdentifiers = []uint32{uint32(*q.SubscriptionIdentifier)}
	}
	for _, u := range q.User {
		p.User = append(p.User, UserProperty{Key: u.Key, Value: u.Value})
	}
	return p
}

func reasonBytes(rcs []ReasonCode) []byte {
	b := make([]byte, len(rcs))
	for i, r := range rcs {
		b[i] = byte(r)
	}
	return b
}

func reasonCodes(b []byte) []ReasonCode {
	if len(b) == 0 {
		return nil
	}
	rcs := make([]ReasonCode, len(b))
	for i, x := range b {
		rcs[i] = ReasonCode(x)
	}
	return rcs
}

func writePaho5(p Packet) ([]byte, error) {
	var w bytes.Buffer
	var err error
	switch p := p.(type) {
	case *Connect:
		c := &p5.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: p.CleanStart, KeepAlive: p.KeepAlive,
			Properties: toPahoProps(&p.Props), ClientID: p.ClientID,
			UsernameFlag: p.Username.Set, Username: p.Username.Val, PasswordFlag: p.Password.Set, Password: p.Password.Val}
		if p.Will != nil {
			c.WillFlag, c.WillQOS, c.WillRetain = true, p.Will.QoS, p.Will.Retain
			c.WillProperties = toPahoProps(&p.Will.Props)
			c.WillTopic, c.WillMessage = p.Will.Topic, p.Will.Payload
		}
		_, err = c.WriteTo(&w)
	case *Connack:
		_, err = (&p5.Connack{SessionPresent: p.SessionPresent, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Props)}).WriteTo(&w)
	case *Publish:
		_, err = (&p5.Publish{Duplicate: p.Dup, QoS: p.QoS, Retain: p.Retain, Topic: p.Topic, PacketID: p.PacketID,
			Properties: toPahoProps(&p.Props), Payload: p.Payload}).WriteTo(&w)
	case *Puback:
		_, err = (&p5.Puback{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Props)}).WriteTo(&w)
	case *Pubrec:
		_, err = (&p5.Pubrec{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Props)}).WriteTo(&w)
	case *Pubrel:
		_, err = (&p5.Pubrel{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Props)}).WriteTo(&w)
	case *Pubcomp:
		_, err = (&p5.Pubcomp{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Props)}).WriteTo(&w)
	case *Subscribe:
		s := &p5.Subscribe{PacketID: p.PacketID, Properties: toPahoProps(&p.Props)}
		for _, x := range p.Subscriptions {
			s.Subscriptions = append(s.Subscriptions, p5.SubOptions{Topic: x.Filter, QoS: x.QoS, NoLocal: x.NoLocal,
				RetainAsPublished: x.RetainAsPublished, RetainHandling: x.RetainHandling})
		}
		_, err = s.WriteTo(&w)
	case *Suback:
		_, err = (&p5.Suback{PacketID: p.PacketID, Properties: toPahoProps(&p.Props), Reasons: reasonBytes(p.ReasonCodes)}).WriteTo(&w)
	case *Unsubscribe:
		_, err = (&p5.Unsubscribe{PacketID: p.PacketID, Properties: toPahoProps(&p.Props), Topics: p.Filters}).WriteTo(&w)
	case *Unsuback:
		_, err = (&p5.Unsuback{PacketID: p.PacketID, Properties: toPahoProps(&p.Props), Reasons: reasonBytes(p.ReasonCodes)}).WriteTo(&w)
	case *Pingreq:
		_, err = (&p5.Pingreq{}).WriteTo(&w)
	case *Pingresp:
		_, err = (&p5.Pingresp{}).WriteTo(&w)
	case *Disconnect:
		_, err = (&p5.Disconnect{ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Props)}).WriteTo(&w)
	case *Auth:
		_, err = (&p5.Auth{ReasonCode: byte(p.ReasonCode), Properties: toPahoProps(&p.Props)}).WriteTo(&w)
	default:
		return nil, fmt.Errorf("no paho type for %T", p)
	}
	return w.Bytes(), err
}

func fromPaho5(cp *p5.ControlPacket) Packet {
	switch q := cp.Content.(type) {
	case *p5.Connect:
		p := &Connect{Level: Version(q.ProtocolVersion), CleanStart: q.CleanStart, KeepAlive: q.KeepAlive,
			Props: fromPahoProps(q.Properties), ClientID: q.ClientID}
		if q.WillFlag {
			p.Will = &Will{QoS: q.WillQOS, Retain: q.WillRetain, Props: fromPahoProps(q.WillProperties),
				Topic: q.WillTopic, Payload: nilIfEmpty(q.WillMessage)}
		}
		if q.UsernameFlag {
			p.Username = Some(q.Username)
		}
		if q.PasswordFlag {
			p.Password = Some(nilIfEmpty(q.Password))
		}
		return p
	case *p5.Connack:
		return &Connack{SessionPresent: q.SessionPresent, ReasonCode: ReasonCode(q.ReasonCode), Props: fromPahoProps(q.Properties)}
	case *p5.Publish:
		return &Publish{Dup: q.Duplicate, QoS: q.QoS, Retain: q.Retain, Topic: q.Topic, PacketID: q.PacketID,
			Props: fromPahoProps(q.Properties), Payload: nilIfEmpty(q.Payload)}
	case *p5.Puback:
		return &Puback{PacketID: q.PacketID, ReasonCode: ReasonCode(q.ReasonCode), Props: fromPahoProps(q.Properties)}
	case *p5.Pubrec:
		return &Pubrec{PacketID: q.PacketID, ReasonCode: ReasonCode(q.ReasonCode), Props: fromPahoProps(q.Properties)}
	case *p5.Pubrel:
		return &Pubrel{PacketID: q.PacketID, ReasonCode: ReasonCode(q.ReasonCode), Props: fromPahoProps(q.Properties)}
	case *p5.Pubcomp:
		return &Pubcomp{PacketID: q.PacketID, ReasonCode: ReasonCode(q.ReasonCode), Props: fromPahoProps(q.Properties)}
	case *p5.Subscribe:
		p := &Subscribe{PacketID: q.PacketID, Props: fromPahoProps(q.Properties)}
		for _, x := range q.Subscriptions {
			p.Subscriptions = append(p.Subscriptions, Subscription{Filter: x.Topic, QoS: x.QoS, NoLocal: x.NoLocal,
				RetainAsPublished: x.RetainAsPublished, RetainHandling: x.RetainHandling})
		}
		return p
	case *p5.Suback:
		return &Suback{PacketID: q.PacketID, Props: fromPahoProps(q.Properties), ReasonCodes: reasonCodes(q.Reasons)}
	case *p5.Unsubscribe:
		return &Unsubscribe{PacketID: q.PacketID, Props: fromPahoProps(q.Properties), Filters: q.Topics}
	case *p5.Unsuback:
		return &Unsuback{PacketID: q.PacketID, Props: fromPahoProps(q.Properties), ReasonCodes: reasonCodes(q.Reasons)}
	case *p5.Pingreq:
		return &Pingreq{}
	case *p5.Pingresp:
		return &Pingresp{}
	case *p5.Disconnect:
		return &Disconnect{ReasonCode: ReasonCode(q.ReasonCode), Props: fromPahoProps(q.Properties)}
	case *p5.Auth:
		return &Auth{ReasonCode: ReasonCode(q.ReasonCode), Props: fromPahoProps(q.Properties)}
	}
	return nil
}

func TestOraclePahoV5(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genPacket(t, V5, true)
		// Ours -> theirs.
		enc, err := Encode(p, V5)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		cp, err := p5.ReadPacket(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("paho cannot read our % x: %v", enc, err)
		}
		if got := fromPaho5(cp); !reflect.DeepEqual(got, p) {
			t.Fatalf("paho read our % x as\n%#v\nwant %#v", enc, got, p)
		}
		// Theirs -> ours.
		theirs, err := writePaho5(p)
		if err != nil {
			t.Fatalf("paho write: %v", err)
		}
		dv := V5
		if _, ok := p.(*Connect); ok {
			dv = 0
		}
		got, n, err := Decode(theirs, dv, Limits{})
		if err != nil || n != len(theirs) {
			t.Fatalf("we cannot read paho's % x: %v", theirs, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("we read paho's % x as\n%#v\nwant %#v", theirs, got, p)
		}
	})
}

// ---- MQTT 3.1 / 3.1.1: paho.mqtt.golang

func writePaho3(p Packet) ([]byte, error) {
	var cp p3.ControlPacket
	switch p := p.(type) {
	case *Connect:
		c := p3.NewControlPacket(p3.Connect).(*p3.ConnectPacket)
		c.ProtocolName, c.ProtocolVersion = p.Level.protocolName(), byte(p.Level)
		c.CleanSession, c.Keepalive, c.ClientIdentifier = p.CleanStart, p.KeepAlive, p.ClientID
		if p.Will != nil {
			c.WillFlag, c.WillQos, c.WillRetain, c.WillTopic, c.WillMessage = true, p.Will.QoS, p.Will.Retain, p.Will.Topic, p.Will.Payload
		}
		c.UsernameFlag, c.Username = p.Username.Set, p.Username.Val
		c.PasswordFlag, c.Password = p.Password.Set, p.Password.Val
		cp = c
	case *Connack:
		c := p3.NewControlPacket(p3.Connack).(*p3.ConnackPacket)
		c.SessionPresent, c.ReturnCode = p.SessionPresent, byte(p.ReasonCode)
		cp = c
	case *Publish:
		c := p3.NewControlPacket(p3.Publish).(*p3.PublishPacket)
		c.Dup, c.Qos, c.Retain, c.TopicName, c.MessageID, c.Payload = p.Dup, p.QoS, p.Retain, p.Topic, p.PacketID, p.Payload
		cp = c
	case *Puback:
		c := p3.NewControlPacket(p3.Puback).(*p3.PubackPacket)
		c.MessageID = p.PacketID
		cp = c
	case *Pubrec:
		c := p3.NewControlPacket(p3.Pubrec).(*p3.PubrecPacket)
		c.MessageID = p.PacketID
		cp = c
	case *Pubrel:
		c := p3.NewControlPacket(p3.Pubrel).(*p3.PubrelPacket)
		c.MessageID = p.PacketID
		cp = c
	case *Pubcomp:
		c := p3.NewControlPacket(p3.Pubcomp).(*p3.PubcompPacket)
		c.MessageID = p.PacketID
		cp = c
	case *Subscribe:
		c := p3.NewControlPacket(p3.Subscribe).(*p3.SubscribePacket)
		c.MessageID = p.PacketID
		for _, s := range p.Subscriptions {
			c.Topics, c.Qoss = append(c.Topics, s.Filter), append(c.Qoss, s.QoS)
		}
		cp = c
	case *Suback:
		c := p3.NewControlPacket(p3.Suback).(*p3.SubackPacket)
		c.MessageID, c.ReturnCodes = p.PacketID, reasonBytes(p.ReasonCodes)
		cp = c
	case *Unsubscribe:
		c := p3.NewControlPacket(p3.Unsubscribe).(*p3.UnsubscribePacket)
		c.MessageID, c.Topics = p.PacketID, p.Filters
		cp = c
	case *Unsuback:
		c := p3.NewControlPacket(p3.Unsuback).(*p3.UnsubackPacket)
		c.MessageID = p.PacketID
		cp = c
	case *Pingreq:
		cp = p3.NewControlPacket(p3.Pingreq)
	case *Pingresp:
		cp = p3.NewControlPacket(p3.Pingresp)
	case *Disconnect:
		cp = p3.NewControlPacket(p3.Disconnect)
	default:
		return nil, fmt.Errorf("no paho type for %T", p)
	}
	var w bytes.Buffer
	err := cp.Write(&w)
	return w.Bytes(), err
}

func fromPaho3(cp p3.ControlPacket) Packet {
	switch q := cp.(type) {
	case *p3.ConnectPacket:
		p := &Connect{Level: Version(q.ProtocolVersion), CleanStart: q.CleanSession, KeepAlive: q.Keepalive, ClientID: q.ClientIdentifier}
		if q.WillFlag {
			p.Will = &Will{QoS: q.WillQos, Retain: q.WillRetain, Topic: q.WillTopic, Payload: nilIfEmpty(q.WillMessage)}
		}
		if q.UsernameFlag {
			p.Username = Some(q.Username)
		}
		if q.PasswordFlag {
			p.Password = Some(nilIfEmpty(q.Password))
		}
		return p
	case *p3.ConnackPacket:
		return &Connack{SessionPresent: q.SessionPresent, ReasonCode: ReasonCode(q.ReturnCode)}
	case *p3.PublishPacket:
		return &Publish{Dup: q.Dup, QoS: q.Qos, Retain: q.Retain, Topic: q.TopicName, PacketID: q.MessageID, Payload: nilIfEmpty(q.Payload)}
	case *p3.PubackPacket:
		return &Puback{PacketID: q.MessageID}
	case *p3.PubrecPacket:
		return &Pubrec{PacketID: q.MessageID}
	case *p3.PubrelPacket:
		return &Pubrel{PacketID: q.MessageID}
	case *p3.PubcompPacket:
		return &Pubcomp{PacketID: q.MessageID}
	case *p3.SubscribePacket:
		p := &Subscribe{PacketID: q.MessageID}
		for i, f := range q.Topics {
			p.Subscriptions = append(p.Subscriptions, Subscription{Filter: f, QoS: q.Qoss[i]})
		}
		return p
	case *p3.SubackPacket:
		return &Suback{PacketID: q.MessageID, ReasonCodes: reasonCodes(q.ReturnCodes)}
	case *p3.UnsubscribePacket:
		return &Unsubscribe{PacketID: q.MessageID, Filters: q.Topics}
	case *p3.UnsubackPacket:
		return &Unsuback{PacketID: q.MessageID}
	case *p3.PingreqPacket:
		return &Pingreq{}
	case *p3.PingrespPacket:
		return &Pingresp{}
	case *p3.DisconnectPacket:
		return &Disconnect{}
	}
	return nil
}

func TestOraclePahoV3(t *testing.T) {
	for _, v := range []Version{V31, V311} {
		t.Run(v.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				p := genPacket(t, v, true)
				enc, err := Encode(p, v)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				cp, err := p3.ReadPacket(bytes.NewReader(enc))
				if err != nil {
					t.Fatalf("paho cannot read our % x: %v", enc, err)
				}
				if got := fromPaho3(cp); !reflect.DeepEqual(got, p) {
					t.Fatalf("paho read our % x as\n%#v\nwant %#v", enc, got, p)
				}
				theirs, err := writePaho3(p)
				if err != nil {
					t.Fatalf("paho write: %v", err)
				}
				dv := v
				if _, ok := p.(*Connect); ok {
					dv = 0
				}
				got, n, err := Decode(theirs, dv, Limits{})
				if err != nil || n != len(theirs) {
					t.Fatalf("we cannot read paho's % x: %v", theirs, err)
				}
				if !reflect.DeepEqual(got, p) {
					t.Fatalf("we read paho's % x as\n%#v\nwant %#v", theirs, got, p)
				}
			})
		})
	}
}
