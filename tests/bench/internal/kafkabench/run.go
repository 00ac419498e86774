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
	// Rounds splits Duration into turns the systems take one after
	// another (window.Interleave).
	Rounds           int
	Warmup           time.Duration
	Settle           time.Duration
	RecordBytes      int
	MaxRecords       int
	KafkaMaxInflight int
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
	fs.IntVar(&o.Rounds, "rounds", 3, "turns per step: each system is measured duration/rounds at a time, the systems taking turns, so the machine's drift falls on all of them")
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
		"rounds":      func() { o.Rounds = 1 },
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
	case o.Rounds < 1 || o.Rounds > 100 || o.Duration/time.Duration(max(o.Rounds, 1)) < 100*time.Millisecond:
		return o, fmt.Errorf("--rounds %d out of range [1, 100] or below 100ms a round", o.Rounds)
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
	fmt.Fprintf(stdout, "# %v per system per step in %d turns of %v (the systems take turns), after %v warmup on a fresh topic/stream; %d-byte records; replicas %d, ack quorum %d (JetStream R3: quorum of 2); kgo acks=all, linger 0, no compression, %d produce request(s) in flight (idempotent: %v);"+
		" concurrency = records produced and not yet acknowledged; data under %s\n",
		o.Duration, o.Rounds, o.Duration/time.Duration(o.Rounds), o.Warmup, o.RecordBytes, replicas, ackQuorum, o.KafkaMaxInflight, o.KafkaMaxInflight == 1, workDir)
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
		step := Step{Concurrency: conc, RecordBytes: o.RecordBytes, Replicas: replicas, AckQuorum: ackQuorum, LoadAvg: workspace.LoadAvg()}
		if err := measureStep(ctx, &step, idx, broker, jc, jsAlways, jsDefault, value, o, stderr); err != nil {
			return err
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

// measureStep measures one concurrency: kgo through the broker to a fresh
// topic, the raw stream client to a fresh stream and both JetStream
// clusters on fresh streams, in o.Rounds interleaved rounds
// (window.Interleave; the first system moves on at every step); then it
// reads the topic and the stream back.
func measureStep(ctx context.Context, step *Step, idx int, b *kafka.Broker, jc *journal.Cluster, jsAlways, jsDefault *jetstream.Cluster,
	value []byte, o Options, stderr io.Writer) (err error) {
	conc := step.Concurrency
	name := fmt.Sprintf("bench-s%d-c%d", idx, conc)
	topic, stream := "kafka-"+name, "stream-"+name
	if err := b.CreateTopic(ctx, topic, replicas, ackQuorum); err != nil {
		return err
	}
	kp, err := b.NewProducer(topic, value, kafka.ProducerOptions{Window: conc, MaxInflight: o.KafkaMaxInflight, Timeout: o.RequestTimeout})
	if err != nil {
		return err
	}
	kafkaOpen := true
	defer func() {
		if kafkaOpen {
			_ = kp.Close()
		}
	}()
	if err := jc.CreateStream(ctx, stream, replicas, ackQuorum); err != nil {
		return err
	}
	sp, err := jc.NewProducer(ctx, stream, value, conc, o.StreamMaxInflight, o.RequestTimeout)
	if err != nil {
		return err
	}
	streamOpen := true
	defer func() {
		if streamOpen {
			_ = sp.Close()
		}
	}()
	js, closeJS, err := jetstream.OpenStreams(ctx, []*jetstream.Cluster{jsAlways, jsDefault}, name, conc, value, o.ReadyTimeout, o.RequestTimeout, stderr)
	if err != nil {
		return err
	}
	defer closeJS()

	// kgo's batches and produce requests in the measured rounds only.
	var batches0, records0, batches, records, requests0, requests int64
	var wire0, wire time.Duration
	cs := []window.Contender{
		{Name: SystemKafka, Submit: kp.Submit,
			Before: func(int) {
				batches0, records0 = kp.Batches()
				requests0, wire0 = kp.Requests()
			},
			After: func(int) {
				b1, r1 := kp.Batches()
				batches += b1 - batches0
				records += r1 - records0
				q1, w1 := kp.Requests()
				requests += q1 - requests0
				wire += w1 - wire0
			}},
		{Name: SystemStream, Submit: sp.Submit},
		{Name: SystemJSAlways, Submit: js[0].Submit},
		{Name: SystemJSDefault, Submit: js[1].Submit},
	}
	res, warm, err := window.Interleave(ctx, window.Measure{Name: name, Concurrency: conc, Warmup: o.Warmup, Duration: o.Duration,
		MaxOps: o.MaxRecords, DrainTimeout: o.RequestTimeout + 5*time.Second}, o.Rounds, idx, o.Settle, cs, nil, stderr)
	if err != nil {
		return err
	}
	kafkaOpen = false
	if err := kp.Close(); err != nil {
		return fmt.Errorf("%s c=%d: close producer: %w", SystemKafka, conc, err)
	}
	streamOpen = false
	if err := sp.Close(); err != nil {
		return fmt.Errorf("%s c=%d: close producer: %w", SystemStream, conc, err)
	}
	step.Kafka = summarize(SystemKafka, res[0].Latencies, res[0].Errors, res[0].Elapsed, o.RecordBytes)
	if requests > 0 {
		step.Kafka.RequestWireMs = millis(wire / time.Duration(requests))
	}
	step.Kafka.Note = fmt.Sprintf("kgo producer through the broker's Kafka listener; kgo batches what is buffered: %d batches, %.1f records per batch in the measured rounds;"+
		" a produce request's wire time (kgo's write to its response read: broker and loopback) %.3f ms on average, a record's latency %.3f ms",
		batches, float64(records)/float64(max(batches, 1)), step.Kafka.RequestWireMs, step.Kafka.MeanMs)
	step.Stream = summarize(SystemStream, res[1].Latencies, res[1].Errors, res[1].Elapsed, o.RecordBytes)
	step.Stream.Note = "common/streamclient Producer in this process, single-record appends"
	step.JSAlways = summarize(SystemJSAlways, res[2].Latencies, res[2].Errors, res[2].Elapsed, o.RecordBytes)
	step.JSAlways.Note = "nats.go async publisher connected to stream leader " + js[0].Leader
	step.JSDefault = summarize(SystemJSDefault, res[3].Latencies, res[3].Errors, res[3].Elapsed, o.RecordBytes)
	step.JSDefault.Note = "nats.go async publisher connected to stream leader " + js[1].Leader

	if err := window.Settle(ctx, o.Settle); err != nil {
		return err
	}
	acked := int64(warm[0]) + step.Kafka.Records
	fmt.Fprintf(stderr, "%s c=%d: reading %d records back from the start\n", SystemKafka, conc, acked)
	cr, err := b.Consume(ctx, topic, acked, o.ConsumeTimeout)
	step.KafkaConsume = consumed(SystemKafkaConsume, cr.Records, cr.Bytes, cr.Elapsed,
		fmt.Sprintf("one kgo partition consumer (no group) from the start until the %d acknowledged records (warmup included) were read", acked))
	if err != nil {
		return err
	}
	if err := window.Settle(ctx, o.Settle); err != nil {
		return err
	}
	acked = int64(warm[1]) + step.Stream.Records
	fmt.Fprintf(stderr, "%s c=%d: reading %d records back from earliest\n", SystemStream, conc, acked)
	sr, err := jc.Consume(ctx, stream, 0, o.ConsumeTimeout)
	step.StreamConsume = consumed(SystemStreamConsume, sr.Records, sr.Bytes, sr.Elapsed,
		fmt.Sprintf("one streamclient reader from earliest to the committed end, %d records acknowledged (warmup included)", acked))
	if err != nil {
		return err
	}
	if sr.Records < acked {
		return fmt.Errorf("%s c=%d: read back %d records, %d were acknowledged", SystemStream, conc, sr.Records, acked)
	}
	return nil
}
