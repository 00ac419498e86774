package replication

import (
	"errors"
	"slices"

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

// Apply handles one request: ApplyGroup of one.
func (f *Follower) Apply(req *journalpb.ReplicateRequest) *journalpb.ReplicateResponse {
	return f.ApplyGroup([]*journalpb.ReplicateRequest{req})[0]
}

// ApplyGroup handles requests in order, one response each: it creates the
// replica on first contact (start_offset, epoch), appends the batch (none:
// a LAC-only update), advances the LAC and answers the log end. A batch
// that does not start at the log end is answered FailedPrecondition with
// log_end, so the leader resends from there. Errors travel in the
// responses.
//
// The batches are appended without sync, then one Store.Sync makes all of
// them durable before any response is returned: the leader counts a
// response's log_end as durable (its LAC), so the group shares one fsync
// and no reported end can be lost by a crash. If the sync fails every
// response reports that error and no log end.
func (f *Follower) ApplyGroup(reqs []*journalpb.ReplicateRequest) []*journalpb.ReplicateResponse {
	resps := make([]*journalpb.ReplicateResponse, len(reqs))
	var segs []groupSeg // in practice one: a stream per segment
	var ids []segstore.SegmentID
	for i, req := range reqs {
		resp, id, ok, a := f.apply(req)
		resps[i] = resp
		if !ok {
			continue
		}
		j := slices.Index(ids, id)
		if j < 0 {
			j = len(ids)
			ids = append(ids, id)
			segs = append(segs, groupSeg{})
		}
		segs[j].lac = max(segs[j].lac, a.lac)
		segs[j].changed = segs[j].changed || a.changed
	}
	if len(ids) == 0 {
		return resps
	}
	// One LAC write per segment for the group: the highest it carried
	// (clamped to the log end by the store; not synced, see AdvanceLAC).
	for j, id := range ids {
		if segs[j].lac > 0 {
			if err := f.store.AdvanceLAC(id, segs[j].lac); err == nil {
				segs[j].changed = true
			}
		}
	}
	defer func() {
		for j, id := range ids {
			if segs[j].changed {
				f.changes.Notify(id)
			}
		}
	}()
	// Every log end reported above was published before this Sync
	// captures the ends, so the sync covers it.
	if _, err := f.store.Sync(ids...); err != nil {
		// No end may be reported (a NotContiguous one counts too).
		for i, resp := range resps {
			id, _ := SegmentID(reqs[i].GetSegment())
			resp.Error = rpcerr.ToProto(StoreError(id, err))
			resp.LogEnd = 0
		}
	}
	return resps
}

// groupSeg is what a group did to one segment.
type groupSeg struct {
	lac     uint64 // highest LAC to advance to (0: none)
	changed bool   // data appended: wake readers
}

// apply handles one request without syncing and without advancing the
// LAC, which it returns in a; ok reports that the response names a log end
// of segment id.
func (f *Follower) apply(req *journalpb.ReplicateRequest) (resp *journalpb.ReplicateResponse, id segstore.SegmentID, ok bool, a groupSeg) {
	resp = &journalpb.ReplicateResponse{Segment: req.GetSegment()}
	id, err := SegmentID(req.GetSegment())
	if err != nil {
		resp.Error = rpcerr.ToProto(err)
		return resp, id, false, a
	}
	st, err := f.store.Describe(id)
	if errors.Is(err, segstore.ErrNotFound) {
		if err = f.store.CreateSegment(id, req.GetStartOffset(), req.GetEpoch()); err == nil || errors.Is(err, segstore.ErrAlreadyExists) {
			st, err = f.store.Describe(id)
		}
	}
	if err != nil {
		resp.Error = rpcerr.ToProto(StoreError(id, err))
		return resp, id, false, a
	}
	logEnd := st.LogEnd
	if len(req.GetBatch()) > 0 {
		next, err := f.store.AppendReplicaUnsynced(id, req.GetEpoch(), req.GetBatch())
		if err != nil {
			var nc *segstore.NotContiguousError
			if errors.As(err, &nc) {
				resp.LogEnd = nc.Expected
			} else {
				resp.LogEnd = logEnd
			}
			resp.Error = rpcerr.ToProto(StoreError(id, err))
			return resp, id, true, a
		}
		logEnd, a.changed = next, true
	} else if req.GetEpoch() < st.FenceEpoch {
		resp.LogEnd = logEnd
		resp.Error = rpcerr.ToProto(rpcerr.Fenced(st.FenceEpoch))
		return resp, id, true, a
	} else if st.Sealed {
		resp.LogEnd = logEnd
		resp.Error = rpcerr.ToProto(rpcerr.SegmentSealed(st.SealedEnd))
		return resp, id, true, a
	}
	if req.GetLac() > st.LAC && !st.Sealed {
		a.lac = req.GetLac()
	}
	resp.LogEnd = logEnd
	return resp, id, true, a
}
