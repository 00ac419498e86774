package streamclient

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Producer defaults.
const (
	DefaultMaxInFlight     = 32
	DefaultMaxQueued       = 256
	DefaultDeliveryTimeout = 30 * time.Second
	// DefaultMergeBytes bounds a batch merged from appends queued behind a
	// full in-flight window. It stays well under the journal's default
	// max_batch_bytes (4 MiB) so merging never makes acceptable batches
	// unacceptable.
	DefaultMergeBytes = 1 << 20
	// maxMergeRecords bounds the records of a merged batch (the journal
	// takes up to 100000 by default).
	maxMergeRecords = 4096
	// connectTimeout bounds one metadata lookup and stream open.
	connectTimeout = 5 * time.Second
	minBackoff     = 25 * time.Millisecond
	// stallCheck: an in-flight batch unanswered this long makes the
	// producer ask the placement center whether its segment moved on.
	stallCheck = 2 * time.Second
	// maxBackoff is short because a failover is over in well under a
	// second (fence, seal, roll): a long backoff would be the slowest
	// part of a producer's resumption, and a retry is one cheap request.
	maxBackoff = 250 * time.Millisecond
	// gatherWait bounds how long after an answer a batch about to leave
	// waits for the callers it woke (see gather): well under the
	// sub-millisecond round trip it saves.
	gatherWait = 200 * time.Microsecond
)

// ProducerOptions tunes a Producer. Zero fields take the defaults.
type ProducerOptions struct {
	// MaxInFlight bounds the batches sent to a leader and not yet answered,
	// per partition.
	MaxInFlight int
	// MaxQueued bounds the appends a partition holds (in flight included)
	// before Append blocks.
	MaxQueued int
	// MergeBytes: appends to one partition that queue behind a full
	// in-flight window are merged into one batch of up to this many
	// (estimated) bytes before it is first sent, as Kafka's producer
	// gathers records while its requests are in flight. Each append still
	// gets its own result (its own offsets inside the merged batch), but a
	// merged batch the leader refuses for good fails every append in it.
	// 0 takes DefaultMergeBytes; negative never merges.
	MergeBytes int
	// DeliveryTimeout is a batch's retry deadline when the Append context
	// has none.
	DeliveryTimeout time.Duration
	// ProducerID identifies the producer to the leaders' dedupe tables; 0
	// picks a random 63-bit id. Two live producers must never share one.
	ProducerID uint64
	// Partitioner picks a partition for Send by key; nil: FNV-1a of the
	// key, round robin for a nil key.
	Partitioner func(key []byte, partitions int) int
}

// AppendResult is an acknowledged batch: record i has offset
// FirstOffset+i. Duplicate says a resend found the batch already written;
// OffsetsKnown is false only when the leader no longer remembered its
// offsets.
type AppendResult struct {
	Partition    int
	FirstOffset  uint64
	NextOffset   uint64
	Duplicate    bool
	OffsetsKnown bool
	// Attempts counts the sends of this batch (1 = no resend).
	Attempts int
}

// Producer appends to the partitions of one stream. Safe for concurrent
// use; batches to one partition are written in the order their Append
// (or AppendAsync) calls returned from enqueueing.
type Producer struct {
	c          *Client
	stream     string
	opts       ProducerOptions
	producerID uint64
	parts      []*partWriter
	rr         atomic.Uint64
	closeOnce  sync.Once
	ctx        context.Context // lives until the producer is closed
	cancel     context.CancelFunc
}

