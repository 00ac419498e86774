package server

import (
	"context"
	"io"
	"math"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/replication"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// Defaults of Options.
const (
	DefaultReadBytes = 1 << 20
	// DefaultPipeline bounds the appends of one stream accepted but not yet
	// acknowledged; a writer past it waits (backpressure).
	DefaultPipeline = 1024
	// DefaultFollowPoll bounds one long-poll wait of a following reader,
	// so a change nobody notified is still seen.
	DefaultFollowPoll = time.Second
)

// Options configures a Server.
type Options struct {
	Store    *segstore.Store
	Manager  *replication.Manager
	Follower *replication.Follower
	// MaxReadBytes caps one Read/ReadReplica response (the send limit
	// minus room for framing); 0 means 4 MiB.
	MaxReadBytes int
	Pipeline     int
	FollowPoll   time.Duration
	Metrics      *Metrics
	// Ready, when set, gates Append: an error (metadata not loaded yet)
	// is answered in-band instead of a misleading NotFound.
	Ready func() error
	// Done, when closed, ends Append and following Read streams with
	// Unavailable so a graceful stop does not wait for them.
	Done   <-chan struct{}
	Logger zerolog.Logger
}

// Server implements journalpb.JournalServiceServer.
type Server struct {
	journalpb.UnimplementedJournalServiceServer
	o       Options
	changes *replication.Changes
}

// New returns the service.
func New(o Options) *Server {
	if o.MaxReadBytes <= 0 {
		o.MaxReadBytes = 4 << 20
	}
	if o.Pipeline <= 0 {
		o.Pipeline = DefaultPipeline
	}
	if o.FollowPoll <= 0 {
		o.FollowPoll = DefaultFollowPoll
	}
	if o.Metrics == nil {
		o.Metrics, _ = NewMetrics(nil)
	}
	return &Server{o: o, changes: o.Manager.Changes()}
}

type pending struct {
	reqID    uint64
	received time.Time
	ack      replication.Ack
	bytes    int
	err      error
}

// streamContext is the stream's context, also cancelled when the server
// stops (Options.Done), so long-lived streams do not hold a graceful stop.
func (s *Server) streamContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	if s.o.Done != nil {
		go func() {
			select {
			case <-s.o.Done:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// endErr is the status a stream ends with when ctx ended.
func (s *Server) endErr(ctx context.Context) error {
	if s.o.Done != nil {
		select {
		case <-s.o.Done:
			return status.Error(codes.Unavailable, "journal node stopping")
		default:
		}
	}
	return status.FromContextError(ctx.Err()).Err()
}

// Append is the pipelined writer stream: requests are checked and written
// locally as they arrive (a receiving goroutine), and answered in order
// once the LAC covers them (this goroutine).
func (s *Server) Append(stream journalpb.JournalService_AppendServer) error {
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	queue := make(chan pending, s.o.Pipeline)
	recvErr := make(chan error, 1)
	go func() {
		defer close(queue)
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			p := pending{reqID: req.GetRequestId(), received: time.Now(), bytes: len(req.GetBatch())}
			if s.o.Ready != nil {
				p.err = s.o.Ready()
			}
			if p.err == nil {
				p.ack, p.err = s.o.Manager.Append(ctx, req)
			}
			select {
			case queue <- p:
			case <-ctx.Done():
				recvErr <- ctx.Err()
				return
			}
		}
	}()
	for {
		select {
		case p, ok := <-queue:
			if !ok {
				err := <-recvErr
				if err == io.EOF {
					return nil
				}
				if ctx.Err() != nil {
					return s.endErr(ctx)
				}
				return err
			}
			if err := stream.Send(s.answer(ctx, p)); err != nil {
				return err
			}
		case <-ctx.Done():
			return s.endErr(ctx)
		}
	}
}

// answer waits for p's acknowledgement and builds its response.
func (s *Server) answer(ctx context.Context, p pending) *journalpb.AppendResponse {
	resp := &journalpb.AppendResponse{RequestId: p.reqID}
	err := p.err
	if err == nil {
		err = p.ack.Wait(ctx)
	}
	if err != nil {
		resp.Error = rpcerr.ToProto(err)
		s.o.Metrics.appendErrors.WithLabelValues(status.Code(err).String()).Inc()
		return resp
	}
	resp.FirstOffset, resp.NextOffset, resp.Duplicate = p.ack.First, p.ack.Next, p.ack.Duplicate
	if !p.ack.Duplicate {
		s.o.Metrics.appendBytes.Add(float64(p.bytes))
		s.o.Metrics.appendRecords.Add(float64(p.ack.Records))
	}
	s.o.Metrics.appendLatency.Observe(time.Since(p.received).Seconds())
	return resp
}

// readView is what a reader of the local replica may see.
type readView struct {
	st    segstore.SegmentState
	bound uint64 // batches below it are committed
	// sealed: the segment ends at sealedEnd, locally or in placement.
	sealed    bool
	sealedEnd uint64
}

// readBound is how far a reader of the local replica may go: the sealed
// end, else the LAC (the live one when this node leads the segment). A
// replica placement already sealed at E but not yet sealed locally
// (reconcile has not run yet) serves up to min(E, log end): everything
// below a placement seal is committed, and every replica holds the same
// batches below it (one writer per segment).
func (s *Server) readBound(id segstore.SegmentID) (readView, error) {
	st, err := s.o.Store.Describe(id)
	if err != nil {
		return readView{}, replication.StoreError(id, err)
	}
	if st.Sealed {
		return readView{st: st, bound: st.SealedEnd, sealed: true, sealedEnd: st.SealedEnd}, nil
	}
	v := readView{st: st, bound: st.LAC}
	if lac, ok := s.o.Manager.LAC(id); ok && lac > v.bound {
		v.bound = lac
	}
	if end, ok := s.o.Manager.PlacementSealedEnd(id); ok && end >= st.StartOffset {
		v.sealed, v.sealedEnd = true, end
		v.bound = max(v.bound, min(end, st.LogEnd))
	}
	return v, nil
}

func (s *Server) readLimit(req uint32) int {
	n := int(req)
	if n <= 0 {
		n = DefaultReadBytes
	}
	return min(n, s.o.MaxReadBytes)
}

// Read streams committed batches (see the package doc).
func (s *Server) Read(req *journalpb.ReadRequest, stream journalpb.JournalService_ReadServer) error {
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	id, err := replication.SegmentID(req.GetSegment())
	if err != nil {
		return err
	}
	maxBytes := s.readLimit(req.GetMaxBytes())
	from := req.GetFromOffset()
	if ts := req.GetFromTimestampMs(); ts != 0 {
		if from, err = s.o.Store.FindOffsetByTime(id, ts); err != nil {
			return replication.StoreError(id, err)
		}
	}
	sent := false
	for {
		wake := s.changes.Wait(id)
		v, err := s.readBound(id)
		if err != nil {
			return err
		}
		bound := v.bound
		batches, err := s.o.Store.Read(id, from, maxBytes, bound)
		if err != nil {
			return replication.StoreError(id, err)
		}
		if len(batches) > 0 {
			resp := &journalpb.ReadResponse{Lac: bound, Batches: make([][]byte, len(batches))}
			var bytes, records int
			for i, b := range batches {
				resp.Batches[i] = b.Data
				bytes += len(b.Data)
				records += int(b.Header.Count)
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
			s.o.Metrics.readBytes.Add(float64(bytes))
			s.o.Metrics.readRecords.Add(float64(records))
			from = batches[len(batches)-1].Header.NextOffset()
			sent = true
			continue
		}
		if v.sealed && from >= v.sealedEnd {
			return stream.Send(&journalpb.ReadResponse{Lac: v.sealedEnd, Sealed: true, SealedEnd: v.sealedEnd})
		}
		if !req.GetFollow() {
			if !sent {
				return stream.Send(&journalpb.ReadResponse{Lac: bound})
			}
			return nil
		}
		t := time.NewTimer(s.o.FollowPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return s.endErr(ctx)
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Fence raises a replica's fence epoch and reports its log end.
func (s *Server) Fence(ctx context.Context, req *journalpb.FenceRequest) (*journalpb.FenceResponse, error) {
	id, err := replication.SegmentID(req.GetSegment())
	if err != nil {
		return nil, err
	}
	if req.GetEpoch() == 0 {
		return nil, rpcerr.InvalidArgument("epoch", "must be positive")
	}
	logEnd, err := s.o.Store.Fence(id, req.GetEpoch())
	if err != nil {
		return nil, replication.StoreError(id, err)
	}
	s.o.Manager.Fenced(id, req.GetEpoch())
	s.changes.Notify(id)
	st, err := s.o.Store.Describe(id)
	if err != nil {
		return nil, replication.StoreError(id, err)
	}
	return &journalpb.FenceResponse{LogEnd: logEnd, Lac: st.LAC}, nil
}

// Seal seals a replica at end_offset, trimming a tail past it.
func (s *Server) Seal(ctx context.Context, req *journalpb.SealRequest) (*journalpb.SealResponse, error) {
	id, err := replication.SegmentID(req.GetSegment())
	if err != nil {
		return nil, err
	}
	if err := s.o.Store.Seal(id, req.GetEndOffset()); err != nil {
		return nil, replication.StoreError(id, err)
	}
	s.o.Manager.Sealed(id, req.GetEndOffset())
	s.changes.Notify(id)
	return &journalpb.SealResponse{}, nil
}

// Replicate is the follower side of the leader's stream: one response per
// request, in order; errors in-band. It ends with Unavailable when the
// server stops (the leader reconnects elsewhere or later).
//
// Requests are applied in groups: every request already received when the
// previous group is done (up to replicateGroup) is applied without sync,
// then one fsync covers the group and its responses go out together, so a
// leader with many batches in flight costs the follower one fsync per
// group rather than per batch.
func (s *Server) Replicate(stream journalpb.JournalService_ReplicateServer) error {
	ctx, cancel := s.streamContext(stream.Context())
	defer cancel()
	reqs := make(chan *journalpb.ReplicateRequest, replicateGroup)
	var recvErr error // set before reqs is closed
	go func() {
		defer close(reqs)
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr = err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				recvErr = ctx.Err()
				return
			}
		}
	}()
	group := make([]*journalpb.ReplicateRequest, 0, replicateGroup)
	for {
		var req *journalpb.ReplicateRequest
		var ok bool
		select {
		case req, ok = <-reqs:
		case <-ctx.Done():
			return s.endErr(ctx)
		}
		if !ok {
			if recvErr == io.EOF {
				return nil
			}
			if ctx.Err() != nil {
				return s.endErr(ctx)
			}
			return recvErr
		}
		group = append(group[:0], req)
	fill:
		for len(group) < replicateGroup {
			select {
			case req, ok := <-reqs:
				if !ok {
					break fill // the closed channel is seen again above
				}
				group = append(group, req)
			default:
				break fill
			}
		}
		for _, resp := range s.o.Follower.ApplyGroup(group) {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
		clear(group)
	}
}

// replicateGroup bounds the requests of one Replicate stream applied under
// one fsync.
const replicateGroup = 256

// Describe reports the local replica's state.
func (s *Server) Describe(ctx context.Context, req *journalpb.DescribeRequest) (*journalpb.DescribeResponse, error) {
	id, err := replication.SegmentID(req.GetSegment())
	if err != nil {
		return nil, err
	}
	// The local replica's own state (recovery and reconcile act on it),
	// with the live LAC when this node leads the segment.
	st, err := s.o.Store.Describe(id)
	if err != nil {
		return nil, replication.StoreError(id, err)
	}
	lac := st.LAC
	if l, ok := s.o.Manager.LAC(id); ok && l > lac && !st.Sealed {
		lac = l
	}
	return &journalpb.DescribeResponse{
		Segment: replication.Ref(id), StartOffset: st.StartOffset, LogEnd: st.LogEnd, Lac: lac,
		FenceEpoch: st.FenceEpoch, Sealed: st.Sealed, SealedEnd: st.SealedEnd, Bytes: st.Bytes,
	}, nil
}

// ReadReplica streams the replica's batches in [from_offset, to_offset)
// regardless of the LAC (to_offset 0: up to the log end), then ends.
func (s *Server) ReadReplica(req *journalpb.ReadReplicaRequest, stream journalpb.JournalService_ReadReplicaServer) error {
	id, err := replication.SegmentID(req.GetSegment())
	if err != nil {
		return err
	}
	to := req.GetToOffset()
	if to == 0 {
		to = math.MaxUint64
	}
	if to < req.GetFromOffset() {
		return rpcerr.InvalidArgument("to_offset", "below from_offset")
	}
	from := req.GetFromOffset()
	for {
		batches, err := s.o.Store.Read(id, from, s.o.MaxReadBytes, to)
		if err != nil {
			return replication.StoreError(id, err)
		}
		if len(batches) == 0 {
			return nil
		}
		resp := &journalpb.ReadResponse{Batches: make([][]byte, len(batches))}
		for i, b := range batches {
			resp.Batches[i] = b.Data
		}
		if st, err := s.o.Store.Describe(id); err == nil {
			resp.Lac = st.LAC
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		from = batches[len(batches)-1].Header.NextOffset()
		if from >= to {
			return nil
		}
		if err := stream.Context().Err(); err != nil {
			return status.FromContextError(err).Err()
		}
	}
}
