package streamclient

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
)

// Errors the caller can test with errors.Is.
var (
	// ErrClosed: the client, producer or reader was closed.
	ErrClosed = errors.New("streamclient: closed")
	// ErrCaughtUp: a Reader without Follow reached the end of what is
	// committed; calling Next again continues from the same offset.
	ErrCaughtUp = errors.New("streamclient: caught up with the partition's committed end")
	// ErrStreamNotFound: no shard of that stream exists.
	ErrStreamNotFound = errors.New("streamclient: stream not found")
	// ErrOffsetOutOfRange: the requested offset is not (or no longer) in
	// the partition; see *OffsetOutOfRangeError for the range.
	ErrOffsetOutOfRange = errors.New("streamclient: offset out of range")
)

// TimeoutError is the outcome of a batch whose deadline passed before any
// leader acknowledged it. The batch may or may not have been written. Err
// is the last error seen while retrying (nil if it was never sent).
type TimeoutError struct {
	Partition int
	Attempts  int
	Err       error
}

func (e *TimeoutError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("streamclient: partition %d: append deadline passed after %d attempts", e.Partition, e.Attempts)
	}
	return fmt.Sprintf("streamclient: partition %d: append deadline passed after %d attempts: %v", e.Partition, e.Attempts, e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// AppendError is a batch the leader refused for good (too large, invalid):
// it was not written. Err is the leader's typed error (rpcerr details).
type AppendError struct {
	Partition int
	Err       error
}

func (e *AppendError) Error() string {
	return fmt.Sprintf("streamclient: partition %d: append rejected: %v", e.Partition, e.Err)
}

func (e *AppendError) Unwrap() error { return e.Err }

// OffsetOutOfRangeError says a read position is outside [Earliest, Latest]
// of the partition as the reader last saw it: below Earliest, retention
// deleted the segments holding it (Earliest is the first remaining
// segment's start). It is a gRPC status too: status.Code (and
// rpcerr.Code) report codes.OutOfRange, and the message names Earliest.
type OffsetOutOfRangeError struct {
	Partition int
	Offset    uint64
	Earliest  uint64
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("streamclient: partition %d: offset %d out of range (earliest %d)", e.Partition, e.Offset, e.Earliest)
}

// Is matches ErrOffsetOutOfRange.
func (e *OffsetOutOfRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// GRPCStatus makes the error a codes.OutOfRange status (for callers that
// classify by code, and for a server passing it on).
func (e *OffsetOutOfRangeError) GRPCStatus() *status.Status {
	return status.New(codes.OutOfRange, fmt.Sprintf("partition %d: offset %d is before the earliest offset %d (deleted by retention)",
		e.Partition, e.Offset, e.Earliest))
}

// errAction is what a failed append tells the producer to do.
type errAction int

const (
	// retry: refresh metadata and resend every unacknowledged batch.
	actRetry errAction = iota
	// sequence: the leader saw a sequence gap; restart the sequence under a
	// new producer epoch and resend.
	actResequence
	// staleEpoch: the leader knows a newer producer epoch of ours, so a
	// later batch was written and this earlier one was too.
	actStaleEpoch
	// fail: the batch is refused for good.
	actFail
)

// classifyAppend sorts a per-batch or stream error.
func classifyAppend(err error) errAction {
	if _, ok := rpcerr.AsNotLeader(err); ok {
		return actRetry
	}
	if _, ok := rpcerr.AsFenced(err); ok {
		return actRetry
	}
	if _, ok := rpcerr.AsSegmentSealed(err); ok {
		return actRetry
	}
	if ia, ok := rpcerr.Detail[*commonpb.InvalidArgument](err); ok {
		switch ia.GetField() {
		case "base_sequence":
			return actResequence
		case "producer_epoch":
			return actStaleEpoch
		}
		return actFail
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.ResourceExhausted, codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented:
		return actFail
	}
	// Unavailable, DeadlineExceeded, NotFound (the leader's cache lags a
	// new segment), FailedPrecondition without a detail, Internal, Unknown,
	// a broken stream: all transient from a writer's point of view.
	return actRetry
}

// IsRetryable reports whether the producer would retry after err (it is
// exported for callers that layer their own retries on Append results).
func IsRetryable(err error) bool { return classifyAppend(err) == actRetry }
