package kafkabench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/benchlines"
	"github.com/robustmq/robustmq-go/tests/bench/internal/cluster"
	"github.com/robustmq/robustmq-go/tests/bench/internal/jetstream"
	"github.com/robustmq/robustmq-go/tests/bench/internal/journal"
	"github.com/robustmq/robustmq-go/tests/bench/internal/kafka"
	"github.com/robustmq/robustmq-go/tests/bench/internal/window"
	"github.com/robustmq/robustmq-go/tests/bench/internal/workspace"
)

// Topic and stream shape (fixed: replicas 3 everywhere).
const (
	replicas  = 3
	ackQuorum = 2
)

// Options are the benchmark's flags.
type Options struct {
	PlacementBin       string
	PlacementConfigDir string
	JournalBin         string
	JournalConfigDir   string
	BrokerBin          string
	NatsBin            string
	Concurrency        []int
	Duration           time.Duration
	Warmup             time.Duration
	Settle             time.Duration
	RecordBytes        int
	MaxRecords         int
	KafkaMaxInflight   int
	// StreamMaxInflight bounds the raw stream client's Append requests in
	// flight (0: one request per record, nothing merged).
	StreamMaxInflight int
	RequestTimeout    time.Duration
	ReadyTimeout      time.Duration
	ConsumeTimeout    time.Duration
	WorkDir           string
	Keep              bool
	Smoke             bool
}

// ParseFlags reads the benchmark's flags; binDir is where the binaries
// and ../config are by default.
func ParseFlags(args []string, binDir string, stderr io.Writer) (Options, error) {
	var o Options
	var conc string
	fs := flag.NewFlagSet("robustmq-bench kafka", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.PlacementBin, "placement-bin", filepath.Join(binDir, "placement-center"), "placement-center binary")
	fs.StringVar(&o.PlacementConfigDir, "placement-config-dir", filepath.Join(binDir, "..", "config", "raft"), "directory of the placement node-N.toml (ids, addresses, peers, data dirs overridden)")
	fs.StringVar(&o.JournalBin, "journal-bin", filepath.Join(binDir, "journal-server"), "journal-server binary")
	fs.StringVar(&o.JournalConfigDir, "journal-config-dir", filepath.Join(binDir, "..", "config", "journal"), "directory of the journal node-N.toml (ids, addresses, placement, data dirs overridden)")
	fs.StringVar(&o.BrokerBin, "broker-bin", filepath.Join(binDir, "broker-server"), "broker-server binary")
	fs.StringVar(&o.NatsBin, "nats-bin", filepath.Join(binDir, "nats-server"), "nats-server binary (scripts/bench-kafka.sh builds it)")
	fs.StringVar(&conc, "concurrency", "1,16,64", "comma-separated steps: records produced and not yet acknowledged")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per system per step")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load on each fresh topic/stream before its measured run")
	fs.DurationVar(&o.Settle, "settle", time.Second, "pause (after a sync(2)) between two measurements")
	fs.IntVar(&o.RecordBytes, "record-size", 1024, "bytes per record value")
	fs.IntVar(&o.MaxRecords, "max-records", 2_000_000, "count bound per measured run")
	fs.IntVar(&o.StreamMaxInflight, "stream-max-inflight", 1, "the raw stream client's Append requests in flight; records queued behind them merge into one batch, as kgo gathers records behind its produce request (0: one request per record, nothing merges)")
	fs.IntVar(&o.KafkaMaxInflight, "kafka-max-inflight", 1, "kgo produce requests in flight per broker (kgo's default 1, which keeps the idempotent producer; 2..5 turn idempotence off, as kgo requires)")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "bound on one record's acknowledgement")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", 30*time.Second, "how long each cluster may take to be ready")
	fs.DurationVar(&o.ConsumeTimeout, "consume-timeout", 2*time.Minute, "bound on reading one topic or stream back")
	fs.StringVar(&o.WorkDir, "work-dir", "", "parent of the run's data and log directory (default: system temp)")
	fs.BoolVar(&o.Keep, "keep", false, "keep data and logs after a successful run")
	fs.BoolVar(&o.Smoke, "smoke", false, "seconds long: 1s per system per step, concurrency 16 only, short warmup (explicit flags still win)")
	if err := workspace.ParseFlags(fs, args, &o.Smoke, map[string]func(){
		"concurrency": func() { conc = "16" },
		"duration":    func() { o.Duration = time.Second },
		"warmup":      func() { o.Warmup = 300 * time.Millisecond },
		"settle":      func() { o.Settle = 0 },
	}); err != nil {
		return o, err
	}
	var err error
	if o.Concurrency, err = workspace.ParseConcurrency(conc, 4096); err != nil {
		return o, err
	}
	switch {
	case o.Duration <= 0 || o.Duration > time.Hour:
		return o, fmt.Errorf("--duration %v out of range (0, 1h]", o.Duration)
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, fmt.Errorf("--warmup %v out of range [0, 1m]", o.Warmup)
	case o.Settle < 0 || o.Settle > time.Minute:
		return o, fmt.Errorf("--settle %v out of range [0, 1m]", o.Settle)
	case o.RecordBytes <= 0 || o.RecordBytes > 512<<10:
		return o, fmt.Errorf("--record-size %d out of range (0, 512KiB]", o.RecordBytes)
	case o.KafkaMaxInflight < 1 || o.KafkaMaxInflight > 5:
		return o, fmt.Errorf("--kafka-max-inflight %d out of range [1, 5]", o.KafkaMaxInflight)
	case o.RequestTimeout <= 0 || o.ReadyTimeout <= 0 || o.ConsumeTimeout <= 0:
		return o, errors.New("timeouts must be positive")
	}
	for _, c := range o.Concurrency {
		if o.MaxRecords < c {
			return o, fmt.Errorf("--max-records %d below concurrency %d", o.MaxRecords, c)
		}
	}
	return o, nil
}

