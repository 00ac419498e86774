package wire

import (
	"errors"
	"fmt"
)

// API keys this package knows.
const (
	KeyProduce          int16 = 0
	KeyFetch            int16 = 1
	KeyListOffsets      int16 = 2
	KeyMetadata         int16 = 3
	KeyOffsetCommit     int16 = 8
	KeyOffsetFetch      int16 = 9
	KeyFindCoordinator  int16 = 10
	KeyJoinGroup        int16 = 11
	KeyHeartbeat        int16 = 12
	KeyLeaveGroup       int16 = 13
	KeySyncGroup        int16 = 14
	KeyDescribeGroups   int16 = 15
	KeyListGroups       int16 = 16
	KeySaslHandshake    int16 = 17
	KeyApiVersions      int16 = 18
	KeyCreateTopics     int16 = 19
	KeyDeleteTopics     int16 = 20
	KeyInitProducerID   int16 = 22
	KeyDescribeConfigs  int16 = 32
	KeySaslAuthenticate int16 = 36
	KeyCreatePartitions int16 = 37
	KeyDeleteGroups     int16 = 42
)

// Message is a request or response body.
type Message interface {
	codec(c *coder, version int16)
}

// API describes one supported API: its key, version range, the first
// flexible version (-1: none in range) and constructors of its bodies.
type API struct {
	Key          int16
	Name         string
	Min, Max     int16
	FlexibleFrom int16
	NewRequest   func() Message
	NewResponse  func() Message
}

// Flexible says whether version v of the API uses compact fields and
// tagged fields.
func (a API) Flexible(v int16) bool { return a.FlexibleFrom >= 0 && v >= a.FlexibleFrom }

func api[Req, Resp any, PReq interface {
	*Req
	Message
}, PResp interface {
	*Resp
	Message
}](key int16, name string, min, max, flex int16) API {
	return API{Key: key, Name: name, Min: min, Max: max, FlexibleFrom: flex,
		NewRequest:  func() Message { return PReq(new(Req)) },
		NewResponse: func() Message { return PResp(new(Resp)) }}
}

// apis is the table of supported APIs, in key order. It is built by a
// function, not held in a package variable, so nothing can change it.
func apis() []API {
	return []API{
		api[ProduceRequest, ProduceResponse](KeyProduce, "Produce", 3, 9, 9),
		api[FetchRequest, FetchResponse](KeyFetch, "Fetch", 4, 12, 12),
		api[ListOffsetsRequest, ListOffsetsResponse](KeyListOffsets, "ListOffsets", 1, 7, 6),
		api[MetadataRequest, MetadataResponse](KeyMetadata, "Metadata", 0, 12, 9),
		api[OffsetCommitRequest, OffsetCommitResponse](KeyOffsetCommit, "OffsetCommit", 0, 8, 8),
		api[OffsetFetchRequest, OffsetFetchResponse](KeyOffsetFetch, "OffsetFetch", 0, 7, 6),
		api[FindCoordinatorRequest, FindCoordinatorResponse](KeyFindCoordinator, "FindCoordinator", 0, 3, 3),
		api[JoinGroupRequest, JoinGroupResponse](KeyJoinGroup, "JoinGroup", 0, 7, 6),
		api[HeartbeatRequest, HeartbeatResponse](KeyHeartbeat, "Heartbeat", 0, 4, 4),
		api[LeaveGroupRequest, LeaveGroupResponse](KeyLeaveGroup, "LeaveGroup", 0, 5, 4),
		api[SyncGroupRequest, SyncGroupResponse](KeySyncGroup, "SyncGroup", 0, 5, 4),
		api[DescribeGroupsRequest, DescribeGroupsResponse](KeyDescribeGroups, "DescribeGroups", 0, 5, 5),
		api[ListGroupsRequest, ListGroupsResponse](KeyListGroups, "ListGroups", 0, 4, 3),
		api[SaslHandshakeRequest, SaslHandshakeResponse](KeySaslHandshake, "SaslHandshake", 0, 1, -1),
		api[ApiVersionsRequest, ApiVersionsResponse](KeyApiVersions, "ApiVersions", 0, 3, 3),
		api[CreateTopicsRequest, CreateTopicsResponse](KeyCreateTopics, "CreateTopics", 0, 6, 5),
		api[DeleteTopicsRequest, DeleteTopicsResponse](KeyDeleteTopics, "DeleteTopics", 0, 5, 4),
		api[InitProducerIDRequest, InitProducerIDResponse](KeyInitProducerID, "InitProducerId", 0, 4, 2),
		api[DescribeConfigsRequest, DescribeConfigsResponse](KeyDescribeConfigs, "DescribeConfigs", 0, 4, 4),
		api[SaslAuthenticateRequest, SaslAuthenticateResponse](KeySaslAuthenticate, "SaslAuthenticate", 0, 2, 2),
		api[CreatePartitionsRequest, CreatePartitionsResponse](KeyCreatePartitions, "CreatePartitions", 0, 3, 2),
		api[DeleteGroupsRequest, DeleteGroupsResponse](KeyDeleteGroups, "DeleteGroups", 0, 2, 2),
	}
}

// APIs returns the supported APIs in key order.
func APIs() []API { return apis() }

