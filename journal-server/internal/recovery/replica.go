package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// readChunkBytes bounds one local read while copying.
const readChunkBytes = 1 << 20

// Ref converts a segment id to its wire form.
func Ref(id segstore.SegmentID) *journalpb.SegmentRef {
	return &journalpb.SegmentRef{Tenant: id.Tenant, Shard: id.Shard, Seq: id.Seq}
}

// replicaState is what one replica reported after a fence or describe.
type replicaState struct {
	logEnd    uint64
	lac       uint64
	sealed    bool
	sealedEnd uint64
}

// replica is one replica of the segment under recovery, local or remote.
// Every method is bounded by ctx.
type replica interface {
	nodeID() uint64
	// fence raises the fence to epoch (creating an absent replica at
	// that epoch, start offset start) and reports the replica's state.
	fence(ctx context.Context, epoch, start uint64) (replicaState, error)
	describe(ctx context.Context) (replicaState, error)
	// read calls fn for each batch of [from, to) in order, verified.
	read(ctx context.Context, from, to uint64, fn func(batch []byte) error) error
	// copyFrom appends src's batches [from, to) to this replica.
	copyFrom(ctx context.Context, src replica, epoch, start, from, to uint64) error
	seal(ctx context.Context, end uint64) error
}

// rangeChecker verifies a stream of batches covers [from, to) contiguously
// with whole batches.
type rangeChecker struct {
	next, to uint64
}

// check returns whether the batch is to be used (false: it lies wholly
// before the range) or an error.
func (c *rangeChecker) check(batch []byte) (bool, error) {
	if err := recordbatch.Verify(batch); err != nil {
		return false, fmt.Errorf("batch at %d: %w", c.next, err)
	}
	h, err := recordbatch.DecodeHeader(batch)
	if err != nil {
		return false, fmt.Errorf("batch at %d: %w", c.next, err)
	}
	if h.Count == 0 || h.NextOffset() < h.FirstOffset {
		return false, fmt.Errorf("batch at %d: bad count %d", h.FirstOffset, h.Count)
	}
	switch {
	case h.NextOffset() <= c.next:
		return false, nil // before the range (a server may start early)
	case h.FirstOffset != c.next:
		return false, fmt.Errorf("batch [%d, %d) does not start at %d", h.FirstOffset, h.NextOffset(), c.next)
	case h.NextOffset() > c.to:
		return false, fmt.Errorf("batch [%d, %d) crosses the range end %d", h.FirstOffset, h.NextOffset(), c.to)
	}
	c.next = h.NextOffset()
	return true, nil
}

func (c *rangeChecker) done() bool { return c.next >= c.to }