// Run starts every cluster, measures every step and prints the tables and
// JSON lines to stdout (progress to stderr). Children never outlive it.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) (err error) {
	ws, err := workspace.Open([]string{o.PlacementBin, o.JournalBin, o.BrokerBin, o.NatsBin,
		filepath.Join(o.PlacementConfigDir, "node-1.toml"), filepath.Join(o.JournalConfigDir, "node-1.toml")},
		"run `make build` and scripts/bench-kafka.sh, or pass the --*-bin / --*-config-dir flags", o.WorkDir, "robustmq-bench-kafka-")
	if err != nil {
		return err
	}
	workDir, group := ws.Dir, ws.Group
	var jc *journal.Cluster
	defer func() {
		if jc != nil {
			_ = jc.Close()
		}
		err = ws.Close(err, o.Keep, 2*time.Second, stderr)
	}()

	fmt.Fprintf(stderr, "starting placement center (3), journal (3), broker (1, Kafka listener), jetstream sync-always (3) and jetstream default (3) under %s\n", workDir)
	pc, err := cluster.StartPlacement(ctx, group, cluster.PlacementOptions{
		Binary: o.PlacementBin, ConfigDir: o.PlacementConfigDir, WorkDir: workDir, ReadyTimeout: o.ReadyTimeout,
	})
	if err != nil {
		return err
	}
	jc, err = journal.Start(ctx, group, journal.Options{
		Binary: o.JournalBin, ConfigDir: o.JournalConfigDir, WorkDir: workDir, Placement: pc.Addrs, ReadyTimeout: o.ReadyTimeout,
	})
	if err != nil {
		return err
	}
	broker, err := kafka.Start(ctx, group, kafka.Options{Binary: o.BrokerBin, Placement: pc.Addrs, ReadyTimeout: o.ReadyTimeout})
	if err != nil {
		return err
	}
	jsAlways, err := jetstream.Start(ctx, group, jetstream.Options{Binary: o.NatsBin, Name: "js-always", WorkDir: workDir, SyncAlways: true, ReadyTimeout: o.ReadyTimeout})
	if err != nil {
		return err
	}
	jsDefault, err := jetstream.Start(ctx, group, jetstream.Options{Binary: o.NatsBin, Name: "js-default", WorkDir: workDir, ReadyTimeout: o.ReadyTimeout})
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "# robustmq Kafka front end (franz-go) vs NATS JetStream (nats-server %s, nats.go) vs the raw journal stream client; 3 placement + 3 journal + 1 broker, 3 nats-server each; loopback, %d CPUs, %s\n",
		jetstream.Version(o.NatsBin), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "# %v per system per step after %v warmup on a fresh topic/stream; %d-byte records; replicas %d, ack quorum %d (JetStream R3: quorum of 2); kgo acks=all, linger 0, no compression, %d produce request(s) in flight (idempotent: %v);"+
		" concurrency = records produced and not yet acknowledged; data under %s\n",
		o.Duration, o.Warmup, o.RecordBytes, replicas, ackQuorum, o.KafkaMaxInflight, o.KafkaMaxInflight == 1, workDir)
	if o.StreamMaxInflight > 0 {
		fmt.Fprintf(stdout, "# stream client: at most %d Append request(s) in flight; records queued behind them are merged into one batch (--stream-max-inflight 0: one request per record)\n", o.StreamMaxInflight)
	} else {
		fmt.Fprintf(stdout, "# stream client: one Append request per record (--stream-max-inflight 0)\n")
	}

	value := make([]byte, o.RecordBytes)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	var steps []Step
	for idx, conc := range o.Concurrency {
		name := fmt.Sprintf("bench-s%d-c%d", idx, conc)
		step := Step{Concurrency: conc, RecordBytes: o.RecordBytes, Replicas: replicas, AckQuorum: ackQuorum, LoadAvg: workspace.LoadAvg()}
		runs := []func() error{
			func() error {
				p, c, err := measureKafka(ctx, broker, "kafka-"+name, conc, value, o, stderr)
				step.Kafka, step.KafkaConsume = p, c
				return err
			},
			func() error {
				p, c, err := measureStream(ctx, jc, "stream-"+name, conc, value, o, stderr)
				step.Stream, step.StreamConsume = p, c
				return err
			},
			func() error {
				s, err := measureJetStream(ctx, jsAlways, SystemJSAlways, name, conc, value, o, stderr)
				step.JSAlways = s
				return err
			},
			func() error {
				s, err := measureJetStream(ctx, jsDefault, SystemJSDefault, name, conc, value, o, stderr)
				step.JSDefault = s
				return err
			},
		}
		// Rotate the order at every step so whatever one system leaves
		// behind (compaction, write-back) falls on each in turn.
		order := []int{0, 1, 2, 3}
		for range idx % len(order) {
			order = append(order[1:], order[0])
		}
		for i, k := range order {
			if i > 0 {
				if err := window.Settle(ctx, o.Settle); err != nil {
					return err
				}
			}
			if err := runs[k](); err != nil {
				return err
			}
		}
		step.finish()
		if err := benchlines.Write(stdout, step.WriteTable, step); err != nil {
			return err
		}
		steps = append(steps, step)
		if err := window.Settle(ctx, o.Settle); err != nil {
			return err
		}
	}
	goals := allGoals(steps)
	return benchlines.Write(stdout, func(w io.Writer) error { return WriteSummary(w, steps, goals) }, goals)
}

