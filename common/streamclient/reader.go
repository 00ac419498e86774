package streamclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// DefaultReadMaxBytes bounds one Read response when ReaderOptions.MaxBytes
// is 0.
const DefaultReadMaxBytes = 1 << 20

type positionKind int

const (
	posEarliest positionKind = iota
	posLatest
	posOffset
	posTimestamp
)

// Position is where a Reader starts.
type Position struct {
	kind   positionKind
	offset uint64
	tsMs   int64
}

// Earliest is the first offset the partition still holds.
func Earliest() Position { return Position{kind: posEarliest} }

// Latest is the partition's committed end (LAC) when the reader starts:
// only records written afterwards are read.
func Latest() Position { return Position{kind: posLatest} }

// AtOffset starts at an offset.
func AtOffset(o uint64) Position { return Position{kind: posOffset, offset: o} }

// AtTimestamp starts at the first record whose timestamp is at or after
// ms (Unix milliseconds).
func AtTimestamp(ms int64) Position { return Position{kind: posTimestamp, tsMs: ms} }

func (p Position) String() string {
	switch p.kind {
	case posEarliest:
		return "earliest"
	case posLatest:
		return "latest"
	case posOffset:
		return fmt.Sprintf("offset %d", p.offset)
	default:
		return fmt.Sprintf("timestamp %d", p.tsMs)
	}
}

// ReaderOptions tunes a Reader.
type ReaderOptions struct {
	Start Position
	// Follow keeps reading as records are appended; without it Next
	// returns ErrCaughtUp at the committed end.
	Follow bool
	// MaxBytes bounds one Read response (default 1 MiB).
	MaxBytes uint32
}

// Message is one record with its offset.
type Message struct {
	Partition int
	Offset    uint64
	recordbatch.Record
}

// Reader reads one partition in offset order. Not safe for concurrent use.
type Reader struct {
	c         *Client
	shard     string
	partition int
	opts      ReaderOptions

	started bool
	next    uint64 // the first offset not delivered yet
	tsMs    int64  // > 0 until the first record at or after it is found
	// minSeq is the lowest segment worth reading: past a sealed end the
	// reader never goes back to that segment, even when the metadata it
	// sees lags the seal.
	minSeq uint32

	cur      *readStream
	failures int
	lastErr  error
	closed   bool
}

type readStream struct {
	seg    *placementpb.Segment
	node   uint64
	ch     chan readResp
	cancel context.CancelFunc
}

type readResp struct {
	resp *journalpb.ReadResponse
	err  error
}

// NewReader returns a reader of one partition of stream. It connects on
// the first Next.
func (c *Client) NewReader(stream string, partition int, opts ReaderOptions) (*Reader, error) {
	if err := ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if partition < 0 {
		return nil, fmt.Errorf("streamclient: negative partition %d", partition)
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultReadMaxBytes
	}
	return &Reader{c: c, shard: PartitionName(stream, partition), partition: partition, opts: opts}, nil
}

// Position is the next offset Next will deliver (meaningful once Next
// returned records or the start was resolved).
func (r *Reader) Position() uint64 { return r.next }

// Close ends the reader's stream.
func (r *Reader) Close() error {
	r.closeStream()
	r.closed = true
	return nil
}

func (r *Reader) closeStream() {
	if r.cur != nil {
		r.cur.cancel()
		r.cur = nil
	}
}

