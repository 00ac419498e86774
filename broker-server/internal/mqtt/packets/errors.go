package packets

import (
	"errors"
	"fmt"
)

// ProtocolError is a packet that breaks the MQTT rules, decoded or about to
// be encoded. Reason is the MQTT 5 reason code a server answers with:
// ReasonMalformedPacket (0x81), ReasonProtocolError (0x82),
// ReasonUnsupportedProtocolVersion (0x84), ReasonTopicFilterInvalid (0x8F),
// ReasonTopicNameInvalid (0x90), ReasonTopicAliasInvalid (0x94),
// ReasonPacketTooLarge (0x95).
type ProtocolError struct {
	// Reason is the MQTT 5 reason code for the failure.
	Reason ReasonCode
	// Packet is the type of the offending packet (0 when the first byte
	// could not be read).
	Packet Type
	// Version is the protocol level the packet was decoded with; for a
	// CONNECT the level it carries (so a server can answer with a CONNACK
	// of that level), 0 when it was not read.
	Version Version
	// Msg says what is wrong.
	Msg string
}

func (e *ProtocolError) Error() string {
	if e.Packet != 0 {
		return fmt.Sprintf("mqtt %s: %s: %s", e.Packet, e.Reason, e.Msg)
	}
	return fmt.Sprintf("mqtt: %s: %s", e.Reason, e.Msg)
}

// Is matches the sentinels below (and any *ProtocolError that carries only
// a Reason) by reason code.
func (e *ProtocolError) Is(target error) bool {
	t, ok := target.(*ProtocolError)
	return ok && t.Packet == 0 && t.Msg == "" && t.Version == 0 && t.Reason == e.Reason
}

// Sentinels for errors.Is.
var (
	ErrMalformed          = &ProtocolError{Reason: ReasonMalformedPacket}
	ErrProtocol           = &ProtocolError{Reason: ReasonProtocolError}
	ErrUnsupportedVersion = &ProtocolError{Reason: ReasonUnsupportedProtocolVersion}
	ErrTopicFilterInvalid = &ProtocolError{Reason: ReasonTopicFilterInvalid}
	ErrTopicNameInvalid   = &ProtocolError{Reason: ReasonTopicNameInvalid}
	ErrTopicAliasInvalid  = &ProtocolError{Reason: ReasonTopicAliasInvalid}
	ErrPacketTooLarge     = &ProtocolError{Reason: ReasonPacketTooLarge}
)

// ReasonOf returns the reason code of a *ProtocolError in err's chain.
func ReasonOf(err error) (ReasonCode, bool) {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Reason, true
	}
	return 0, false
}

func malformed(format string, args ...any) *ProtocolError {
	return &ProtocolError{Reason: ReasonMalformedPacket, Msg: fmt.Sprintf(format, args...)}
}

func protocolErr(format string, args ...any) *ProtocolError {
	return &ProtocolError{Reason: ReasonProtocolError, Msg: fmt.Sprintf(format, args...)}
}

func reasonErr(r ReasonCode, format string, args ...any) *ProtocolError {
	return &ProtocolError{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// tag fills in the packet type and version of an error made below the
// packet level.
func tag(err error, t Type, v Version) error {
	if pe, ok := err.(*ProtocolError); ok {
		if pe.Packet == 0 {
			pe.Packet = t
		}
		if pe.Version == 0 {
			pe.Version = v
		}
	}
	return err
}
