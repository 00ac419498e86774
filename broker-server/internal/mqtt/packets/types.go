package packets

import "fmt"

// Type is the MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types.
const (
	TypeConnect     Type = 1
	TypeConnack     Type = 2
	TypePublish     Type = 3
	TypePuback      Type = 4
	TypePubrec      Type = 5
	TypePubrel      Type = 6
	TypePubcomp     Type = 7
	TypeSubscribe   Type = 8
	TypeSuback      Type = 9
	TypeUnsubscribe Type = 10
	TypeUnsuback    Type = 11
	TypePingreq     Type = 12
	TypePingresp    Type = 13
	TypeDisconnect  Type = 14
	TypeAuth        Type = 15 // MQTT 5 only
)

var typeNames = [16]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string {
	if t < 16 {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", byte(t))
}

// Version is the protocol level carried by CONNECT.
type Version byte

// Protocol levels.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   Version = 5 // MQTT 5.0, protocol name "MQTT"
)

func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("level %d", byte(v))
}

// Valid reports whether v is a protocol level this package speaks.
func (v Version) Valid() bool { return v == V31 || v == V311 || v == V5 }

// protocolName is the protocol name CONNECT carries for a level.
func (v Version) protocolName() string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// Option is a value that may be absent. MQTT 5 gives several properties a
// meaning when absent that differs from their zero value (Maximum QoS,
// Retain Available, Request Problem Information...), so presence is kept.
type Option[T any] struct {
	Val T
	Set bool
}

// Some returns a present Option holding v.
func Some[T any](v T) Option[T] { return Option[T]{Val: v, Set: true} }

// Get returns the value and whether it is present.
func (o Option[T]) Get() (T, bool) { return o.Val, o.Set }

// Or returns the value if present, def otherwise.
func (o Option[T]) Or(def T) T {
	if o.Set {
		return o.Val
	}
	return def
}

// Limits bound what the decoders accept.
type Limits struct {
	// MaxPacketSize bounds the size of a whole packet, fixed header
	// included (the quantity MQTT 5's Maximum Packet Size property names).
	// Zero or negative means MaxPacketSize, the protocol's own limit. A
	// larger packet is a *ProtocolError with ReasonPacketTooLarge, reported
	// from the fixed header before the body is read or allocated.
	MaxPacketSize int
}

// MaxRemainingLength is the largest remaining length four bytes of
// variable byte integer encode.
const MaxRemainingLength = 268435455

// MaxPacketSize is the largest packet the protocol can express.
const MaxPacketSize = 1 + 4 + MaxRemainingLength

// MaxSubscriptionID is the largest subscription identifier.
const MaxSubscriptionID = 268435455

func (l Limits) maxPacketSize() int {
	if l.MaxPacketSize <= 0 || l.MaxPacketSize > MaxPacketSize {
		return MaxPacketSize
	}
	return l.MaxPacketSize
}
