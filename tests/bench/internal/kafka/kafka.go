package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/robustmq/robustmq-go/tests/bench/internal/cluster"
	"github.com/robustmq/robustmq-go/tests/bench/internal/procs"
	"github.com/robustmq/robustmq-go/tests/bench/internal/window"
)

// Options locate the broker-server binary.
type Options struct {
	Binary       string
	Placement    []string
	ReadyTimeout time.Duration
}

// Broker is one running broker-server with its Kafka listener.
type Broker struct {
	Kafka    string // the Kafka listener (bootstrap server)
	HTTPAddr string // /metrics, /healthz
	proc     *procs.Proc
}

// Start starts one broker (MQTT over TCP on a free port, WebSocket off,
// Kafka on a free port) and waits until its Kafka listener answers a
// metadata request.
func Start(ctx context.Context, g *procs.Group, o Options) (*Broker, error) {
	ports, err := cluster.FreePorts(4)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	b := &Broker{Kafka: addr(0), HTTPAddr: addr(1)}
	b.proc, err = g.Start(procs.Spec{
		Name: "broker-1",
		Path: o.Binary,
		Args: []string{
			"--grpc-addr", addr(2),
			"--http-addr", b.HTTPAddr,
			"--mqtt-addr", addr(3),
			"--ws-addr", "",
			"--kafka-addr", b.Kafka,
			"--placement", strings.Join(o.Placement, ","),
			"--log-level", "warn",
			"--log-format", "json",
		},
		ScrubEnvPrefixes: []string{"ROBUSTMQ_BROKER_"},
	})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	var last error
	for {
		select {
		case <-b.proc.Exited():
			return nil, fmt.Errorf("kafka: broker exited: %v\nlog:\n%s", b.proc.ExitErr(), b.proc.Tail(20))
		default:
		}
		if last = b.ping(rctx); last == nil {
			return b, nil
		}
		select {
		case <-rctx.Done():
			if errors.Is(rctx.Err(), context.Canceled) {
				return nil, fmt.Errorf("kafka: interrupted while waiting for the broker: %w", last)
			}
			return nil, fmt.Errorf("kafka: broker not ready within %v: %w\nlog:\n%s", o.ReadyTimeout, last, b.proc.Tail(20))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (b *Broker) ping(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Kafka))
	if err != nil {
		return err
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return cl.Ping(pctx)
}

// CreateTopic creates a one-partition topic with the given replication
// factor and checks the broker reports it with that factor and the ack
// quorum (min.insync.replicas) wanted.
func (b *Broker) CreateTopic(ctx context.Context, topic string, replicas, ackQuorum int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Kafka))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, 1, int16(replicas), nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("kafka: create topic %s: %w", topic, err)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("kafka: describe topic %s: %w", topic, err)
	}
	rc, err := cfgs.On(topic, nil)
	if err != nil {
		return fmt.Errorf("kafka: describe topic %s: %w", topic, err)
	}
	if rc.Err != nil {
		return fmt.Errorf("kafka: describe topic %s: %w", topic, rc.Err)
	}
	got := map[string]string{}
	for _, c := range rc.Configs {
		if c.Value != nil {
			got[c.Key] = *c.Value
		}
	}
	if got["replication.factor"] != strconv.Itoa(replicas) || got["min.insync.replicas"] != strconv.Itoa(ackQuorum) {
		return fmt.Errorf("kafka: topic %s has replication.factor %q, min.insync.replicas %q; want %d, %d",
			topic, got["replication.factor"], got["min.insync.replicas"], replicas, ackQuorum)
	}
	return nil
}

// ProducerOptions shape the franz-go producer.
type ProducerOptions struct {
	// Window is the benchmark's concurrency: records produced and not yet
	// acknowledged (also kgo's buffer bound).
	Window int
	// MaxInflight is kgo's produce requests in flight per broker: kgo's
	// default 1 keeps the idempotent producer; more (kgo allows that only
	// without idempotence) turns idempotent writes off.
	MaxInflight int
	Timeout     time.Duration
}