// NewProducer returns a producer for every partition of stream.
func (c *Client) NewProducer(ctx context.Context, stream string, opts ProducerOptions) (*Producer, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	n, err := c.partitionCount(ctx, stream)
	if err != nil {
		return nil, err
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.MaxQueued < opts.MaxInFlight {
		opts.MaxQueued = max(DefaultMaxQueued, opts.MaxInFlight)
	}
	if opts.DeliveryTimeout <= 0 {
		opts.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if opts.MergeBytes == 0 {
		opts.MergeBytes = DefaultMergeBytes
	}
	if opts.Partitioner == nil {
		opts.Partitioner = hashPartitioner
	}
	pid := opts.ProducerID
	if pid == 0 {
		pid = RandomProducerID()
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &Producer{c: c, stream: stream, opts: opts, producerID: pid, ctx: pctx, cancel: cancel}
	for i := 0; i < n; i++ {
		w := newPartWriter(p, i)
		p.parts = append(p.parts, w)
		go w.run()
	}
	return p, nil
}

// RandomProducerID returns a random id in [1, 2^63).
func RandomProducerID() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		if id := binary.BigEndian.Uint64(b[:]) >> 1; id > 0 {
			return id
		}
	}
}

func hashPartitioner(key []byte, n int) int {
	h := fnv.New32a()
	_, _ = h.Write(key)
	return int(h.Sum32() % uint32(n))
}

// ProducerID is the id the producer's batches carry.
func (p *Producer) ProducerID() uint64 { return p.producerID }

// Partitions is the stream's partition count.
func (p *Producer) Partitions() int { return len(p.parts) }

// Append writes recs as one batch to a partition and waits for its outcome:
// the offsets, a *TimeoutError when the deadline (ctx's, else
// DeliveryTimeout) passed before a leader acknowledged it, an *AppendError
// when a leader refused it for good, or ErrClosed. When ctx ends first the
// batch stays queued until its deadline (it may still be written) and ctx's
// error is returned.
func (p *Producer) Append(ctx context.Context, partition int, recs []recordbatch.Record) (AppendResult, error) {
	type outcome struct {
		res AppendResult
		err error
	}
	ch := make(chan outcome, 1)
	if err := p.AppendAsync(ctx, partition, recs, func(r AppendResult, err error) { ch <- outcome{r, err} }); err != nil {
		return AppendResult{}, err
	}
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
}

// Send appends recs to the partition the partitioner picks for key.
func (p *Producer) Send(ctx context.Context, key []byte, recs []recordbatch.Record) (AppendResult, error) {
	return p.Append(ctx, p.pick(key), recs)
}

func (p *Producer) pick(key []byte) int {
	if key == nil && len(p.parts) > 0 {
		return int(p.rr.Add(1)-1) % len(p.parts)
	}
	return p.opts.Partitioner(key, len(p.parts))
}

// AppendAsync queues recs as one batch and returns once it is queued
// (blocking while the partition holds MaxQueued appends, until ctx ends or
// the batch's deadline passes). done is
// called exactly once, from the partition's goroutine, with the outcome;
// it must not block. The batch deadline is ctx's deadline, else
// DeliveryTimeout from now.
func (p *Producer) AppendAsync(ctx context.Context, partition int, recs []recordbatch.Record, done func(AppendResult, error)) error {
	if partition < 0 || partition >= len(p.parts) {
		return rpcerr.InvalidArgument("partition", fmt.Sprintf("%d is not in [0, %d)", partition, len(p.parts)))
	}
	if len(recs) == 0 {
		return rpcerr.InvalidArgument("records", "empty batch")
	}
	if len(recs) > recordbatch.DefaultLimits().MaxRecords {
		return rpcerr.InvalidArgument("records", fmt.Sprintf("%d records in one batch, limit %d", len(recs), recordbatch.DefaultLimits().MaxRecords))
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(p.opts.DeliveryTimeout)
	}
	now := time.Now().UnixMilli()
	own := make([]recordbatch.Record, len(recs))
	size := 0
	for i, r := range recs {
		if r.TimestampMs == 0 {
			r.TimestampMs = now
		}
		own[i] = r
		size += recordSizeEstimate(r)
	}
	pe := &pending{recs: own, size: size, members: []member{{n: len(own), deadline: deadline, done: done}}}
	// A full inbox holds the caller until the batch's own deadline at most.
	err := p.parts[partition].box.put(ctx, pe, deadline, p.parts[partition].closing)
	if errors.Is(err, errInboxFull) {
		return &TimeoutError{Partition: partition, Err: err}
	}
	return err
}

// Close stops taking batches and waits until every queued batch has its
// outcome or ctx ends; batches still queued then fail with ErrClosed.
func (p *Producer) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		for _, w := range p.parts {
			close(w.closing)
		}
	})
	var err error
	for _, w := range p.parts {
		select {
		case <-w.stopped:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	p.cancel() // aborts writers still draining
	for _, w := range p.parts {
		<-w.stopped
	}
	return err
}

// recordSizeEstimate is an upper bound of a record's encoded size but for
// its varints' exact widths (at most 10 bytes each).
func recordSizeEstimate(r recordbatch.Record) int {
	n := 30 + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += 20 + len(h.Key) + len(h.Value)
	}
	return n
}

