package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/auth"
	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/wire"
	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/streamclient"
)

// producer returns the stream producer of a topic, creating it once.
func (s *Server) producer(ctx context.Context, topic string) (*streamclient.Producer, error) {
	s.mu.Lock()
	p := s.producers[topic]
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, streamclient.ErrClosed
	}
	if p != nil {
		return p, nil
	}
	np, err := s.deps.Streams.NewProducer(ctx, topic, streamclient.ProducerOptions{})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.producers[topic]; p != nil {
		go func() { _ = np.Close(context.Background()) }()
		return p, nil
	}
	s.producers[topic] = np
	return np, nil
}

func (s *Server) dropProducer(topic string) {
	s.mu.Lock()
	p := s.producers[topic]
	delete(s.producers, topic)
	s.mu.Unlock()
	if p != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Close(ctx)
		}()
	}
}

// appendOutcome is a produced batch's result, shared with duplicates of
// it that arrive while it is still in flight.
type appendOutcome struct {
	done   chan struct{}
	offset int64
	code   int16
	// recs are the batch's records (for Deps.Produced); nil for a
	// duplicate answered with the original's outcome (dupOf).
	recs  []recordbatch.Record
	dupOf *appendOutcome
}

func (o *appendOutcome) finish(offset int64, code int16) {
	o.offset, o.code = offset, code
	close(o.done)
}