// Lookup finds a supported API by key.
func Lookup(key int16) (API, bool) {
	for _, a := range apis() {
		if a.Key == key {
			return a, true
		}
	}
	return API{}, false
}

// RequestHeader is the header of a request: v0 (key, version,
// correlation id), v1 (+ nullable client id), v2 (+ tagged fields).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      *string
	Tags          Tags
}

// requestHeaderVersion is the header version a request uses: 2 for a
// flexible request, 0 for ControlledShutdown v0, 1 otherwise. An unknown
// API or version is read as v1 (ApiVersions beyond the range as v2, as
// KIP-511 requires: its header must stay parseable).
func requestHeaderVersion(key, version int16) int {
	if key == 7 && version == 0 {
		return 0
	}
	if a, ok := Lookup(key); ok {
		if key == KeyApiVersions && version > a.Max {
			return 2
		}
		if a.Flexible(version) {
			return 2
		}
	}
	return 1
}

// ErrUnsupportedVersion means the request's API is known but its version
// is not served; ErrUnknownAPI that the key is not served at all. Both
// come as an *UnsupportedError carrying the parsed header.
var (
	ErrUnsupportedVersion = errors.New("kafka wire: unsupported API version")
	ErrUnknownAPI         = errors.New("kafka wire: unsupported API key")
)

// UnsupportedError is a request whose header parsed but whose API or
// version is not served.
type UnsupportedError struct {
	Header RequestHeader
	Err    error
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%v: key %d version %d", e.Err, e.Header.APIKey, e.Header.APIVersion)
}

func (e *UnsupportedError) Unwrap() error { return e.Err }

// ParseHeader reads a request header from the start of a frame (the size
// prefix already removed) and returns it with the body's bytes.
func ParseHeader(frame []byte) (RequestHeader, []byte, error) {
	c := &coder{dec: true, b: frame}
	var h RequestHeader
	c.i16(&h.APIKey)
	c.i16(&h.APIVersion)
	c.i32(&h.CorrelationID)
	if c.err != nil {
		return h, nil, c.err
	}
	hv := requestHeaderVersion(h.APIKey, h.APIVersion)
	if hv >= 1 {
		c.nstr(&h.ClientID) // the client id is never compact
	}
	if hv >= 2 {
		c.flexible = true
		c.tags(&h.Tags)
	}
	if c.err != nil {
		return h, nil, c.err
	}
	return h, c.b, nil
}

// DecodeRequest parses a whole request frame (without the size prefix).
// A request for an unknown API or version returns the parsed header in an
// *UnsupportedError; anything that does not parse wraps ErrMalformed.
func DecodeRequest(frame []byte) (RequestHeader, Message, error) {
	h, body, err := ParseHeader(frame)
	if err != nil {
		return h, nil, err
	}
	a, ok := Lookup(h.APIKey)
	if !ok {
		return h, nil, &UnsupportedError{Header: h, Err: ErrUnknownAPI}
	}
	if h.APIVersion < a.Min || h.APIVersion > a.Max {
		return h, nil, &UnsupportedError{Header: h, Err: ErrUnsupportedVersion}
	}
	m := a.NewRequest()
	if err := DecodeBody(a, h.APIVersion, body, m); err != nil {
		return h, nil, err
	}
	return h, m, nil
}

// DecodeBody decodes one request or response body of API a at version v
// into m. Trailing bytes are an error.
func DecodeBody(a API, v int16, body []byte, m Message) error {
	c := &coder{dec: true, flexible: a.Flexible(v), b: body}
	m.codec(c, v)
	if c.err != nil {
		return fmt.Errorf("%s v%d: %w", a.Name, v, c.err)
	}
	if len(c.b) != 0 {
		return fmt.Errorf("%w: %s v%d: %d trailing bytes", ErrMalformed, a.Name, v, len(c.b))
	}
	return nil
}

// EncodeBody appends the encoding of m (a body of API a at version v).
func EncodeBody(dst []byte, a API, v int16, m Message) []byte {
	c := &coder{flexible: a.Flexible(v), b: dst}
	m.codec(c, v)
	return c.b
}

// EncodeRequest appends a request (header and body, no size prefix).
func EncodeRequest(dst []byte, h RequestHeader, m Message) ([]byte, error) {
	a, ok := Lookup(h.APIKey)
	if !ok || h.APIVersion < a.Min || h.APIVersion > a.Max {
		return dst, &UnsupportedError{Header: h, Err: ErrUnsupportedVersion}
	}
	c := &coder{b: dst}
	c.i16(&h.APIKey)
	c.i16(&h.APIVersion)
	c.i32(&h.CorrelationID)
	c.nstr(&h.ClientID)
	if a.Flexible(h.APIVersion) {
		c.flexible = true
		c.tags(&h.Tags)
	}
	return EncodeBody(c.b, a, h.APIVersion, m), nil
}

// EncodeResponse appends a response frame without its size prefix: the
// correlation id, the tagged fields of response header v1 for flexible
// versions (never for ApiVersions, whose response header is always v0),
// then the body.
func EncodeResponse(dst []byte, a API, v int16, correlationID int32, m Message) []byte {
	c := &coder{b: dst}
	c.i32(&correlationID)
	if a.Flexible(v) && a.Key != KeyApiVersions {
		c.flexible = true
		var none Tags
		c.tags(&none)
	}
	return EncodeBody(c.b, a, v, m)
}