// member is one AppendAsync call's share of a batch: a merged batch
// carries several, in the order of their records.
type member struct {
	n        int // records
	deadline time.Time
	done     func(AppendResult, error)
	// reported: its caller has its outcome (a timeout). The batch stays
	// queued and is resent so the sequence numbers behind it stay
	// contiguous (the leader would refuse a gap); a late outcome is
	// dropped.
	reported bool
}

// pending is one batch from Append to its outcome: the records of one
// AppendAsync call, or of several merged before the batch was first sent.
//
// Invariant: a batch that was sent once (attempts > 0) never changes its
// records, so a resend is byte for byte the batch the leader may already
// have written, and its dedupe table recognises it.
type pending struct {
	recs    []recordbatch.Record
	members []member
	size    int // estimated encoded bytes of recs

	// Set by the partition writer.
	seq      int32
	epoch    uint32
	buf      []byte // encoded at first send; nil after renumbering
	reqID    uint64
	attempts int
	sentAt   time.Time // last send
}

// reported: every caller has its outcome.
func (pe *pending) reported() bool {
	for i := range pe.members {
		if !pe.members[i].reported {
			return false
		}
	}
	return true
}

// deadline is the earliest deadline of a caller still waiting (zero when
// none is).
func (pe *pending) deadline() time.Time {
	var t time.Time
	for i := range pe.members {
		m := &pe.members[i]
		if !m.reported && (t.IsZero() || m.deadline.Before(t)) {
			t = m.deadline
		}
	}
	return t
}

// report gives every caller still waiting its outcome; on success each
// gets the offsets of its own records.
func (pe *pending) report(r AppendResult, err error) {
	first := r.FirstOffset
	for i := range pe.members {
		m := &pe.members[i]
		mine := r
		if err == nil && r.OffsetsKnown {
			mine.FirstOffset, mine.NextOffset = first, first+uint64(m.n)
		}
		first += uint64(m.n)
		if !m.reported {
			m.reported = true
			m.done(mine, err)
		}
	}
}

// expire reports a timeout to every waiting caller whose deadline passed
// and says whether there was one.
func (pe *pending) expire(now time.Time, timeout func() error) bool {
	hit := false
	for i := range pe.members {
		m := &pe.members[i]
		if !m.reported && !now.Before(m.deadline) {
			m.reported = true
			m.done(AppendResult{}, timeout())
			hit = true
		}
	}
	return hit
}

// appendStream is one open Append stream to a segment leader.
type appendStream struct {
	gen    uint64
	seg    *placementpb.Segment
	addr   string
	stream journalpb.JournalService_AppendClient
	cancel context.CancelFunc
	sendCh chan *journalpb.AppendRequest
}

type appendResp struct {
	gen  uint64
	resp *journalpb.AppendResponse
	err  error
}

// partWriter owns one partition's queue and stream; every field below
// "loop state" is touched only by run.
type partWriter struct {
	p         *Producer
	partition int
	shard     string
	box       *inbox // appends handed over by callers
	closing   chan struct{}
	stopped   chan struct{}
	respCh    chan appendResp

	// loop state
	queue    []*pending // unanswered batches in sequence order
	queued   int        // appends (members) in queue
	sent     int        // queue[:sent] are on the current stream
	nextSeq  int32
	epoch    uint32
	nextReq  uint64
	gen      uint64
	cur      *appendStream
	retryAt  time.Time
	backoff  time.Duration
	avoid    *placementpb.Segment // the segment whose leader last failed us
	lastErr  error
	draining bool
	// lastCheck is when a stalled stream's target was last checked.
	lastCheck time.Time
	// woken counts the callers answered since the last send (the last one
	// at wokenAt), arrived the appends taken since the first of those
	// answers (see gather).
	woken, arrived int
	wokenAt        time.Time
}

func newPartWriter(p *Producer, i int) *partWriter {
	return &partWriter{
		p: p, partition: i, shard: PartitionName(p.stream, i),
		box:     newInbox(p.opts.MaxQueued),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		respCh:  make(chan appendResp, 2*p.opts.MaxInFlight+2),
	}
}