// ReadRange streams the batches [from, to) of segment id from a replica with
// ReadReplica, regardless of its LAC, calling fn for each in offset order.
// Every batch is CRC-verified and must continue exactly where the previous
// one ended; a batch crossing to is an error. It returns nil only when the
// range was delivered completely (nothing is delivered when from >= to).
// The work is bounded by to - from batches and by ctx.
func ReadRange(ctx context.Context, client journalpb.JournalServiceClient, id segstore.SegmentID, from, to uint64, fn func(batch []byte) error) error {
	if from >= to {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when we stop early
	stream, err := client.ReadReplica(ctx, &journalpb.ReadReplicaRequest{Segment: Ref(id), FromOffset: from, ToOffset: to})
	if err != nil {
		return fmt.Errorf("read replica %s [%d, %d): %w", id, from, to, err)
	}
	c := rangeChecker{next: from, to: to}
	for !c.done() {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("read replica %s: stream ended at %d, wanted up to %d", id, c.next, to)
		}
		if err != nil {
			return fmt.Errorf("read replica %s at %d: %w", id, c.next, err)
		}
		for _, b := range resp.GetBatches() {
			if c.done() {
				break
			}
			use, err := c.check(b)
			if err != nil {
				return fmt.Errorf("read replica %s: %w", id, err)
			}
			if use {
				if err := fn(b); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// localReplica is this node's replica, reached through the segstore.
type localReplica struct {
	node  uint64
	store *segstore.Store
	id    segstore.SegmentID
	hooks Hooks
}

func (l *localReplica) nodeID() uint64 { return l.node }

func (l *localReplica) fence(_ context.Context, epoch, start uint64) (replicaState, error) {
	_, err := l.store.Fence(l.id, epoch)
	if errors.Is(err, segstore.ErrNotFound) {
		// This node never received a batch: create the replica fenced at
		// the new epoch, so the old leader can no longer write to it.
		if cerr := l.store.CreateSegment(l.id, start, epoch); cerr != nil && !errors.Is(cerr, segstore.ErrAlreadyExists) {
			return replicaState{}, cerr
		}
		_, err = l.store.Fence(l.id, epoch)
	}
	if err != nil {
		return replicaState{}, err
	}
	l.hooks.Fenced(l.id, epoch)
	return l.describe(context.Background())
}

func (l *localReplica) describe(context.Context) (replicaState, error) {
	st, err := l.store.Describe(l.id)
	if err != nil {
		return replicaState{}, err
	}
	return replicaState{logEnd: st.LogEnd, lac: st.LAC, sealed: st.Sealed, sealedEnd: st.SealedEnd}, nil
}

func (l *localReplica) read(ctx context.Context, from, to uint64, fn func([]byte) error) error {
	c := rangeChecker{next: from, to: to}
	// Each round returns at least one batch or fails, so this is bounded
	// by the number of batches in the range.
	for !c.done() {
		if err := ctx.Err(); err != nil {
			return err
		}
		got, err := l.store.Read(l.id, c.next, readChunkBytes, to)
		if err != nil {
			return fmt.Errorf("read local %s at %d: %w", l.id, c.next, err)
		}
		if len(got) == 0 {
			return fmt.Errorf("read local %s: no batch at %d, wanted up to %d", l.id, c.next, to)
		}
		for _, b := range got {
			use, err := c.check(b.Data)
			if err != nil {
				return fmt.Errorf("read local %s: %w", l.id, err)
			}
			if use {
				if err := fn(b.Data); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (l *localReplica) copyFrom(ctx context.Context, src replica, _, _, from, to uint64) error {
	err := src.read(ctx, from, to, func(b []byte) error {
		if _, err := l.store.AppendRecovered(l.id, b); err != nil {
			return fmt.Errorf("append recovered to local %s: %w", l.id, err)
		}
		return nil
	})
	l.hooks.Changed(l.id) // even a partial copy appended
	return err
}

func (l *localReplica) seal(_ context.Context, end uint64) error {
	if err := l.store.Seal(l.id, end); err != nil {
		return err
	}
	l.hooks.Sealed(l.id, end)
	return nil
}

// remoteReplica is another node's replica, reached over gRPC.
type remoteReplica struct {
	node uint64
	dial DialFunc
	id   segstore.SegmentID

	mu     sync.Mutex // guards client: a late fence may overlap a seal
	client journalpb.JournalServiceClient
}

func (r *remoteReplica) nodeID() uint64 { return r.node }

func (r *remoteReplica) conn(ctx context.Context) (journalpb.JournalServiceClient, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return r.client, nil
	}
	c, err := r.dial(ctx, r.node)
	if err != nil {
		return nil, fmt.Errorf("dial node %d: %w", r.node, err)
	}
	r.client = c
	return c, nil
}

func (r *remoteReplica) fence(ctx context.Context, epoch, start uint64) (replicaState, error) {
	c, err := r.conn(ctx)
	if err != nil {
		return replicaState{}, err
	}
	_, err = c.Fence(ctx, &journalpb.FenceRequest{Segment: Ref(r.id), Epoch: epoch})
	if rpcerr.Code(err) == codes.NotFound {
		// The replica does not exist yet: create it at the new epoch
		// through a batch-less Replicate (first contact creates), so the
		// old leader can no longer write to it, then fence again.
		if cerr := r.replicate(ctx, epoch, start, nil); cerr != nil {
			return replicaState{}, fmt.Errorf("create replica on node %d: %w", r.node, cerr)
		}
		_, err = c.Fence(ctx, &journalpb.FenceRequest{Segment: Ref(r.id), Epoch: epoch})
	}
	if err != nil {
		return replicaState{}, fmt.Errorf("fence on node %d: %w", r.node, err)
	}
	return r.describe(ctx)
}

func (r *remoteReplica) describe(ctx context.Context) (replicaState, error) {
	c, err := r.conn(ctx)
	if err != nil {
		return replicaState{}, err
	}
	d, err := c.Describe(ctx, &journalpb.DescribeRequest{Segment: Ref(r.id)})
	if err != nil {
		return replicaState{}, fmt.Errorf("describe on node %d: %w", r.node, err)
	}
	return replicaState{logEnd: d.GetLogEnd(), lac: d.GetLac(), sealed: d.GetSealed(), sealedEnd: d.GetSealedEnd()}, nil
}

func (r *remoteReplica) read(ctx context.Context, from, to uint64, fn func([]byte) error) error {
	c, err := r.conn(ctx)
	if err != nil {
		return err
	}
	return ReadRange(ctx, c, r.id, from, to, fn)
}

func (r *remoteReplica) copyFrom(ctx context.Context, src replica, epoch, start, from, to uint64) error {
	if from >= to {
		return nil
	}
	return r.replicate(ctx, epoch, start, func(send func([]byte) error) error {
		return src.read(ctx, from, to, send)
	})
}

// replicate opens a Replicate stream at epoch and sends, one at a time and
// each answered before the next, the batches produce passes to send; with
// produce nil it sends one batch-less request (creating the replica).
func (r *remoteReplica) replicate(ctx context.Context, epoch, start uint64, produce func(send func([]byte) error) error) error {
	c, err := r.conn(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Replicate(ctx)
	if err != nil {
		return fmt.Errorf("replicate to node %d: %w", r.node, err)
	}
	send := func(b []byte) error {
		req := &journalpb.ReplicateRequest{Segment: Ref(r.id), Epoch: epoch, Batch: b, StartOffset: start}
		if err := stream.Send(req); err != nil {
			return fmt.Errorf("replicate to node %d: send: %w", r.node, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("replicate to node %d: %w", r.node, err)
		}
		if err := rpcerr.FromProto(resp.GetError()); err != nil {
			return fmt.Errorf("replicate to node %d (its log end %d): %w", r.node, resp.GetLogEnd(), err)
		}
		if len(b) > 0 {
			h, _ := recordbatch.DecodeHeader(b) // verified by the reader
			if resp.GetLogEnd() < h.NextOffset() {
				return fmt.Errorf("replicate to node %d: log end %d after batch [%d, %d)", r.node, resp.GetLogEnd(), h.FirstOffset, h.NextOffset())
			}
		}
		return nil
	}
	if produce == nil {
		err = send(nil)
	} else {
		err = produce(send)
	}
	if err != nil {
		return err
	}
	_ = stream.CloseSend()
	return nil
}

func (r *remoteReplica) seal(ctx context.Context, end uint64) error {
	c, err := r.conn(ctx)
	if err != nil {
		return err
	}
	if _, err := c.Seal(ctx, &journalpb.SealRequest{Segment: Ref(r.id), EndOffset: end}); err != nil {
		return fmt.Errorf("seal on node %d at %d: %w", r.node, end, err)
	}
	return nil
}