// Next returns the next records (at least one), in offset order, each
// exactly once. It retries transient failures (another replica, fresh
// metadata) until ctx ends, then returns ctx's error wrapped with the last
// failure. Other errors: ErrCaughtUp (no Follow), *OffsetOutOfRangeError,
// ErrStreamNotFound, ErrClosed.
func (r *Reader) Next(ctx context.Context) ([]Message, error) {
	for {
		if r.closed {
			return nil, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			if r.lastErr != nil {
				return nil, fmt.Errorf("%w (last failure: %v)", err, r.lastErr)
			}
			return nil, err
		}
		if r.cur == nil {
			if err := r.open(ctx); err != nil {
				if errors.Is(err, ErrOffsetOutOfRange) || errors.Is(err, ErrStreamNotFound) || errors.Is(err, ErrClosed) {
					return nil, err
				}
				r.fail(ctx, err)
				continue
			}
		}
		var rr readResp
		check := time.NewTimer(readCheck)
		select {
		case rr = <-r.cur.ch:
			check.Stop()
		case <-ctx.Done():
			check.Stop()
			continue
		case <-check.C:
			// Silence is normal while following an open segment; not when
			// the segment is sealed (its data is there to send) or was
			// taken from this replica's leadership: then this replica is
			// stopped or cut off, and another one is tried.
			if r.readStalled(ctx) {
				err := status.Errorf(codes.DeadlineExceeded, "streamclient: replica %d sent nothing for %v on segment %s/%d", r.cur.node, readCheck, r.shard, r.cur.seg.GetSeq())
				r.closeStream()
				r.fail(ctx, err)
			}
			continue
		}
		if rr.err == io.EOF {
			r.closeStream()
			if !r.opts.Follow {
				return nil, ErrCaughtUp
			}
			continue // the server ended a follow stream (shutdown): reopen
		}
		if rr.err != nil {
			r.closeStream()
			if status.Code(rr.err) == codes.OutOfRange {
				if err := r.outOfRange(ctx, rr.err); err != nil {
					return nil, err
				}
			}
			r.fail(ctx, rr.err)
			continue
		}
		msgs, err := r.deliver(rr.resp)
		if err != nil {
			// A batch that does not decode is a replica's problem: try
			// another one from the first offset not delivered (the
			// records decoded before it are delivered now).
			r.closeStream()
			r.failures++
			r.lastErr = err
			if len(msgs) > 0 {
				return msgs, nil
			}
			r.fail(ctx, err)
			continue
		}
		if rr.resp.GetSealed() {
			end := rr.resp.GetSealedEnd()
			seq := r.cur.seg.GetSeq()
			r.closeStream()
			if r.tsMs > 0 || r.next >= end {
				r.minSeq = max(r.minSeq, seq+1)
			} else {
				// The replica said sealed before giving us everything up to
				// the end: read the rest elsewhere.
				r.fail(ctx, status.Errorf(codes.DataLoss, "replica sealed at %d but delivered only up to %d", end, r.next))
			}
		}
		if len(msgs) > 0 {
			r.failures = 0
			r.lastErr = nil
			return msgs, nil
		}
	}
}

// readCheck is how long a Read stream may stay silent before the reader
// asks whether it should (see readStalled).
const readCheck = 2 * time.Second

// readStalled: the current stream has been silent for readCheck and the
// metadata says it should not be (the segment is sealed, or no longer led
// by the node read from).
func (r *Reader) readStalled(ctx context.Context) bool {
	seg := r.cur.seg
	if seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN {
		return true
	}
	_, segs, err := r.c.shard(ctx, r.shard, false)
	if err != nil {
		return false
	}
	for _, s := range segs {
		if s.GetSeq() == seg.GetSeq() {
			return s.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN || s.GetLeader() != seg.GetLeader() || s.GetEpoch() != seg.GetEpoch()
		}
	}
	return true
}

