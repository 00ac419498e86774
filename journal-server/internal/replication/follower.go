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
// response reports that error and no log end. The exception is a group
// whose every request asked defer_sync: it is answered without a sync,
// each response marked unsynced, and the leader counts none of them.
func (f *Follower) ApplyGroup(reqs []*journalpb.ReplicateRequest) []*journalpb.ReplicateResponse {
	resps := make([]*journalpb.ReplicateResponse, len(reqs))
	var segs []groupSeg // in practice one: a stream per segment
	var ids []segstore.SegmentID
	note := func(id segstore.SegmentID, a groupSeg) {
		j := slices.Index(ids, id)
		if j < 0 {
			j = len(ids)
			ids = append(ids, id)
			segs = append(segs, groupSeg{})
		}
		segs[j].lac = max(segs[j].lac, a.lac)
		segs[j].changed = segs[j].changed || a.changed
	}
	for i := 0; i < len(reqs); {
		if n := f.applyRun(reqs[i:], resps[i:]); n > 0 {
			id, _ := SegmentID(reqs[i].GetSegment())
			for _, req := range reqs[i : i+n] {
				note(id, groupSeg{lac: req.GetLac(), changed: true})
			}
			i += n
			continue
		}
		resp, id, ok, a := f.apply(reqs[i])
		resps[i] = resp
		if ok {
			note(id, a)
		}
		i++
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
	// A group whose every request asked defer_sync is answered unsynced:
	// the leader does not count these ends toward the LAC, and its next
	// request without defer_sync gets a Sync that covers them (see
	// replicator.go, "Lazy replicas").
	if deferred(reqs) {
		for _, resp := range resps {
			resp.Unsynced = true
		}
		return resps
	}
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

// deferred reports whether every request asked defer_sync.
func deferred(reqs []*journalpb.ReplicateRequest) bool {
	for _, req := range reqs {
		if !req.GetDeferSync() {
			return false
		}
	}
	return true
}

// groupSeg is what a group did to one segment.
type groupSeg struct {
	lac     uint64 // highest LAC to advance to (0: none)
	changed bool   // data appended: wake readers
}

// applyRun appends, in one store commit, the batches of the longest run
// at the start of reqs that carry a batch for the same existing segment at
// the same epoch and that AppendReplicaUnsynced would accept one by one,
// and fills their responses (log end after each). It returns how many it
// handled; 0 (a run shorter than two, a segment to create, a batch that
// is not the next one, any error) leaves reqs[0] to apply, which reports
// errors and resends exactly as for a single request. Like apply it does
// not sync: the caller's Sync covers these log ends before any response
// goes out. The LAC each request carries is advanced by the caller (the
// store clamps it to the log end).
func (f *Follower) applyRun(reqs []*journalpb.ReplicateRequest, resps []*journalpb.ReplicateResponse) int {
	if len(reqs) < 2 || len(reqs[0].GetBatch()) == 0 {
		return 0
	}
	id, err := SegmentID(reqs[0].GetSegment())
	if err != nil {
		return 0
	}
	epoch := reqs[0].GetEpoch()
	batches := [][]byte{reqs[0].GetBatch()}
	for _, req := range reqs[1:] {
		if len(req.GetBatch()) == 0 || req.GetEpoch() != epoch {
			break
		}
		if rid, err := SegmentID(req.GetSegment()); err != nil || rid != id {
			break
		}
		batches = append(batches, req.GetBatch())
	}
	if len(batches) < 2 {
		return 0
	}
	ends, err := f.store.AppendReplicasUnsynced(id, epoch, batches)
	if err != nil {
		return 0
	}
	for k, end := range ends {
		resps[k] = &journalpb.ReplicateResponse{Segment: reqs[k].GetSegment(), LogEnd: end}
	}
	return len(ends)
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