func (w *partWriter) run() {
	defer close(w.stopped)
	var notify <-chan struct{}
	if mc := w.p.c.cache; mc != nil {
		ch, unsubscribe := mc.Subscribe()
		defer unsubscribe()
		notify = ch
	}
	closing := w.closing
	for {
		now := time.Now()
		w.expire(now)
		if w.draining && w.allReported() {
			// Refuse later appends; one that raced Close into the inbox
			// is written like the rest before the writer stops.
			if left := w.box.close(); len(left) > 0 {
				for _, pe := range left {
					w.take(pe)
				}
				continue
			}
			w.teardown()
			for _, pe := range w.queue {
				pe.report(AppendResult{}, ErrClosed)
			}
			return
		}
		if w.stalled(now) {
			w.lastCheck = now
			if w.targetMoved(true) {
				w.lastErr = status.Errorf(codes.Unavailable, "streamclient: segment %d of %s moved on while its leader was silent", w.cur.seg.GetSeq(), w.shard)
				w.teardown()
				w.retryAt = time.Time{}
			}
		}
		if w.cur == nil && len(w.queue) > 0 && !now.Before(w.retryAt) {
			w.connect()
		}
		if w.cur != nil {
			if w.sendable() {
				w.gather()
			}
			w.sendMore()
		}

		// Appends are taken while the queue has room (or is stuck, which
		// fails them at once); Close still writes those already handed
		// over.
		stuck := w.stuck()
		w.box.publish(w.queued, stuck)
		var ready chan struct{}
		if w.queued < w.p.opts.MaxQueued || stuck {
			ready = w.box.ready
		}
		var timer *time.Timer
		var timerC <-chan time.Time
		if wake := w.nextWake(); !wake.IsZero() {
			timer = time.NewTimer(time.Until(wake))
			timerC = timer.C
		}
		select {
		case <-ready:
			w.takeInbox()
		case r := <-w.respCh:
			w.handle(r)
		case <-timerC:
		case <-notify:
			if w.cur == nil {
				w.retryAt = time.Time{}
			} else if w.targetMoved(false) {
				w.lastErr = status.Errorf(codes.Unavailable, "streamclient: segment %d of %s moved on (sealed, recovering or a new leader)", w.cur.seg.GetSeq(), w.shard)
				w.teardown()
				w.retryAt = time.Time{}
			}
		case <-closing:
			closing = nil
			w.draining = true
		case <-w.p.ctx.Done():
			w.teardown()
			for _, pe := range w.queue {
				pe.report(AppendResult{}, ErrClosed)
			}
			for _, pe := range w.box.close() {
				pe.report(AppendResult{}, ErrClosed)
			}
			return
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// allReported: nothing left that a caller waits for.
func (w *partWriter) allReported() bool {
	for _, pe := range w.queue {
		if !pe.reported() {
			return false
		}
	}
	return true
}

// nextWake is the earliest of the next unreported deadline and, while
// disconnected, the next connect attempt.
func (w *partWriter) nextWake() time.Time {
	var t time.Time
	for _, pe := range w.queue {
		if d := pe.deadline(); !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	if w.cur != nil && w.sent > 0 {
		check := w.queue[0].sentAt.Add(stallCheck)
		if c := w.lastCheck.Add(stallCheck); c.After(check) {
			check = c
		}
		if t.IsZero() || check.Before(t) {
			t = check
		}
	}
	if w.cur == nil && len(w.queue) > 0 && (t.IsZero() || w.retryAt.Before(t)) {
		t = w.retryAt
		if t.IsZero() {
			t = time.Now()
		}
	}
	return t
}

// stalled: the oldest in-flight batch has waited stallCheck for its answer
// and the target was not checked for as long.
func (w *partWriter) stalled(now time.Time) bool {
	return w.cur != nil && w.sent > 0 && now.Sub(w.queue[0].sentAt) >= stallCheck && now.Sub(w.lastCheck) >= stallCheck
}

// targetMoved reports whether the segment the stream writes to is no
// longer the open one with the same leader and epoch: from the metadata
// cache, or (fresh) the placement center. A leader that is stopped or cut
// off never answers; the metadata is what says it was replaced.
func (w *partWriter) targetMoved(fresh bool) bool {
	cur := w.cur.seg
	var seg *placementpb.Segment
	if mc := w.p.c.cached(); mc != nil && !fresh {
		s, ok := mc.Segment(w.p.c.tenant, w.shard, cur.GetSeq())
		if !ok {
			return false
		}
		seg = s
	} else if fresh {
		ctx, cancel := context.WithTimeout(w.p.ctx, connectTimeout)
		defer cancel()
		_, segs, err := w.p.c.shard(ctx, w.shard, true)
		if err != nil {
			return false
		}
		for _, s := range segs {
			if s.GetSeq() == cur.GetSeq() {
				seg = s
			}
		}
		if seg == nil {
			return true
		}
	} else {
		return false
	}
	return seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN || seg.GetEpoch() != cur.GetEpoch() || seg.GetLeader() != cur.GetLeader()
}

// expire reports every batch whose deadline passed as timed out.
// When the oldest batch expires while in flight, the stream is dropped too:
// a leader that has not answered for a whole deadline is not trusted to,
// and the next attempt asks the placement center afresh.
func (w *partWriter) expire(now time.Time) {
	for i, pe := range w.queue {
		expired := pe.expire(now, func() error {
			err := w.lastErr
			if i < w.sent && err == nil {
				err = status.Errorf(codes.DeadlineExceeded, "streamclient: no answer from the leader at %s", w.cur.addr)
			}
			return &TimeoutError{Partition: w.partition, Attempts: pe.attempts, Err: err}
		})
		if expired && i == 0 && w.sent > 0 {
			w.teardown()
			w.scheduleRetry()
		}
	}
}

// stuck: the oldest batch passed its deadline unacknowledged, so the
// partition has been unwritable for a whole delivery timeout.
func (w *partWriter) stuck() bool { return len(w.queue) > 0 && w.queue[0].reported() }

// add numbers and encodes a new batch. With the queue full of batches a
// stuck partition still holds (timed out, kept for sequence continuity),
// it fails the new batch at once instead of holding its caller for another
// whole deadline; the batch takes no sequence number.
func (w *partWriter) add(pe *pending) {
	if w.queued >= w.p.opts.MaxQueued {
		pe.report(AppendResult{}, &TimeoutError{Partition: w.partition, Err: fmt.Errorf("partition unwritable for longer than a delivery timeout, %d appends unacknowledged: %w", w.queued, w.lastErrOr())})
		return
	}
	if int64(w.nextSeq)+int64(len(pe.recs)) > math.MaxInt32 {
		// The sequence would wrap: a new producer epoch restarts it (the
		// leader takes a higher epoch as a fresh start).
		w.epoch++
		w.nextSeq = 0
	} else if w.merge(pe) {
		return
	}
	w.number(pe)
	w.queue = append(w.queue, pe)
	w.queued++
}

// gather runs just before a batch leaves. When answers since the last
// send have woken more callers than appends have arrived since the first
// of them (appends queued before it do not count: they are not the
// answered callers'; counting them kept 8 and 8 apart for good), it gives
// them until gatherWait after the last answer to hand over their next
// appends (one yield first, which is usually enough), so they merge into
// the batch about to leave. Without it the first append after an answer
// left alone and the other callers waited a whole round trip behind it:
// 16 callers with one request in flight made batches of 8 and 8, two
// fsyncs on every replica where one does. Kafka's producer lingers
// (linger.ms) for the same reason; this waits only for callers it has
// just answered, and never long after an answer (an idle producer's first
// append leaves at once).
func (w *partWriter) gather() {
	defer func() { w.woken, w.arrived = 0, 0 }()
	if w.p.opts.MergeBytes < 0 || w.draining || w.arrived >= w.woken {
		return
	}
	runtime.Gosched()
	var timer *time.Timer
	for w.queued < w.p.opts.MaxQueued {
		if w.takeInbox() > 0 {
			continue
		}
		if w.arrived >= w.woken {
			return
		}
		if timer == nil {
			wait := time.Until(w.wokenAt.Add(gatherWait))
			if wait <= 0 {
				return
			}
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-w.box.ready:
			w.takeInbox()
		case <-timer.C:
			return
		}
	}
}

// takeInbox takes the appends callers handed over, as many as the queue
// has room for (all of them when it is stuck: add fails them at once),
// and reports how many it took.
func (w *partWriter) takeInbox() int {
	n := w.p.opts.MaxQueued - w.queued
	if w.stuck() {
		n = -1
	} else if n <= 0 {
		return 0
	}
	got := w.box.take(n)
	for _, pe := range got {
		w.take(pe)
	}
	return len(got)
}

// take adds an append handed over through the inbox.
func (w *partWriter) take(pe *pending) {
	w.arrived++
	w.add(pe)
}

// merge appends pe's records to the last queued batch when that batch was
// never sent (it waits behind a full window or for a connection), is of
// the current producer epoch, and stays within MergeBytes. Its sequence
// numbers continue the batch's, so the leader sees what it would have
// seen from the two batches sent one after the other.
func (w *partWriter) merge(pe *pending) bool {
	n := len(w.queue)
	if w.p.opts.MergeBytes < 0 || n == 0 || n <= w.sent {
		return false
	}
	last := w.queue[n-1]
	if last.attempts > 0 || last.epoch != w.epoch || last.reported() ||
		len(last.recs)+len(pe.recs) > maxMergeRecords || last.size+pe.size > w.p.opts.MergeBytes {
		return false
	}
	last.recs = append(last.recs, pe.recs...)
	last.members = append(last.members, pe.members...)
	last.size += pe.size
	last.buf = nil
	w.nextSeq += int32(len(pe.recs))
	w.queued++
	return true
}

func (w *partWriter) number(pe *pending) {
	pe.seq, pe.epoch = w.nextSeq, w.epoch
	w.nextSeq += int32(len(pe.recs))
	pe.buf = nil
}

func (w *partWriter) encode(pe *pending) []byte {
	if pe.buf == nil {
		pe.buf = recordbatch.Encode(recordbatch.Batch{
			Header:  recordbatch.Header{ProducerID: w.p.producerID, ProducerEpoch: pe.epoch, BaseSequence: pe.seq},
			Records: pe.recs,
		})
	}
	return pe.buf
}

// resequence restarts the sequence under a new producer epoch for every
// queued batch; used after a batch was refused for good (the leader would
// see a gap) or the leader reported a gap.
func (w *partWriter) resequence() {
	w.epoch++
	w.nextSeq = 0
	for _, pe := range w.queue {
		w.number(pe)
	}
}

func (w *partWriter) connect() {
	ctx, cancel := context.WithTimeout(w.p.ctx, connectTimeout)
	defer cancel()
	seg, addr, err := w.p.c.writeTarget(ctx, w.shard, w.avoid)
	if err == nil {
		var cc journalpb.JournalServiceClient
		cc, err = w.openClient(addr)
		if err == nil {
			sctx, scancel := context.WithCancel(w.p.ctx)
			var stream journalpb.JournalService_AppendClient
			stream, err = openBounded(scancel, func() (journalpb.JournalService_AppendClient, error) { return cc.Append(sctx) })
			if err == nil {
				w.gen++
				w.cur = &appendStream{gen: w.gen, seg: seg, addr: addr, stream: stream, cancel: scancel,
					sendCh: make(chan *journalpb.AppendRequest, w.p.opts.MaxInFlight)}
				go w.receive(sctx, w.gen, stream)
				go send(sctx, stream, w.cur.sendCh)
				return
			}
			scancel()
		}
	}
	w.lastErr = err
	if _, ok := rpcerr.Detail[*commonpb.NotFound](err); ok {
		// The placement center has no such shard: the stream was deleted.
		for _, pe := range w.queue {
			pe.report(AppendResult{}, &AppendError{Partition: w.partition, Err: fmt.Errorf("%w: %w", ErrStreamNotFound, err)})
		}
		w.queue = nil
		w.queued = 0
		return
	}
	w.scheduleRetry()
}

func (w *partWriter) openClient(addr string) (journalpb.JournalServiceClient, error) {
	cc, err := w.p.c.pool.get(addr)
	if err != nil {
		return nil, err
	}
	return journalpb.NewJournalServiceClient(cc), nil
}

func (w *partWriter) receive(ctx context.Context, gen uint64, stream journalpb.JournalService_AppendClient) {
	for {
		resp, err := stream.Recv()
		select {
		case w.respCh <- appendResp{gen: gen, resp: resp, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

func (w *partWriter) scheduleRetry() {
	if w.backoff == 0 {
		w.backoff = minBackoff
	} else {
		w.backoff = min(2*w.backoff, maxBackoff)
	}
	w.retryAt = time.Now().Add(w.backoff)
}

// teardown drops the current stream; unanswered batches are resent on the
// next one.
func (w *partWriter) teardown() {
	if w.cur == nil {
		return
	}
	w.cur.cancel()
	w.avoid = w.cur.seg
	w.cur = nil
	w.sent = 0
	w.gen++
}

// sendMore hands batches to the stream's sender goroutine up to the
// in-flight window; it never blocks (the channel holds a whole window), so
// a leader that stops reading cannot stall deadlines or new appends.
func (w *partWriter) sendMore() {
	for w.sendable() {
		pe := w.queue[w.sent]
		w.nextReq++
		pe.reqID = w.nextReq
		pe.attempts++
		pe.sentAt = time.Now()
		w.cur.sendCh <- &journalpb.AppendRequest{
			RequestId: pe.reqID, Segment: segRef(w.cur.seg), Epoch: w.cur.seg.GetEpoch(), Batch: w.encode(pe),
		}
		w.sent++
	}
}

// sendable: a queued batch is not yet on the stream and the window has
// room for it.
func (w *partWriter) sendable() bool {
	return w.sent < len(w.queue) && w.sent < w.p.opts.MaxInFlight
}

// send writes requests to one stream. A failed Send ends it quietly: the
// stream's status arrives through Recv (and a leader that never answers is
// dropped when the oldest batch's deadline passes).
func send(ctx context.Context, stream journalpb.JournalService_AppendClient, ch <-chan *journalpb.AppendRequest) {
	for {
		select {
		case req := <-ch:
			if err := stream.Send(req); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (w *partWriter) handle(r appendResp) {
	if w.cur == nil || r.gen != w.cur.gen {
		return // a stream already dropped
	}
	if r.err != nil {
		w.lastErr = r.err
		w.teardown()
		w.scheduleRetry()
		return
	}
	if w.sent == 0 || r.resp.GetRequestId() != w.queue[0].reqID {
		w.lastErr = status.Errorf(codes.Internal, "streamclient: leader %s answered request %d, expected %d", w.cur.addr, r.resp.GetRequestId(), w.headReq())
		w.teardown()
		w.scheduleRetry()
		return
	}
	head := w.queue[0]
	err := rpcerr.FromProto(r.resp.GetError())
	if err == nil {
		w.pop()
		w.backoff = 0
		w.avoid = nil
		first, next := r.resp.GetFirstOffset(), r.resp.GetNextOffset()
		known := next-first == uint64(len(head.recs)) && next > first
		if w.woken == 0 {
			w.arrived = 0 // count what the answered callers hand over
		}
		w.woken += len(head.members)
		w.wokenAt = time.Now()
		head.report(AppendResult{Partition: w.partition, FirstOffset: first, NextOffset: next,
			Duplicate: r.resp.GetDuplicate(), OffsetsKnown: known, Attempts: head.attempts}, nil)
		return
	}
	w.lastErr = err
	switch classifyAppend(err) {
	case actRetry:
		w.teardown()
		w.scheduleRetry()
	case actResequence:
		// The leader saw a gap before head: restart the sequence.
		w.teardown()
		w.resequence()
		w.retryAt = time.Time{}
	case actStaleEpoch:
		if head.epoch < w.epoch {
			// A later batch of ours, under the newer epoch, was written:
			// so was this one, at offsets the leader no longer ties to us.
			w.pop()
			head.report(AppendResult{Partition: w.partition, Duplicate: true, Attempts: head.attempts}, nil)
			return
		}
		w.failHead(err)
	case actFail:
		w.failHead(err)
	}
}

func (w *partWriter) lastErrOr() error {
	if w.lastErr == nil {
		return errors.New("no answer from the leader")
	}
	return w.lastErr
}

func (w *partWriter) headReq() uint64 {
	if len(w.queue) == 0 {
		return 0
	}
	return w.queue[0].reqID
}

// failHead reports the head as refused; the batches behind it were sent
// with sequence numbers that now leave a gap, so they are renumbered under
// a new producer epoch and resent.
func (w *partWriter) failHead(err error) {
	head := w.pop()
	head.report(AppendResult{}, &AppendError{Partition: w.partition, Err: err})
	w.teardown()
	w.resequence()
	w.retryAt = time.Time{}
}

func (w *partWriter) pop() *pending {
	head := w.queue[0]
	w.queue[0] = nil
	w.queue = w.queue[1:]
	w.queued -= len(head.members)
	if w.sent > 0 {
		w.sent--
	}
	// Before head's callers hear of it: those that append again find the
	// room it leaves.
	w.box.publish(w.queued, w.stuck())
	return head
}
