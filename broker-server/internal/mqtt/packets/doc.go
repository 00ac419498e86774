// Package packets is the MQTT wire codec of the broker: it owns encoding,
// decoding and validation of MQTT control packets for protocol levels 3
// (MQTT 3.1, protocol name "MQIsdp"), 4 (MQTT 3.1.1) and 5 (MQTT 5.0), the
// MQTT 5 properties, the reason codes, and the topic name / topic filter
// rules (wildcards, $-topics, shared subscriptions) with a filter matcher.
//
// It is a codec and nothing else: it must never do I/O beyond reading from a
// given io.Reader or writing to a given io.Writer, keep session state (packet
// identifiers in use, topic aliases, receive windows), or decide behaviour
// (what to answer, whether to close a connection, authorisation). Rules that
// depend on the direction of a packet or on the session (a Subscription
// Identifier sent by a client, a topic alias above the agreed maximum, a
// second CONNECT) belong to the server.
//
// # Decoding
//
// ReadPacket reads one packet from an io.Reader (give it a *bufio.Reader);
// Decode decodes the first packet of a byte slice. Both take the protocol
// level negotiated by CONNECT (0 before it: only CONNECT can be decoded, and
// a CONNECT always decodes with the level it carries) and Limits; the size
// limit is checked on the fixed header, before anything is allocated.
// Decoders never panic, allocate at most the packet's size plus the decoded
// values, and reject everything the specifications call malformed or a
// protocol error with a *ProtocolError whose Reason is the MQTT 5 reason code
// a server answers with (CONNACK before the session exists, DISCONNECT
// after; for levels 3 and 4 the server closes the connection, or maps the
// reason with V3ConnackCode). errors.Is(err, ErrMalformed) and friends test
// the reason. I/O errors are returned as they are (io.EOF before the first
// byte of a packet, io.ErrUnexpectedEOF inside one). One exception: a topic
// filter of a SUBSCRIBE or UNSUBSCRIBE that is a well-formed string but
// breaks the topic filter rules (wildcard placement, share name) decodes,
// because it fails only its own subscription (SUBACK 0x8F, 0x80 in 3.1.1);
// the server checks each with ValidateTopicFilter. Everything else wrong in
// those packets (no filter, reserved option bits, QoS 3, retain handling 3,
// no local on a shared subscription, bad UTF-8) fails the packet.
//
// Decoded byte slices (payloads, binary properties, passwords) alias the
// decoded buffer; ReadPacket gives every packet its own buffer. Empty byte
// fields decode as nil, so a decoded packet compares equal (reflect.DeepEqual)
// to the packet it was encoded from when that packet used nil for empty.
//
// # Encoding
//
// Append, Encode and WritePacket validate a packet with the same rules the
// decoder applies and then encode it, so whatever encodes also decodes to the
// same value; Size gives the encoded size (for the peer's Maximum Packet
// Size) without encoding. Where MQTT 5 allows a short form (PUBACK, PUBREC,
// PUBREL, PUBCOMP without reason code or properties, AUTH without a body)
// the encoder uses the shortest; an MQTT 5 DISCONNECT always carries its
// reason code (some clients cannot read an empty one). Decoders accept every
// form.
//
// # Properties
//
// Properties holds every MQTT 5 property as an Option (set or not: absence
// and a zero value differ for several properties), user properties and
// subscription identifiers as slices in wire order. A property that is not
// allowed in its packet (or in the will properties) is a malformed packet, a
// duplicate is a protocol error, except user properties (any number) and
// subscription identifiers (several on PUBLISH, one on SUBSCRIBE).
//
// References: OASIS MQTT Version 3.1.1 (2014) and MQTT Version 5.0 (2019);
// IBM MQTT V3.1 Protocol Specification for level 3.
package packets
