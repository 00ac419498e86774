package server

import (
	"strings"
	"unicode/utf8"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Limits bound what a request may carry. They sit below the gRPC message
// limit so an oversized field gets a precise ResourceExhausted.
type Limits struct {
	MaxNameBytes  int
	MaxValueBytes int
}

// DefaultLimits are used when the configuration leaves a limit at zero.
var DefaultLimits = Limits{MaxNameBytes: 1024, MaxValueBytes: 1 << 20}

func (l Limits) name(field, v string) error {
	switch {
	case v == "":
		return rpcerr.InvalidArgument(field, "must not be empty")
	case len(v) > l.MaxNameBytes:
		return rpcerr.ResourceExhausted(field+" length", uint64(l.MaxNameBytes), uint64(len(v)))
	case !utf8.ValidString(v):
		return rpcerr.InvalidArgument(field, "must be valid UTF-8")
	case strings.ContainsRune(v, 0):
		return rpcerr.InvalidArgument(field, "must not contain NUL")
	}
	return nil
}

// tenant validates a tenant name; empty means "default".
func (l Limits) tenant(v string) (string, error) {
	if v == "" {
		return "default", nil
	}
	if strings.Contains(v, "/") {
		return "", rpcerr.InvalidArgument("tenant", "must not contain '/'")
	}
	return v, l.name("tenant", v)
}

func (l Limits) value(field string, v []byte) error {
	if len(v) > l.MaxValueBytes {
		return rpcerr.ResourceExhausted(field+" size", uint64(l.MaxValueBytes), uint64(len(v)))
	}
	return nil
}

func validNodeKind(k placementpb.NodeKind) bool {
	_, ok := placementpb.NodeKind_name[int32(k)]
	return ok
}

func validConsistency(c placementpb.ReadConsistency) bool {
	_, ok := placementpb.ReadConsistency_name[int32(c)]
	return ok
}