// measureKafka produces to a fresh topic through the broker and reads it
// back.
func measureKafka(ctx context.Context, b *kafka.Broker, topic string, conc int, value []byte, o Options, stderr io.Writer) (Summary, Summary, error) {
	if err := b.CreateTopic(ctx, topic, replicas, ackQuorum); err != nil {
		return Summary{}, Summary{}, err
	}
	p, err := b.NewProducer(topic, value, kafka.ProducerOptions{Window: conc, MaxInflight: o.KafkaMaxInflight, Timeout: o.RequestTimeout})
	if err != nil {
		return Summary{}, Summary{}, err
	}
	var batches0, records0 int64
	res, warm, err := warmupAndMeasure(ctx, SystemKafka, conc, p.Submit, o, stderr, func() { batches0, records0 = p.Batches() })
	batches1, records1 := p.Batches()
	if cerr := p.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s c=%d: close producer: %w", SystemKafka, conc, cerr)
	}
	if err != nil {
		return Summary{}, Summary{}, err
	}
	produced := summarize(SystemKafka, res.Latencies, res.Errors, res.Elapsed, o.RecordBytes)
	produced.Note = fmt.Sprintf("kgo producer through the broker's Kafka listener; kgo batches what is buffered: %d batches, %.1f records per batch in the measured run",
		batches1-batches0, float64(records1-records0)/float64(max(batches1-batches0, 1)))
	if err := window.Settle(ctx, o.Settle); err != nil {
		return Summary{}, Summary{}, err
	}
	acked := int64(warm) + produced.Records
	fmt.Fprintf(stderr, "%s c=%d: reading %d records back from the start\n", SystemKafka, conc, acked)
	cr, err := b.Consume(ctx, topic, acked, o.ConsumeTimeout)
	c := consumed(SystemKafkaConsume, cr.Records, cr.Bytes, cr.Elapsed,
		fmt.Sprintf("one kgo partition consumer (no group) from the start until the %d acknowledged records (warmup included) were read", acked))
	if err != nil {
		return produced, c, err
	}
	return produced, c, nil
}

