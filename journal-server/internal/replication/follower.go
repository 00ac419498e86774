package replication

import (
	"errors"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// Follower applies Replicate requests to the local store: the follower
// side of replication.
type Follower struct {
	store   *segstore.Store
	changes *Changes
}

// NewFollower returns the follower side over store.
func NewFollower(store *segstore.Store, changes *Changes) *Follower {
	return &Follower{store: store, changes: changes}
}

// Apply handles one request: it creates the replica on first contact
// (start_offset, epoch), appends the batch (none: a LAC-only update),
// advances the LAC and answers the log end. A batch that does not start at
// the log end is answered FailedPrecondition with log_end, so the leader
// resends from there. Errors travel in the response.
func (f *Follower) Apply(req *journalpb.ReplicateRequest) *journalpb.ReplicateResponse {
	resp := &journalpb.ReplicateResponse{Segment: req.GetSegment()}
	id, err := SegmentID(req.GetSegment())
	if err != nil {
		resp.Error = rpcerr.ToProto(err)
		return resp
	}
	st, err := f.store.Describe(id)
	if errors.Is(err, segstore.ErrNotFound) {
		if err = f.store.CreateSegment(id, req.GetStartOffset(), req.GetEpoch()); err == nil || errors.Is(err, segstore.ErrAlreadyExists) {
			st, err = f.store.Describe(id)
		}
	}
	if err != nil {
		resp.Error = rpcerr.ToProto(StoreError(id, err))
		return resp
	}
	logEnd := st.LogEnd
	changed := false
	if len(req.GetBatch()) > 0 {
		next, err := f.store.AppendReplica(id, req.GetEpoch(), req.GetBatch())
		if err != nil {
			var nc *segstore.NotContiguousError
			if errors.As(err, &nc) {
				resp.LogEnd = nc.Expected
			} else {
				resp.LogEnd = logEnd
			}
			resp.Error = rpcerr.ToProto(StoreError(id, err))
			return resp
		}
		logEnd, changed = next, true
	} else if req.GetEpoch() < st.FenceEpoch {
		resp.LogEnd = logEnd
		resp.Error = rpcerr.ToProto(rpcerr.Fenced(st.FenceEpoch))
		return resp
	} else if st.Sealed {
		resp.LogEnd = logEnd
		resp.Error = rpcerr.ToProto(rpcerr.SegmentSealed(st.SealedEnd))
		return resp
	}
	if req.GetLac() > st.LAC && !st.Sealed {
		if err := f.store.AdvanceLAC(id, req.GetLac()); err == nil {
			changed = true
		}
	}
	if changed {
		f.changes.Notify(id)
	}
	resp.LogEnd = logEnd
	return resp
}