// produce checks and queues every batch of the request in order and
// returns a function that waits for the outcomes and builds the response.
func (s *Server) produce(ctx context.Context, req *wire.ProduceRequest) func(context.Context) wire.Message {
	resp := &wire.ProduceResponse{}
	type slot struct {
		t, p int
		outs []*appendOutcome
	}
	var slots []slot
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	timeout = min(max(timeout, 5*time.Second), 2*time.Minute)
	if req.TransactionalID != nil {
		for _, t := range req.Topics {
			rt := wire.ProduceResponseTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, wire.ProduceResponsePartition{Partition: p.Partition, ErrorCode: wire.ErrTransactionalIDAuthFailed, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return func(context.Context) wire.Message { return resp }
	}
	for ti, t := range req.Topics {
		rt := wire.ProduceResponseTopic{Topic: t.Topic}
		count, perr := s.partitions(ctx, t.Topic)
		var prod *streamclient.Producer
		if perr == nil && count > 0 {
			prod, perr = s.producer(ctx, t.Topic)
		}
		for pi, p := range t.Partitions {
			rp := wire.ProduceResponsePartition{Partition: p.Partition, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
			set := func(code int16, msg string) {
				rp.ErrorCode = code
				if msg != "" {
					rp.ErrorMessage = &msg
				}
			}
			switch {
			case s.internal(t.Topic):
				set(wire.ErrInvalidTopicException, internalTopicMsg)
			case !s.allowed(ctx, auth.Publish, t.Topic):
				set(wire.ErrTopicAuthorizationFailed, "")
			case perr != nil:
				set(appendErrorCode(perr), perr.Error())
			case count == 0 || p.Partition < 0 || int(p.Partition) >= count || prod == nil:
				set(wire.ErrUnknownTopicOrPartition, "")
			case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
				set(wire.ErrInvalidRequiredAcks, "")
			default:
				outs, code, msg := s.queueBatches(ctx, prod, t.Topic, int(p.Partition), p.Records, timeout)
				if code != wire.ErrNone {
					set(code, msg)
				} else {
					slots = append(slots, slot{t: ti, p: pi, outs: outs})
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return func(ctx context.Context) wire.Message {
		for _, sl := range slots {
			rp := &resp.Topics[sl.t].Partitions[sl.p]
			for i, o := range sl.outs {
				select {
				case <-o.done:
				case <-ctx.Done():
					rp.ErrorCode = wire.ErrRequestTimedOut
					continue
				}
				dup := o.dupOf != nil
				if dup {
					o = o.dupOf
				}
				if o.code != wire.ErrNone && rp.ErrorCode == wire.ErrNone {
					rp.ErrorCode = o.code
				}
				if o.code == wire.ErrNone && s.deps.Produced != nil && !dup {
					if err := s.deps.Produced(ctx, req.Topics[sl.t].Topic, o.recs); err != nil {
						s.log.Warn().Err(err).Str("topic", req.Topics[sl.t].Topic).Msg("handing produced records to MQTT")
						if rp.ErrorCode == wire.ErrNone {
							rp.ErrorCode = wire.ErrNotEnoughReplicas
						}
					}
				}
				if i == 0 {
					rp.BaseOffset = o.offset
				}
			}
			if rp.ErrorCode != wire.ErrNone {
				rp.BaseOffset = -1
			}
		}
		return resp
	}
}

// queueBatches decodes a partition's record batches, applies the
// idempotent producer checks and queues each new batch as one stream
// append.
func (s *Server) queueBatches(ctx context.Context, prod *streamclient.Producer, topic string, partition int, raw []byte, timeout time.Duration) ([]*appendOutcome, int16, string) {
	if len(raw) > s.cfg.MaxMessageBytes+(64<<10) {
		return nil, wire.ErrMessageTooLarge, "record batch exceeds max.message.bytes"
	}
	batches, err := wire.DecodeBatches(raw, wire.BatchLimits{MaxRecords: recordbatch.DefaultLimits().MaxRecords, MaxUncompressed: 4 * s.cfg.MaxRequestBytes})
	switch {
	case errors.Is(err, wire.ErrUnsupportedBatch):
		return nil, wire.ErrUnsupportedForMessageFormat, err.Error()
	case err != nil:
		return nil, wire.ErrCorruptMessage, err.Error()
	case len(batches) == 0:
		return nil, wire.ErrInvalidRecord, "no record batch"
	}
	var outs []*appendOutcome
	for _, b := range batches {
		if b.Transactional() || b.Control() {
			return outs, wire.ErrTransactionalIDAuthFailed, "transactions are not supported"
		}
		if len(b.Records) == 0 {
			return outs, wire.ErrInvalidRecord, "empty record batch"
		}
		size := 0
		recs := make([]recordbatch.Record, len(b.Records))
		for i, r := range b.Records {
			rec := recordbatch.Record{TimestampMs: r.Timestamp, Key: r.Key, Value: r.Value}
			size += len(r.Key) + len(r.Value)
			for _, h := range r.Headers {
				rec.Headers = append(rec.Headers, recordbatch.RecordHeader{Key: h.Key, Value: h.Value})
				size += len(h.Key) + len(h.Value)
			}
			recs[i] = rec
		}
		if size > s.cfg.MaxMessageBytes {
			return outs, wire.ErrMessageTooLarge, "record batch exceeds max.message.bytes"
		}
		out := &appendOutcome{done: make(chan struct{}), recs: recs}
		var commit func(ok bool)
		if b.ProducerID >= 0 {
			prev, code, c := s.idem.check(producerKey{pid: b.ProducerID, topic: topic, partition: partition}, b.ProducerEpoch, b.BaseSequence, int32(len(b.Records)), out)
			if code != wire.ErrNone {
				return outs, code, ""
			}
			if prev != nil {
				// A duplicate: answered with the original's outcome, and
				// not handed to Produced again.
				outs = append(outs, &appendOutcome{done: prev.done, dupOf: prev})
				continue
			}
			commit = c
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		err := prod.AppendAsync(actx, partition, recs, func(r streamclient.AppendResult, err error) {
			cancel()
			if err != nil {
				if commit != nil {
					commit(false)
				}
				out.finish(-1, appendErrorCode(err))
				return
			}
			if commit != nil {
				commit(true)
			}
			out.finish(int64(r.FirstOffset), wire.ErrNone)
		})
		if err != nil {
			cancel()
			if commit != nil {
				commit(false)
			}
			return outs, appendErrorCode(err), err.Error()
		}
		outs = append(outs, out)
	}
	return outs, wire.ErrNone, ""
}

func appendErrorCode(err error) int16 {
	var te *streamclient.TimeoutError
	switch {
	case err == nil:
		return wire.ErrNone
	case errors.Is(err, streamclient.ErrStreamNotFound):
		return wire.ErrUnknownTopicOrPartition
	case errors.As(err, &te), errors.Is(err, context.DeadlineExceeded):
		return wire.ErrRequestTimedOut
	case errors.Is(err, streamclient.ErrClosed):
		return wire.ErrNotLeaderForPartition
	}
	return wire.ErrNotEnoughReplicas
}

// ---- idempotent producers ----

type producerKey struct {
	pid       int64
	topic     string
	partition int
}

type seqBatch struct {
	first, last int32
	out         *appendOutcome
}

// maxProducerStates bounds the idempotence table.
const maxProducerStates = 100000

type producerState struct {
	epoch   int16
	lastSeq int32 // last sequence accepted (queued)
	recent  []seqBatch
}

// idempotence remembers, per producer id and partition, the last
// sequence numbers this broker queued, so a retried batch is answered
// with its first outcome instead of being written twice.
type idempotence struct {
	mu sync.Mutex
	m  map[producerKey]*producerState
}

func newIdempotence() *idempotence { return &idempotence{m: map[producerKey]*producerState{}} }

// check returns the outcome of an earlier identical batch (a duplicate),
// or an error code, or (nil, 0, commit) for a new batch; commit(false)
// forgets the producer's state when the append failed, so the client's
// retry is accepted.
func (id *idempotence) check(k producerKey, epoch int16, first, count int32, out *appendOutcome) (*appendOutcome, int16, func(bool)) {
	id.mu.Lock()
	defer id.mu.Unlock()
	last := first + count - 1
	st := id.m[k]
	switch {
	case st == nil || epoch > st.epoch:
		if st == nil && len(id.m) >= maxProducerStates {
			// Bounded memory: forget everyone; their next batches are
			// accepted as new (the journal still dedupes this broker's
			// own resends).
			clear(id.m)
		}
		st = &producerState{epoch: epoch, lastSeq: first - 1}
		id.m[k] = st
	case epoch < st.epoch:
		return nil, wire.ErrInvalidProducerEpoch, nil
	}
	for _, b := range st.recent {
		if b.first == first && b.last == last {
			return b.out, wire.ErrNone, nil
		}
	}
	if first != st.lastSeq+1 {
		if first <= st.lastSeq {
			return nil, wire.ErrDuplicateSequenceNumber, nil
		}
		return nil, wire.ErrOutOfOrderSequenceNumber, nil
	}
	st.lastSeq = last
	st.recent = append(st.recent, seqBatch{first: first, last: last, out: out})
	if len(st.recent) > 5 {
		st.recent = st.recent[1:]
	}
	return nil, wire.ErrNone, func(ok bool) {
		if ok {
			return
		}
		id.mu.Lock()
		defer id.mu.Unlock()
		if id.m[k] == st {
			delete(id.m, k)
		}
	}
}

func (s *Server) initProducerID(req *wire.InitProducerIDRequest) wire.Message {
	if req.TransactionalID != nil {
		return &wire.InitProducerIDResponse{ErrorCode: wire.ErrTransactionalIDAuthFailed, ProducerID: -1, ProducerEpoch: -1}
	}
	if req.ProducerID >= 0 && req.ProducerEpoch >= 0 {
		// A producer bumping its epoch keeps its id.
		return &wire.InitProducerIDResponse{ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch + 1}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	pid := int64(binary.BigEndian.Uint64(b[:]) >> 2) // [0, 2^62): unique with overwhelming probability
	return &wire.InitProducerIDResponse{ProducerID: pid, ProducerEpoch: 0}
}