// Producer is a kgo client producing to one topic, acks=all, idempotent
// (kgo's default) unless MaxInflight > 1, no linger, no compression.
type Producer struct {
	cl    *kgo.Client
	topic string
	value []byte
	hooks *produceHooks
}

// produceHooks are kgo hooks counting the record batches kgo wrote, the
// records in them (kgo groups what is buffered when it sends), and the
// produce requests' wire time.
type produceHooks struct {
	batches, records atomic.Int64
	requests         atomic.Int64
	wire             atomic.Int64 // nanoseconds
}

func (h *produceHooks) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	h.batches.Add(1)
	h.records.Add(int64(m.NumRecords))
}

// OnBrokerE2E adds up, for produce requests answered without a
// connection error, kgo's time from starting to write the request to
// having read the response: the broker's share of a record's latency
// plus the loopback, without kgo's own buffering and callbacks.
func (h *produceHooks) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != kmsg.Produce.Int16() || e.Err() != nil {
		return
	}
	h.requests.Add(1)
	h.wire.Add(int64(e.DurationE2E()))
}

var (
	_ kgo.HookProduceBatchWritten = (*produceHooks)(nil)
	_ kgo.HookBrokerE2E           = (*produceHooks)(nil)
)

// Batches returns the record batches written so far and the records in
// them.
func (p *Producer) Batches() (batches, records int64) {
	return p.hooks.batches.Load(), p.hooks.records.Load()
}

// Requests returns the produce requests answered so far and their summed
// wire time (see produceHooks.OnBrokerE2E).
func (p *Producer) Requests() (requests int64, wire time.Duration) {
	return p.hooks.requests.Load(), time.Duration(p.hooks.wire.Load())
}

// NewProducer opens the producer.
func (b *Broker) NewProducer(topic string, value []byte, o ProducerOptions) (*Producer, error) {
	hooks := &produceHooks{}
	opts := []kgo.Opt{
		kgo.WithHooks(hooks),
		kgo.SeedBrokers(b.Kafka),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(o.Window),
		kgo.MaxProduceRequestsInflightPerBroker(o.MaxInflight),
		kgo.RecordDeliveryTimeout(o.Timeout),
		kgo.ProduceRequestTimeout(o.Timeout),
	}
	if o.MaxInflight > 1 {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: producer: %w", err)
	}
	return &Producer{cl: cl, topic: topic, value: value, hooks: hooks}, nil
}

// Submit is the window.Submit of one record.
func (p *Producer) Submit(done func(error)) error {
	p.cl.Produce(context.Background(), &kgo.Record{Topic: p.topic, Value: p.value}, func(_ *kgo.Record, err error) { done(err) })
	return nil
}

var _ window.Submit = (*Producer)(nil).Submit

// Close flushes (bounded) and closes the client.
func (p *Producer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.cl.Flush(ctx)
	p.cl.Close()
	return err
}

// ConsumeResult is one read-back of a topic.
type ConsumeResult struct {
	Records int64
	Bytes   int64 // record values
	Elapsed time.Duration
}

// Consume reads partition 0 of topic from its start with a direct
// (group-less) kgo consumer until want records were read or timeout
// passes.
func (b *Broker) Consume(ctx context.Context, topic string, want int64, timeout time.Duration) (ConsumeResult, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.Kafka),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
	)
	if err != nil {
		return ConsumeResult{}, fmt.Errorf("kafka: consumer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res ConsumeResult
	start := time.Now()
	for res.Records < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			res.Elapsed = time.Since(start)
			return res, fmt.Errorf("kafka: consume %s: %d of %d records: %w", topic, res.Records, want, err)
		}
		for _, fe := range fs.Errors() {
			res.Elapsed = time.Since(start)
			return res, fmt.Errorf("kafka: consume %s partition %d after %d records: %w", fe.Topic, fe.Partition, res.Records, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			res.Records++
			res.Bytes += int64(len(r.Value))
		})
	}
	res.Elapsed = time.Since(start)
	return res, nil
}
