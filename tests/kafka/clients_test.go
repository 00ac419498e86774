package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
)

// TestIntegrationKafkaSegmentio: kafka-go's Writer (auto-created topic)
// through one broker, a Reader of one partition and a group Reader
// through the other; every record once, in order.
func TestIntegrationKafkaSegmentio(t *testing.T) {
	c := startCluster(t, 2)
	ctx := ctxFor(t, 90*time.Second)
	tp := topic("kafkago")
	w := &kafkago.Writer{Addr: kafkago.TCP(c.kafka(0)), Topic: tp, AllowAutoTopicCreation: true,
		RequiredAcks: kafkago.RequireAll, BatchTimeout: 10 * time.Millisecond, Compression: kafkago.Snappy}
	defer func() { _ = w.Close() }()
	sent := values("kg", 100)
	var msgs []kafkago.Message
	for i, v := range sent {
		msgs = append(msgs, kafkago.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(v),
			Headers: []kafkago.Header{{Key: "n", Value: []byte(fmt.Sprint(i))}}})
	}
	// The first write may race the topic's creation; kafka-go reports that
	// as a retriable error.
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = w.WriteMessages(ctx, msgs...); err == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("write: %v", err)
	}

	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{c.kafka(1)}, Topic: tp, Partition: 0, MaxWait: 200 * time.Millisecond})
	defer func() { _ = r.Close() }()
	var got []record
	for len(got) < len(sent) {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read after %d: %v", len(got), err)
		}
		if len(m.Headers) != 1 || m.Headers[0].Key != "n" {
			t.Fatalf("headers %v", m.Headers)
		}
		got = append(got, record{partition: int32(m.Partition), offset: m.Offset, value: string(m.Value)})
	}
	checkInOrder(t, sent, got)

	grp := "g-" + tp
	gr := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{c.kafka(1), c.kafka(0)}, GroupID: grp, Topic: tp,
		MaxWait: 200 * time.Millisecond, StartOffset: kafkago.FirstOffset, HeartbeatInterval: 500 * time.Millisecond,
		CommitInterval: 0})
	got = nil
	for len(got) < len(sent) {
		m, err := gr.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("group read after %d: %v", len(got), err)
		}
		got = append(got, record{partition: int32(m.Partition), offset: m.Offset, value: string(m.Value)})
		if err := gr.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	checkInOrder(t, sent, got)
	if err := gr.Close(); err != nil {
		t.Fatalf("close group reader: %v", err)
	}
	// A new group reader has nothing left to read.
	gr2 := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{c.kafka(0)}, GroupID: grp, Topic: tp, MaxWait: 200 * time.Millisecond})
	defer func() { _ = gr2.Close() }()
	if err := w.WriteMessages(ctx, kafkago.Message{Value: []byte("last")}); err != nil {
		t.Fatal(err)
	}
	m, err := gr2.FetchMessage(ctx)
	if err != nil || string(m.Value) != "last" {
		t.Fatalf("resumed group read %q, %v; want only the new record", m.Value, err)
	}
}

type saramaHandler struct {
	mu   sync.Mutex
	got  []record
	want int
	done chan struct{}
	once sync.Once
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		h.got = append(h.got, record{partition: m.Partition, offset: m.Offset, value: string(m.Value)})
		n := len(h.got)
		h.mu.Unlock()
		s.MarkMessage(m, "")
		if n >= h.want {
			h.once.Do(func() { close(h.done) })
		}
	}
	return nil
}

// TestIntegrationKafkaSarama: sarama's SyncProducer (2.8-level versions,
// lz4) through one broker, a ConsumerGroup through the other.
func TestIntegrationKafkaSarama(t *testing.T) {
	c := startCluster(t, 2, "ROBUSTMQ_BROKER_KAFKA_DEFAULT_PARTITIONS=3")
	ctx := ctxFor(t, 90*time.Second)
	tp := topic("sarama")
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = sarama.CompressionLZ4
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond

	prod, err := sarama.NewSyncProducer([]string{c.kafka(0)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prod.Close() }()
	sent := values("sa", 90)
	for i, v := range sent {
		msg := &sarama.ProducerMessage{Topic: tp, Key: sarama.StringEncoder(fmt.Sprint(i % 5)), Value: sarama.StringEncoder(v)}
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			if _, _, err = prod.SendMessage(msg); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("send %s: %v", v, err)
		}
	}

	cg, err := sarama.NewConsumerGroup([]string{c.kafka(1)}, "g-"+tp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cg.Close() }()
	h := &saramaHandler{want: len(sent), done: make(chan struct{})}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := cg.Consume(cctx, []string{tp}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				errc <- err
				return
			}
		}
	}()
	select {
	case <-h.done:
	case err := <-errc:
		t.Fatalf("consume: %v", err)
	case <-ctx.Done():
		h.mu.Lock()
		t.Fatalf("timed out with %d of %d records", len(h.got), len(sent))
	}
	cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	checkInOrder(t, sent, h.got)
}