// fail records a transient failure and pauses before the next attempt.
func (r *Reader) fail(ctx context.Context, err error) {
	r.lastErr = err
	r.failures++
	d := min(time.Duration(r.failures)*minBackoff*2, maxBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// outOfRange turns a replica's OutOfRange into a caller error when the
// offset is below what the partition still holds.
func (r *Reader) outOfRange(ctx context.Context, cause error) error {
	_, segs, err := r.c.shard(ctx, r.shard, true)
	if err != nil || len(segs) == 0 {
		return nil
	}
	if earliest := segs[0].GetStartOffset(); r.next < earliest {
		return &OffsetOutOfRangeError{Partition: r.partition, Offset: r.next, Earliest: earliest}
	}
	_ = cause
	return nil
}

// deliver decodes a response into the records not yet delivered.
func (r *Reader) deliver(resp *journalpb.ReadResponse) ([]Message, error) {
	var out []Message
	for _, buf := range resp.GetBatches() {
		b, err := recordbatch.Decode(buf, recordbatch.Limits{})
		if err != nil {
			return out, fmt.Errorf("streamclient: bad batch from the journal: %w", err)
		}
		for i, rec := range b.Records {
			off := b.FirstOffset + uint64(i)
			if r.tsMs > 0 {
				if rec.TimestampMs < r.tsMs {
					r.next = off + 1
					continue
				}
				r.tsMs = 0
			} else if off < r.next {
				continue
			}
			out = append(out, Message{Partition: r.partition, Offset: off, Record: rec})
			r.next = off + 1
		}
	}
	return out, nil
}

// open resolves the start (once) and opens a Read stream on a replica of
// the segment holding the next offset.
func (r *Reader) open(ctx context.Context) error {
	fresh := r.failures > 0
	for {
		seg, err := r.pickSegment(ctx, fresh)
		if err != nil {
			return err
		}
		if seg != nil {
			return r.openOn(ctx, seg, fresh)
		}
		if fresh {
			return status.Errorf(codes.Unavailable, "no segment of %s holds offset %d yet", r.shard, r.next)
		}
		fresh = true
	}
}

// pickSegment returns the segment to read next (nil: the metadata does not
// show it yet), resolving the start position on first use.
func (r *Reader) pickSegment(ctx context.Context, fresh bool) (*placementpb.Segment, error) {
	sh, segs, err := r.c.shard(ctx, r.shard, fresh)
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, fmt.Errorf("%w: %w", ErrStreamNotFound, err)
		}
		return nil, err
	}
	if len(segs) == 0 {
		return nil, status.Errorf(codes.Unavailable, "shard %s has no segments", r.shard)
	}
	if !r.started {
		if err := r.start(ctx, sh, segs); err != nil {
			return nil, err
		}
	}
	if r.tsMs == 0 && r.next < segs[0].GetStartOffset() {
		return nil, &OffsetOutOfRangeError{Partition: r.partition, Offset: r.next, Earliest: segs[0].GetStartOffset()}
	}
	var later []*placementpb.Segment
	for _, s := range segs {
		if s.GetSeq() >= r.minSeq {
			later = append(later, s)
		}
	}
	if len(later) == 0 {
		return nil, nil
	}
	if r.tsMs > 0 {
		return later[0], nil
	}
	return segmentFor(later, r.next), nil
}

func (r *Reader) openOn(ctx context.Context, seg *placementpb.Segment, fresh bool) error {
	order := replicaOrder(seg, 0)
	if len(order) == 0 {
		return status.Errorf(codes.Unavailable, "segment %s/%d has no replicas", r.shard, seg.GetSeq())
	}
	// After failures, walk the replicas (the leader first on a clean
	// start, which sees the live LAC).
	node := order[(r.failures)%len(order)]
	j, _, err := r.c.journal(ctx, node, fresh)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.Background())
	req := &journalpb.ReadRequest{Segment: segRef(seg), FromOffset: r.next, MaxBytes: r.opts.MaxBytes, Follow: r.opts.Follow}
	if r.tsMs > 0 {
		req.FromTimestampMs = r.tsMs
	}
	stream, err := openBounded(cancel, func() (journalpb.JournalService_ReadClient, error) { return j.Read(sctx, req) })
	if err != nil {
		cancel()
		return err
	}
	rs := &readStream{seg: seg, node: node, ch: make(chan readResp, 1), cancel: cancel}
	go func() {
		for {
			resp, err := stream.Recv()
			select {
			case rs.ch <- readResp{resp, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	r.cur = rs
	return nil
}

// segmentFor returns the segment holding offset o: a sealed one with
// start <= o < end, or the open (last) one with start <= o.
func segmentFor(segs []*placementpb.Segment, o uint64) *placementpb.Segment {
	for i, s := range segs {
		last := i == len(segs)-1
		if o < s.GetStartOffset() {
			continue
		}
		if s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED || s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_DELETING {
			if o < s.GetEndOffset() {
				return s
			}
			if last {
				return nil // sealed and no successor listed yet
			}
			continue
		}
		return s
	}
	return nil
}

func (r *Reader) start(ctx context.Context, sh *placementpb.Shard, segs []*placementpb.Segment) error {
	switch r.opts.Start.kind {
	case posEarliest:
		r.next = segs[0].GetStartOffset()
	case posOffset:
		r.next = r.opts.Start.offset
	case posTimestamp:
		r.tsMs = max(r.opts.Start.tsMs, 1)
		r.next = segs[0].GetStartOffset()
	case posLatest:
		seg := activeSegment(sh, segs)
		if seg.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
			r.next = seg.GetEndOffset()
			break
		}
		st, err := r.c.DescribeSegment(ctx, seg)
		if err != nil {
			return err
		}
		r.next = max(st.GetLac(), seg.GetStartOffset())
		if st.GetSealed() {
			r.next = st.GetSealedEnd()
		}
	}
	r.started = true
	return nil
}
