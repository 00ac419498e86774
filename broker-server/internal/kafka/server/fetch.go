package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/auth"
	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/wire"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Bounds of the per-connection partition readers.
const (
	fetcherBufferBytes = 2 << 20
	fetcherIdle        = 30 * time.Second
	maxFetchers        = 1024
	maxFetchWait       = 30 * time.Second
)

type tp struct {
	topic     string
	partition int
}

// fetchState holds one connection's partition readers: each follows its
// partition from the offset the client last fetched and keeps up to
// fetcherBufferBytes read ahead, so a Fetch answers from memory and a long
// poll wakes as soon as records arrive.
type fetchState struct {
	s        *Server
	mu       sync.Mutex
	fetchers map[tp]*fetcher
}

func newFetchState(s *Server) *fetchState { return &fetchState{s: s, fetchers: map[tp]*fetcher{}} }

func (fs *fetchState) close() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for k, f := range fs.fetchers {
		f.stop()
		delete(fs.fetchers, k)
	}
}

type fetcher struct {
	key    tp
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	buf      []streamclient.Message
	bufBytes int
	next     uint64 // the offset after the last buffered record
	err      error  // terminal: out of range, stream gone
	signal   chan struct{}
	space    chan struct{}
	lastUsed time.Time
}

func msgSize(m *streamclient.Message) int {
	n := len(m.Key) + len(m.Value) + 24
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 4
	}
	return n
}

func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

