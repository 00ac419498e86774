package cluster

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
)

// ensureStream creates the message log unless it exists, retrying while
// the journal has no live nodes (brokers may start before journals).
func (c *Cluster) ensureStream(ctx context.Context) error {
	for {
		_, warnings, err := c.opts.Streams.CreateStream(ctx, c.opts.Stream, streamclient.StreamConfig{
			Partitions: c.opts.Partitions, Replicas: uint32(c.opts.Replicas)})
		if err == nil {
			for _, w := range warnings {
				c.log.Warn().Str("stream", c.opts.Stream).Msg(w)
			}
			c.log.Info().Str("stream", c.opts.Stream).Int("partitions", c.opts.Partitions).Msg("created the MQTT message log")
			return nil
		}
		if status.Code(err) == codes.AlreadyExists {
			return nil
		}
		c.log.Warn().Err(err).Str("stream", c.opts.Stream).Msg("creating the MQTT message log; retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// AppendAsync implements core.Cluster: one record per message, keyed (and
// partitioned) by topic, so the messages of one topic keep their order.
func (c *Cluster) AppendAsync(ctx context.Context, m *core.Message, done func(core.Position, error)) error {
	v, err := proto.Marshal(toProto(m))
	if err != nil {
		return err
	}
	key := []byte(m.Topic)
	part := int(fnv32(key) % uint32(c.partitions))
	return c.producer.AppendAsync(ctx, part, []recordbatch.Record{{TimestampMs: time.Now().UnixMilli(), Key: key, Value: v}},
		func(res streamclient.AppendResult, err error) {
			if err != nil {
				done(core.Position{}, err)
				return
			}
			c.stats.appended.Add(1)
			done(core.Position{Partition: uint32(res.Partition), Offset: res.FirstOffset, Valid: res.OffsetsKnown}, nil)
		})
}

// LogEnds implements core.Cluster.
func (c *Cluster) LogEnds(ctx context.Context) (map[uint32]uint64, error) {
	out := make(map[uint32]uint64, c.partitions)
	for p := 0; p < c.partitions; p++ {
		o, err := c.opts.Streams.EndOffset(ctx, c.opts.Stream, p)
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, err)
		}
		out[uint32(p)] = o
	}
	return out, nil
}

// OpenLog implements core.Cluster.
func (c *Cluster) OpenLog(partition uint32, from uint64) (core.LogReader, error) {
	r, err := c.opts.Streams.NewReader(c.opts.Stream, int(partition), streamclient.ReaderOptions{
		Start: streamclient.AtOffset(from), Follow: true})
	if err != nil {
		return nil, err
	}
	return &logReader{r: r, partition: partition, log: c}, nil
}

type logReader struct {
	r         *streamclient.Reader
	partition uint32
	log       *Cluster
}

func (l *logReader) Next(ctx context.Context) ([]core.LogRecord, error) {
	msgs, err := l.r.Next(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]core.LogRecord, 0, len(msgs))
	for _, m := range msgs {
		pm := &brokerpb.MqttMessage{}
		if err := proto.Unmarshal(m.Value, pm); err != nil || pm.GetTopic() == "" {
			// Not an MQTT record (someone else wrote to the stream): skip
			// it, but keep its offset moving the position.
			l.log.log.Warn().Uint32("partition", l.partition).Uint64("offset", m.Offset).Msg("skipping a record that is not an MQTT message")
			pm = nil
		}
		out = append(out, core.LogRecord{Msg: fromProto(pm),
			Pos: core.Position{Partition: l.partition, Offset: m.Offset, Valid: true}})
	}
	return out, nil
}

func (l *logReader) Close() error { return l.r.Close() }
