package core

import "time"

// UserProperty is one name/value pair a publisher attached (MQTT 5).
type UserProperty struct {
	Key   string
	Value string
}

// Message is one published application message as the core routes and
// stores it, independent of the protocol that carried it.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// From is the publishing client's id ("" for the broker itself); a
	// subscription with NoLocal does not receive its own client's messages.
	From string
	// Expires is when the message stops being delivered (zero: never).
	Expires time.Time
	// FromStream marks a message that came from a record of a mapped
	// stream (another protocol produced it): it is not appended to the
	// mapped streams again.
	FromStream bool
	// Accepted is when this broker read the message from its publisher
	// (zero when it came from elsewhere: another broker, the log, a
	// will). Only metrics read it (delivery latency); it is not stored.
	Accepted time.Time

	// Metadata carried end to end (MQTT 5 properties).
	PayloadFormat    byte
	HasPayloadFormat bool
	ContentType      string
	ResponseTopic    string
	CorrelationData  []byte
	User             []UserProperty
}

// Expired reports whether m's expiry has passed at now.
func (m *Message) Expired(now time.Time) bool {
	return !m.Expires.IsZero() && !now.Before(m.Expires)
}

// RemainingExpiry is the whole seconds (rounded up) m has left at now and
// whether it expires at all.
func (m *Message) RemainingExpiry(now time.Time) (uint32, bool) {
	if m.Expires.IsZero() {
		return 0, false
	}
	d := m.Expires.Sub(now)
	if d <= 0 {
		return 0, true
	}
	s := (d + time.Second - 1) / time.Second
	if s > 0xFFFFFFFF {
		s = 0xFFFFFFFF
	}
	return uint32(s), true
}