// measureStream writes a fresh stream through the stream client directly
// (the same producer the journal benchmark drives) and reads it back.
func measureStream(ctx context.Context, jc *journal.Cluster, stream string, conc int, value []byte, o Options, stderr io.Writer) (Summary, Summary, error) {
	if err := jc.CreateStream(ctx, stream, replicas, ackQuorum); err != nil {
		return Summary{}, Summary{}, err
	}
	p, err := jc.NewProducer(ctx, stream, value, conc, o.StreamMaxInflight, o.RequestTimeout)
	if err != nil {
		return Summary{}, Summary{}, err
	}
	res, warm, err := warmupAndMeasure(ctx, SystemStream, conc, p.Submit, o, stderr, nil)
	if cerr := p.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s c=%d: close producer: %w", SystemStream, conc, cerr)
	}
	if err != nil {
		return Summary{}, Summary{}, err
	}
	produced := summarize(SystemStream, res.Latencies, res.Errors, res.Elapsed, o.RecordBytes)
	produced.Note = "common/streamclient Producer in this process, single-record appends"
	if err := window.Settle(ctx, o.Settle); err != nil {
		return Summary{}, Summary{}, err
	}
	acked := int64(warm) + produced.Records
	fmt.Fprintf(stderr, "%s c=%d: reading %d records back from earliest\n", SystemStream, conc, acked)
	cr, err := jc.Consume(ctx, stream, 0, o.ConsumeTimeout)
	c := consumed(SystemStreamConsume, cr.Records, cr.Bytes, cr.Elapsed,
		fmt.Sprintf("one streamclient reader from earliest to the committed end, %d records acknowledged (warmup included)", acked))
	if err != nil {
		return produced, c, err
	}
	if cr.Records < acked {
		return produced, c, fmt.Errorf("%s c=%d: read back %d records, %d were acknowledged", SystemStream, conc, cr.Records, acked)
	}
	return produced, c, nil
}

func measureJetStream(ctx context.Context, c *jetstream.Cluster, system, stream string, conc int, value []byte, o Options, stderr io.Writer) (Summary, error) {
	res, leader, err := c.MeasurePublish(ctx, stream, conc, value, o.ReadyTimeout, o.RequestTimeout, stderr,
		func(submit window.Submit) (window.Result, error) {
			r, _, err := warmupAndMeasure(ctx, system, conc, submit, o, stderr, nil)
			return r, err
		})
	if err != nil {
		return Summary{}, err
	}
	out := summarize(system, res.Latencies, res.Errors, res.Elapsed, o.RecordBytes)
	out.Note = "nats.go async publisher connected to stream leader " + leader
	return out, nil
}

// warmupAndMeasure is window.WarmupAndMeasure with this benchmark's
// options.
func warmupAndMeasure(ctx context.Context, name string, conc int, submit window.Submit, o Options, stderr io.Writer, beforeMeasure func()) (window.Result, int, error) {
	return window.WarmupAndMeasure(ctx, window.Measure{Name: name, Concurrency: conc, Warmup: o.Warmup, Duration: o.Duration,
		MaxOps: o.MaxRecords, DrainTimeout: o.RequestTimeout + 5*time.Second}, submit, stderr, beforeMeasure)
}
