package rpcerr

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
)

// withDetail builds a status error carrying one detail message.
func withDetail(code codes.Code, msg string, detail proto.Message) error {
	st := status.New(code, msg)
	if d, err := st.WithDetails(protoadapt.MessageV1Of(detail)); err == nil {
		st = d
	}
	return st.Err()
}

// NotLeader reports that this member cannot serve a write or a linearizable
// read; leaderAddr may be empty when no leader is known.
func NotLeader(leaderID uint64, leaderAddr string) error {
	return withDetail(codes.Unavailable, fmt.Sprintf("not leader (leader %d at %q)", leaderID, leaderAddr),
		&commonpb.NotLeader{LeaderId: leaderID, LeaderAddr: leaderAddr})
}

// NotFound reports a missing object of the given kind.
func NotFound(kind, name string) error {
	return withDetail(codes.NotFound, fmt.Sprintf("%s %q not found", kind, name),
		&commonpb.NotFound{Kind: kind, Name: name})
}

// AlreadyExists reports a create of an object that exists.
func AlreadyExists(kind, name string) error {
	return withDetail(codes.AlreadyExists, fmt.Sprintf("%s %q already exists", kind, name),
		&commonpb.AlreadyExists{Kind: kind, Name: name})
}

// VersionMismatch reports a failed compare-and-set.
func VersionMismatch(kind, name string, expected, current uint64) error {
	return withDetail(codes.FailedPrecondition,
		fmt.Sprintf("%s %q: expected version %d, current version %d", kind, name, expected, current),
		&commonpb.VersionMismatch{Kind: kind, Name: name, ExpectedVersion: expected, CurrentVersion: current})
}

// InvalidArgument reports a request field that is not acceptable.
func InvalidArgument(field, reason string) error {
	return withDetail(codes.InvalidArgument, fmt.Sprintf("invalid %s: %s", field, reason),
		&commonpb.InvalidArgument{Field: field, Reason: reason})
}

// ResourceExhausted reports a size or count limit that was passed.
func ResourceExhausted(limit string, max, got uint64) error {
	return withDetail(codes.ResourceExhausted, fmt.Sprintf("%s exceeded: %d > %d", limit, got, max),
		&commonpb.ResourceExhausted{Limit: limit, Max: max, Got: got})
}

// Fenced reports a journal replica fenced at a newer epoch.
func Fenced(epoch uint64) error {
	return withDetail(codes.FailedPrecondition, fmt.Sprintf("fenced at epoch %d", epoch),
		&commonpb.Fenced{Epoch: epoch})
}

// SegmentSealed reports a write to a sealed segment.
func SegmentSealed(endOffset uint64) error {
	return withDetail(codes.FailedPrecondition, fmt.Sprintf("segment sealed at end offset %d", endOffset),
		&commonpb.SegmentSealed{EndOffset: endOffset})
}

// Detail returns the first detail of type T carried by err, if any.
func Detail[T proto.Message](err error) (T, bool) {
	var zero T
	if err == nil {
		return zero, false
	}
	st, ok := status.FromError(err)
	if !ok {
		// status.FromError unwraps %w chains only for errors implementing
		// GRPCStatus directly; try the chain explicitly.
		var gs interface{ GRPCStatus() *status.Status }
		if !errors.As(err, &gs) {
			return zero, false
		}
		st = gs.GRPCStatus()
	}
	for _, d := range st.Details() {
		if t, ok := d.(T); ok {
			return t, true
		}
	}
	return zero, false
}

// AsNotLeader returns the NotLeader detail of err.
func AsNotLeader(err error) (*commonpb.NotLeader, bool) { return Detail[*commonpb.NotLeader](err) }

// AsVersionMismatch returns the VersionMismatch detail of err.
func AsVersionMismatch(err error) (*commonpb.VersionMismatch, bool) {
	return Detail[*commonpb.VersionMismatch](err)
}

// AsFenced returns the Fenced detail of err.
func AsFenced(err error) (*commonpb.Fenced, bool) { return Detail[*commonpb.Fenced](err) }

// AsSegmentSealed returns the SegmentSealed detail of err.
func AsSegmentSealed(err error) (*commonpb.SegmentSealed, bool) {
	return Detail[*commonpb.SegmentSealed](err)
}

// Code returns the gRPC code of err (codes.OK for nil, codes.Unknown for a
// plain error).
func Code(err error) codes.Code { return status.Code(err) }