func (f *fetcher) run(ctx context.Context, c *streamclient.Client, log func(error)) {
	defer close(f.done)
	r, err := c.NewReader(f.key.topic, f.key.partition, streamclient.ReaderOptions{Start: streamclient.AtOffset(f.next), Follow: true})
	if err != nil {
		f.fail(err)
		return
	}
	defer func() { _ = r.Close() }()
	for {
		f.mu.Lock()
		for f.bufBytes >= fetcherBufferBytes {
			sp := f.space
			f.mu.Unlock()
			select {
			case <-sp:
			case <-ctx.Done():
				return
			}
			f.mu.Lock()
		}
		f.mu.Unlock()
		msgs, err := r.Next(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if errors.Is(err, streamclient.ErrOffsetOutOfRange) || errors.Is(err, streamclient.ErrStreamNotFound) {
				f.fail(err)
				return
			}
			log(err)
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		f.mu.Lock()
		for _, m := range msgs {
			if m.Offset != f.next {
				continue // never a gap or a repeat in what a fetch returns
			}
			f.buf = append(f.buf, m)
			f.bufBytes += msgSize(&m)
			f.next = m.Offset + 1
		}
		close(f.signal)
		f.signal = make(chan struct{})
		f.mu.Unlock()
	}
}

func (f *fetcher) fail(err error) {
	f.mu.Lock()
	f.err = err
	close(f.signal)
	f.signal = make(chan struct{})
	f.mu.Unlock()
}

// take returns the buffered records from offset on, at most maxBytes
// (but at least one record when allowed), dropping older ones; ok is false
// when offset is outside what this fetcher can serve.
func (f *fetcher) take(offset uint64, maxBytes int, atLeastOne bool) (msgs []streamclient.Message, hwm uint64, err error, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastUsed = time.Now()
	if f.err != nil {
		return nil, f.next, f.err, true
	}
	start := f.next - uint64(len(f.buf))
	if offset < start || offset > f.next {
		return nil, 0, nil, false
	}
	drop := int(offset - start)
	if drop > 0 {
		for i := 0; i < drop; i++ {
			f.bufBytes -= msgSize(&f.buf[i])
		}
		f.buf = append([]streamclient.Message(nil), f.buf[drop:]...)
		close(f.space)
		f.space = make(chan struct{})
	}
	size := 0
	for i := range f.buf {
		sz := msgSize(&f.buf[i])
		if size+sz > maxBytes && !(atLeastOne && i == 0) {
			break
		}
		size += sz
		msgs = append(msgs, f.buf[i])
	}
	return msgs, f.next, nil, true
}

// fetcher returns the reader of a partition positioned to serve offset.
func (fs *fetchState) fetcher(key tp, offset uint64) *fetcher {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	now := time.Now()
	for k, f := range fs.fetchers {
		f.mu.Lock()
		idle := now.Sub(f.lastUsed) > fetcherIdle
		f.mu.Unlock()
		if idle && k != key {
			f.stop()
			delete(fs.fetchers, k)
		}
	}
	if f := fs.fetchers[key]; f != nil {
		f.mu.Lock()
		start := f.next - uint64(len(f.buf))
		fits := f.err == nil && offset >= start && offset <= f.next
		f.mu.Unlock()
		if fits {
			return f
		}
		f.stop()
		delete(fs.fetchers, key)
	}
	if len(fs.fetchers) >= maxFetchers {
		for k, f := range fs.fetchers {
			f.stop()
			delete(fs.fetchers, k)
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fetcher{key: key, cancel: cancel, done: make(chan struct{}), next: offset,
		signal: make(chan struct{}), space: make(chan struct{}), lastUsed: now}
	fs.fetchers[key] = f
	log := func(err error) {
		fs.s.log.Debug().Err(err).Str("topic", key.topic).Int("partition", key.partition).Msg("kafka fetch read failed; retrying")
	}
	go f.run(ctx, fs.s.deps.Streams, log)
	return f
}

// unauthorized marks a fetched topic the user may not read.
const unauthorized = -2

func (fs *fetchState) fetch(ctx context.Context, req *wire.FetchRequest, v int16) wire.Message {
	s := fs.s
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait)
	deadline := time.Now().Add(wait)
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	// Partition counts are looked up once per request.
	counts := map[string]int{}
	for _, t := range req.Topics {
		if _, ok := counts[t.Topic]; !ok {
			if !s.allowed(ctx, auth.Subscribe, t.Topic) {
				counts[t.Topic] = unauthorized
				continue
			}
			n, err := s.partitions(ctx, t.Topic)
			if err != nil {
				n = -1
			}
			counts[t.Topic] = n
		}
	}
	for {
		resp := &wire.FetchResponse{}
		total := 0
		var signals []chan struct{}
		done := false
		for _, t := range req.Topics {
			rt := wire.FetchResponseTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				rp := wire.FetchResponsePartition{Partition: p.Partition, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, PreferredReadReplica: -1}
				n := counts[t.Topic]
				switch {
				case n == unauthorized:
					rp.ErrorCode = wire.ErrTopicAuthorizationFailed
					done = true
				case n < 0:
					rp.ErrorCode = wire.ErrLeaderNotAvailable
					done = true
				case n == 0 || p.Partition < 0 || int(p.Partition) >= n:
					rp.ErrorCode = wire.ErrUnknownTopicOrPartition
					done = true
				case p.FetchOffset < 0:
					rp.ErrorCode = wire.ErrOffsetOutOfRange
					done = true
				default:
					f := fs.fetcher(tp{t.Topic, int(p.Partition)}, uint64(p.FetchOffset))
					budget := min(int(p.PartitionMaxBytes), maxBytes-total)
					msgs, hwm, err, ok := f.take(uint64(p.FetchOffset), budget, total == 0)
					if !ok {
						// Replaced meanwhile: try again on the next pass.
						f = fs.fetcher(tp{t.Topic, int(p.Partition)}, uint64(p.FetchOffset))
						msgs, hwm, err, _ = f.take(uint64(p.FetchOffset), budget, total == 0)
					}
					f.mu.Lock()
					signals = append(signals, f.signal)
					f.mu.Unlock()
					switch {
					case errors.Is(err, streamclient.ErrOffsetOutOfRange):
						rp.ErrorCode = wire.ErrOffsetOutOfRange
						var oe *streamclient.OffsetOutOfRangeError
						if errors.As(err, &oe) {
							rp.LogStartOffset = int64(oe.Earliest)
						}
						done = true
					case err != nil:
						rp.ErrorCode = wire.ErrUnknownTopicOrPartition
						done = true
					default:
						h := max(int64(hwm), p.FetchOffset)
						rp.HighWatermark, rp.LastStableOffset = h, h
						rp.LogStartOffset = s.logStart(t.Topic, int(p.Partition))
						if len(msgs) > 0 {
							rp.RecordBatches = encodeMessages(msgs)
							total += len(rp.RecordBatches)
						}
					}
				}
				if rp.RecordBatches == nil {
					rp.RecordBatches = []byte{}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if done || total >= int(req.MinBytes) || total > 0 && total >= maxBytes/2 || !time.Now().Before(deadline) {
			s.refineHighWatermarks(ctx, resp)
			return resp
		}
		if !waitAny(ctx, signals, deadline) {
			if ctx.Err() != nil {
				return resp
			}
		}
	}
}

// endCacheTTL bounds how stale a partition's committed end used for a
// fetch's high watermark may be.
const endCacheTTL = time.Second

type endEntry struct {
	end int64
	at  time.Time
}

// refineHighWatermarks: a partition answered without records reports
// the journal's committed end (cached for endCacheTTL) when the reader
// has not caught up with it yet, so a client at the end of what its
// reader has seen does not take that for the end of the partition.
func (s *Server) refineHighWatermarks(ctx context.Context, resp *wire.FetchResponse) {
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			if p.ErrorCode != wire.ErrNone || len(p.RecordBatches) > 0 {
				continue
			}
			if end, ok := s.committedEnd(ctx, t.Topic, int(p.Partition)); ok && end > p.HighWatermark {
				p.HighWatermark, p.LastStableOffset = end, end
			}
		}
	}
}

func (s *Server) committedEnd(ctx context.Context, topic string, partition int) (int64, bool) {
	key := tp{topic, partition}
	s.mu.Lock()
	e, ok := s.ends[key]
	s.mu.Unlock()
	if ok && time.Since(e.at) < endCacheTTL {
		return e.end, true
	}
	octx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, end, err := s.offsets(octx, topic, partition)
	if err != nil {
		return 0, false
	}
	s.mu.Lock()
	if len(s.ends) > 100000 {
		clear(s.ends)
	}
	s.ends[key] = endEntry{end: end, at: time.Now()}
	s.mu.Unlock()
	return end, true
}

// waitAny waits until one of the signals fires or the deadline passes.
func waitAny(ctx context.Context, signals []chan struct{}, deadline time.Time) bool {
	fired := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	for _, sig := range signals {
		go func(sig chan struct{}) {
			select {
			case <-sig:
				select {
				case fired <- struct{}{}:
				default:
				}
			case <-stop:
			}
		}(sig)
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-fired:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// encodeMessages turns consecutive stream records into one v2 batch.
func encodeMessages(msgs []streamclient.Message) []byte {
	b := wire.RecordBatch{BaseOffset: int64(msgs[0].Offset), BaseTimestamp: msgs[0].TimestampMs,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	for _, m := range msgs {
		r := wire.Record{Offset: int64(m.Offset), Timestamp: m.TimestampMs, Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, wire.RecordHeader{Key: h.Key, Value: h.Value})
		}
		b.Records = append(b.Records, r)
	}
	out, _ := wire.EncodeBatch(nil, b) // uncompressed encoding cannot fail
	return out
}

// logStart is the partition's first offset as the metadata cache knows it.
func (s *Server) logStart(topic string, partition int) int64 {
	if s.deps.Cache == nil {
		return 0
	}
	_, segs, ok := s.deps.Cache.Shard(s.deps.Streams.Tenant(), streamclient.PartitionName(topic, partition))
	if !ok || len(segs) == 0 {
		return 0
	}
	return int64(segs[0].GetStartOffset())
}

// offsets returns a partition's first offset and its committed end.
func (s *Server) offsets(ctx context.Context, topic string, partition int) (int64, int64, error) {
	var segs []*placementpb.Segment
	var sh *placementpb.Shard
	if s.deps.Cache != nil {
		sh, segs, _ = s.deps.Cache.Shard(s.deps.Streams.Tenant(), streamclient.PartitionName(topic, partition))
	}
	if len(segs) == 0 {
		st, err := s.deps.Streams.DescribeStream(ctx, topic)
		if err != nil {
			return 0, 0, err
		}
		for _, p := range st.Partitions {
			if p.Index == partition {
				sh, segs = p.Shard, p.Segments
			}
		}
		if len(segs) == 0 {
			return 0, 0, streamclient.ErrStreamNotFound
		}
	}
	start := int64(segs[0].GetStartOffset())
	var active *placementpb.Segment
	for _, sg := range segs {
		if sg.GetSeq() == sh.GetActiveSegment() {
			active = sg
		}
	}
	if active == nil {
		active = segs[len(segs)-1]
	}
	if active.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
		return start, int64(active.GetEndOffset()), nil
	}
	st, err := s.deps.Streams.DescribeSegment(ctx, active)
	if err != nil {
		return 0, 0, err
	}
	end := max(st.GetLac(), active.GetStartOffset())
	if st.GetSealed() {
		end = st.GetSealedEnd()
	}
	return start, int64(end), nil
}

// ListOffsets special timestamps.
const (
	tsLatest    = -1
	tsEarliest  = -2
	tsMaxTstamp = -3
)

func (s *Server) listOffsets(ctx context.Context, req *wire.ListOffsetsRequest) wire.Message {
	resp := &wire.ListOffsetsResponse{}
	for _, t := range req.Topics {
		rt := wire.ListOffsetsResponseTopic{Topic: t.Topic}
		n, nerr := s.partitions(ctx, t.Topic)
		for _, p := range t.Partitions {
			rp := wire.ListOffsetsResponsePartition{Partition: p.Partition, Timestamp: -1, Offset: -1, LeaderEpoch: 0}
			switch {
			case !s.allowed(ctx, auth.Subscribe, t.Topic):
				rp.ErrorCode = wire.ErrTopicAuthorizationFailed
			case nerr != nil:
				rp.ErrorCode = wire.ErrLeaderNotAvailable
			case n == 0 || p.Partition < 0 || int(p.Partition) >= n:
				rp.ErrorCode = wire.ErrUnknownTopicOrPartition
			default:
				off, ts, code := s.offsetFor(ctx, t.Topic, int(p.Partition), p.Timestamp)
				rp.Offset, rp.Timestamp, rp.ErrorCode = off, ts, code
			}
			if rp.ErrorCode != wire.ErrNone {
				rp.LeaderEpoch = -1
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Server) offsetFor(ctx context.Context, topic string, partition int, ts int64) (int64, int64, int16) {
	start, end, err := s.offsets(ctx, topic, partition)
	if err != nil {
		if errors.Is(err, streamclient.ErrStreamNotFound) {
			return -1, -1, wire.ErrUnknownTopicOrPartition
		}
		return -1, -1, wire.ErrLeaderNotAvailable
	}
	switch {
	case ts == tsEarliest:
		return start, -1, wire.ErrNone
	case ts == tsLatest:
		return end, -1, wire.ErrNone
	case ts == tsMaxTstamp:
		if end == start {
			return -1, -1, wire.ErrNone
		}
		// The last record stands in for the one with the largest
		// timestamp (equal under CreateTime with monotonic clients).
		return s.recordAt(ctx, topic, partition, streamclient.AtOffset(uint64(end-1)))
	case ts < 0:
		return -1, -1, wire.ErrInvalidRequest
	}
	return s.recordAt(ctx, topic, partition, streamclient.AtTimestamp(ts))
}

// recordAt reads the first record from a position: its offset and
// timestamp, or -1, -1 when there is none yet.
func (s *Server) recordAt(ctx context.Context, topic string, partition int, pos streamclient.Position) (int64, int64, int16) {
	r, err := s.deps.Streams.NewReader(topic, partition, streamclient.ReaderOptions{Start: pos, MaxBytes: 64 << 10})
	if err != nil {
		return -1, -1, wire.ErrUnknownTopicOrPartition
	}
	defer func() { _ = r.Close() }()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs, err := r.Next(rctx)
	switch {
	case errors.Is(err, streamclient.ErrCaughtUp):
		return -1, -1, wire.ErrNone
	case errors.Is(err, streamclient.ErrStreamNotFound):
		return -1, -1, wire.ErrUnknownTopicOrPartition
	case err != nil:
		return -1, -1, wire.ErrRequestTimedOut
	case len(msgs) == 0:
		return -1, -1, wire.ErrNone
	}
	return int64(msgs[0].Offset), msgs[0].TimestampMs, wire.ErrNone
}
