package replication

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// SegmentID converts a request's segment reference, refusing one segstore
// would refuse (InvalidArgument on field "segment").
func SegmentID(ref *journalpb.SegmentRef) (segstore.SegmentID, error) {
	id := segstore.SegmentID{Tenant: ref.GetTenant(), Shard: ref.GetShard(), Seq: ref.GetSeq()}
	switch {
	case ref == nil:
		return id, rpcerr.InvalidArgument("segment", "missing")
	case id.Tenant == "" || id.Shard == "":
		return id, rpcerr.InvalidArgument("segment", "tenant and shard must be set")
	case len(id.Tenant) > segstore.MaxNameLen || len(id.Shard) > segstore.MaxNameLen:
		return id, rpcerr.InvalidArgument("segment", fmt.Sprintf("tenant or shard longer than %d bytes", segstore.MaxNameLen))
	}
	return id, nil
}

// Ref is the wire form of a segment id.
func Ref(id segstore.SegmentID) *journalpb.SegmentRef {
	return &journalpb.SegmentRef{Tenant: id.Tenant, Shard: id.Shard, Seq: id.Seq}
}

// StoreError maps a segstore error about segment id to an rpcerr typed
// error (a gRPC status). Errors that already are gRPC statuses pass
// through; nil stays nil.
//
//	ErrNotFound            NotFound("segment", id)
//	*FencedError           Fenced(epoch)
//	*SealedError           SegmentSealed(end)
//	*NotContiguousError    FailedPrecondition (Replicate answers log_end)
//	*IncompleteError       FailedPrecondition "replica has data up to H, seal wants W" (Describe gives log_end)
//	*OutOfRangeError       OutOfRange
//	*AlreadyExistsError    AlreadyExists("segment", id)
//	ErrInvalidBatch        InvalidArgument("batch") or ResourceExhausted for recordbatch.ErrTooLarge
//	ErrNotBatchBoundary,
//	ErrInvalidArgument     InvalidArgument("end_offset" / "request")
//	*CorruptError          DataLoss
//	ErrClosed              Unavailable
//	context errors         Canceled / DeadlineExceeded
//	anything else          Internal
func StoreError(id segstore.SegmentID, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var (
		fenced   *segstore.FencedError
		sealed   *segstore.SealedError
		notCont  *segstore.NotContiguousError
		incompl  *segstore.IncompleteError
		outRange *segstore.OutOfRangeError
	)
	switch {
	case errors.Is(err, segstore.ErrNotFound):
		return rpcerr.NotFound("segment", id.String())
	case errors.As(err, &fenced):
		return rpcerr.Fenced(fenced.Epoch)
	case errors.As(err, &sealed):
		return rpcerr.SegmentSealed(sealed.End)
	case errors.As(err, &notCont):
		return status.Error(codes.FailedPrecondition, notCont.Error())
	case errors.As(err, &incompl):
		return status.Error(codes.FailedPrecondition, incompl.Error())
	case errors.As(err, &outRange):
		return status.Error(codes.OutOfRange, outRange.Error())
	case errors.Is(err, segstore.ErrAlreadyExists):
		return rpcerr.AlreadyExists("segment", id.String())
	case errors.Is(err, recordbatch.ErrTooLarge):
		return batchError(err)
	case errors.Is(err, segstore.ErrInvalidBatch):
		return rpcerr.InvalidArgument("batch", err.Error())
	case errors.Is(err, segstore.ErrNotBatchBoundary):
		return rpcerr.InvalidArgument("end_offset", err.Error())
	case errors.Is(err, segstore.ErrInvalidArgument):
		return rpcerr.InvalidArgument("request", err.Error())
	case errors.Is(err, segstore.ErrCorrupt):
		return status.Error(codes.DataLoss, err.Error())
	case errors.Is(err, segstore.ErrClosed):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// batchError maps a recordbatch validation error: a batch over one of the
// limits is ResourceExhausted (limit "batch", the message names which),
// anything else InvalidArgument("batch").
func batchError(err error) error {
	if !errors.Is(err, recordbatch.ErrTooLarge) {
		return rpcerr.InvalidArgument("batch", err.Error())
	}
	st := status.New(codes.ResourceExhausted, err.Error())
	if d, derr := st.WithDetails(&commonpb.ResourceExhausted{Limit: "batch"}); derr == nil {
		st = d
	}
	return st.Err()
}
