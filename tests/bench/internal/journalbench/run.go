package journalbench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/benchlines"
	"github.com/robustmq/robustmq-go/tests/bench/internal/cluster"
	"github.com/robustmq/robustmq-go/tests/bench/internal/disk"
	"github.com/robustmq/robustmq-go/tests/bench/internal/jetstream"
	"github.com/robustmq/robustmq-go/tests/bench/internal/journal"
	"github.com/robustmq/robustmq-go/tests/bench/internal/window"
	"github.com/robustmq/robustmq-go/tests/bench/internal/workspace"
)

// Stream shape (fixed: the comparison is replicas 3 on both sides).
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
	NatsBin            string
	Concurrency        []int
	Duration           time.Duration
	Warmup             time.Duration
	Settle             time.Duration
	DiskDuration       time.Duration
	RecordBytes        int
	// MaxInFlight bounds our producer's Append requests in flight (0: the
	// concurrency, one request per append, nothing merged).
	MaxInFlight    int
	MaxRecords     int
	RequestTimeout time.Duration
	ReadyTimeout   time.Duration
	ConsumeTimeout time.Duration
	WorkDir        string
	Keep           bool
	Smoke          bool
	// PprofDir, when set, is handed to the journal nodes (PprofEnv) and
	// receives their profiles from every measured run of ours.
	PprofDir string
}

// ParseFlags reads the benchmark's flags; binDir is where the binaries
// and ../config are by default.
func ParseFlags(args []string, binDir string, stderr io.Writer) (Options, error) {
	var o Options
	var conc string
	fs := flag.NewFlagSet("robustmq-bench journal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.PlacementBin, "placement-bin", filepath.Join(binDir, "placement-center"), "placement-center binary")
	fs.StringVar(&o.PlacementConfigDir, "placement-config-dir", filepath.Join(binDir, "..", "config", "raft"), "directory of the placement node-N.toml (ids, addresses, peers, data dirs overridden)")
	fs.StringVar(&o.JournalBin, "journal-bin", filepath.Join(binDir, "journal-server"), "journal-server binary")
	fs.StringVar(&o.JournalConfigDir, "journal-config-dir", filepath.Join(binDir, "..", "config", "journal"), "directory of the journal node-N.toml (ids, addresses, placement, data dirs overridden)")
	fs.StringVar(&o.NatsBin, "nats-bin", filepath.Join(binDir, "nats-server"), "nats-server binary (scripts/bench-journal.sh builds it)")
	fs.StringVar(&conc, "concurrency", "1,16,64", "comma-separated steps: single-record appends (publishes) in flight")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per system per step")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load on each fresh stream before its measured run")
	fs.DurationVar(&o.Settle, "settle", time.Second, "pause (after a sync(2)) between two measurements")
	fs.DurationVar(&o.DiskDuration, "disk-duration", 3*time.Second, "time of the disk-limit loop per step")
	fs.IntVar(&o.RecordBytes, "record-size", 1024, "bytes per record value")
	fs.IntVar(&o.MaxInFlight, "max-inflight", 1, "our producer's Append requests in flight; appends queued behind them merge into one batch (1: as an idempotent kgo producer and the Kafka benchmark's stream client; 0: the concurrency, nothing merges)")
	fs.IntVar(&o.MaxRecords, "max-records", 2_000_000, "count bound per measured run")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "bound on one append or publish")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", 30*time.Second, "how long each cluster may take to be ready")
	fs.DurationVar(&o.ConsumeTimeout, "consume-timeout", 2*time.Minute, "bound on reading one stream back")
	fs.StringVar(&o.WorkDir, "work-dir", "", "parent of the run's data and log directory (default: system temp)")
	fs.BoolVar(&o.Keep, "keep", false, "keep data and logs after a successful run")
	fs.StringVar(&o.PprofDir, "pprof-dir", "", "collect CPU, goroutine, block and mutex profiles and /metrics of the journal nodes during our measured runs into this directory (needs a journal-server built with the profiling overlay: scripts/bench-journal.sh --profile DIR)")
	fs.BoolVar(&o.Smoke, "smoke", false, "seconds long: 1s per system per step, concurrency 1 and 16, short warmup and disk loop (explicit flags still win)")
	if err := workspace.ParseFlags(fs, args, &o.Smoke, map[string]func(){
		"concurrency":   func() { conc = "1,16" },
		"duration":      func() { o.Duration = time.Second },
		"warmup":        func() { o.Warmup = 300 * time.Millisecond },
		"settle":        func() { o.Settle = 0 },
		"disk-duration": func() { o.DiskDuration = 500 * time.Millisecond },
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
	case o.DiskDuration <= 0 || o.DiskDuration > 10*time.Minute:
		return o, fmt.Errorf("--disk-duration %v out of range (0, 10m]", o.DiskDuration)
	case o.RecordBytes <= 0 || o.RecordBytes > 512<<10:
		return o, fmt.Errorf("--record-size %d out of range (0, 512KiB]", o.RecordBytes)
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
	ws, err := workspace.Open([]string{o.PlacementBin, o.JournalBin, o.NatsBin,
		filepath.Join(o.PlacementConfigDir, "node-1.toml"), filepath.Join(o.JournalConfigDir, "node-1.toml")},
		"run `make build` and scripts/bench-journal.sh, or pass the --*-bin / --*-config-dir flags", o.WorkDir, "robustmq-bench-journal-")
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

	var prof *profiler
	if o.PprofDir != "" {
		dir, err := filepath.Abs(o.PprofDir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// Inherited by the journal nodes (only ROBUSTMQ_JOURNAL_* is scrubbed).
		if err := os.Setenv(PprofEnv, dir); err != nil {
			return err
		}
		prof = &profiler{dir: dir, stderr: stderr}
	}
	fmt.Fprintf(stderr, "starting placement center (3), journal (3), jetstream sync-always (3) and jetstream default (3) under %s\n", workDir)
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
	jsAlways, err := jetstream.Start(ctx, group, jetstream.Options{Binary: o.NatsBin, Name: "js-always", WorkDir: workDir, SyncAlways: true, ReadyTimeout: o.ReadyTimeout})
	if err != nil {
		return err
	}
	jsDefault, err := jetstream.Start(ctx, group, jetstream.Options{Binary: o.NatsBin, Name: "js-default", WorkDir: workDir, ReadyTimeout: o.ReadyTimeout})
	if err != nil {
		return err
	}
	diskDir := filepath.Join(workDir, "disk-limit")
	if err := os.MkdirAll(diskDir, 0o755); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "# robustmq journal vs NATS JetStream (nats-server %s), 3 processes each, loopback, %d CPUs, %s\n",
		jetstream.Version(o.NatsBin), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "# %v per system per step after %v warmup on a fresh stream; %d-byte records; replicas %d, ack quorum %d (JetStream R3: quorum of 2);"+
		" one client connection to the stream leader; concurrency = single-record appends/publishes in flight; disk limit = write+fdatasync of concurrency records per round / %d; data under %s\n",
		o.Duration, o.Warmup, o.RecordBytes, replicas, ackQuorum, replicas, workDir)
	fmt.Fprintf(stdout, "# our producer: %s\n", mergeNote(o.MaxInFlight))

	value := make([]byte, o.RecordBytes)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	var steps []Step
	for idx, conc := range o.Concurrency {
		step := Step{Concurrency: conc, RecordBytes: o.RecordBytes, Replicas: replicas, AckQuorum: ackQuorum, LoadAvg: workspace.LoadAvg()}
		runs := []struct {
			name string
			fn   func() error
		}{
			{SystemOurs, func() error {
				s, c, err := measureOurs(ctx, jc, fmt.Sprintf("bench-s%d-c%d", idx, conc), conc, value, o, prof, stderr)
				step.Ours, step.Consume = s, c
				return err
			}},
			{SystemJSAlways, func() error {
				s, err := measureJetStream(ctx, jsAlways, SystemJSAlways, fmt.Sprintf("bench-s%d-c%d", idx, conc), conc, value, o, stderr)
				step.JSAlways = s
				return err
			}},
			{SystemJSDefault, func() error {
				s, err := measureJetStream(ctx, jsDefault, SystemJSDefault, fmt.Sprintf("bench-s%d-c%d", idx, conc), conc, value, o, stderr)
				step.JSDefault = s
				return err
			}},
			{SystemDiskLimit, func() error {
				s, err := measureDisk(ctx, diskDir, conc, o, stderr)
				step.DiskLimit = s
				return err
			}},
		}
		// Rotate the order of the three systems at every step so whatever
		// one leaves behind (compaction, write-back) falls on each in turn.
		order := []int{0, 1, 2}
		for range idx % 3 {
			order = append(order[1:], order[0])
		}
		order = append(order, 3)
		for i, k := range order {
			if i > 0 {
				if err := window.Settle(ctx, o.Settle); err != nil {
					return err
				}
			}
			if err := runs[k].fn(); err != nil {
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

// measureOurs writes a fresh stream and reads it back.
func measureOurs(ctx context.Context, jc *journal.Cluster, stream string, conc int, value []byte, o Options, prof *profiler, stderr io.Writer) (Summary, Summary, error) {
	if err := jc.CreateStream(ctx, stream, replicas, ackQuorum); err != nil {
		return Summary{}, Summary{}, err
	}
	p, err := jc.NewProducer(ctx, stream, value, conc, o.MaxInFlight, o.RequestTimeout)
	if err != nil {
		return Summary{}, Summary{}, err
	}
	var profDone func()
	res, warm, err := warmupAndMeasure(ctx, SystemOurs, conc, p.Submit, o, stderr, func() {
		profDone = prof.during(ctx, conc, o.Duration, jc.HTTPAddrs)
	})
	if profDone != nil {
		profDone()
	}
	if cerr := p.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s c=%d: close producer: %w", SystemOurs, conc, cerr)
	}
	if err != nil {
		return Summary{}, Summary{}, err
	}
	produced := summarize(SystemOurs, res.Latencies, res.Errors, res.Elapsed, o.RecordBytes)

	if err := window.Settle(ctx, o.Settle); err != nil {
		return Summary{}, Summary{}, err
	}
	acked := int64(warm) + produced.Records
	fmt.Fprintf(stderr, "%s c=%d: reading %d records back from earliest\n", SystemOurs, conc, acked)
	cr, err := jc.Consume(ctx, stream, 0, o.ConsumeTimeout)
	if err != nil {
		return produced, Summary{}, err
	}
	consumed := Summary{System: SystemOursConsume, Records: cr.Records, ElapsedS: round(cr.Elapsed.Seconds(), 3)}
	if cr.Elapsed > 0 {
		consumed.RecordsPerS = round(float64(cr.Records)/cr.Elapsed.Seconds(), 1)
		consumed.MBPerS = round(float64(cr.Bytes)/cr.Elapsed.Seconds()/mb, 3)
	}
	consumed.Note = fmt.Sprintf("one reader from earliest to the committed end, %d records acknowledged (warmup included)", acked)
	if cr.Records < acked {
		return produced, consumed, fmt.Errorf("%s c=%d: read back %d records, %d were acknowledged", SystemOurs, conc, cr.Records, acked)
	}
	return produced, consumed, nil
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
	out.Note = "publisher connected to stream leader " + leader
	return out, nil
}

func measureDisk(ctx context.Context, dir string, conc int, o Options, stderr io.Writer) (Summary, error) {
	fmt.Fprintf(stderr, "%s c=%d: write+fdatasync of %d bytes for %v\n", SystemDiskLimit, conc, conc*o.RecordBytes, o.DiskDuration)
	r, err := disk.Run(ctx, disk.Options{Dir: dir, BatchBytes: conc * o.RecordBytes, Duration: o.DiskDuration, MaxOps: o.MaxRecords})
	if err != nil {
		return Summary{}, err
	}
	if r.Ops == 0 {
		return Summary{}, fmt.Errorf("%s c=%d: no fdatasync completed in %v", SystemDiskLimit, conc, o.DiskDuration)
	}
	s := summarize(SystemDiskLimit, r.Syncs, 0, r.Elapsed, o.RecordBytes)
	// Every round commits conc records; each record lands on the one disk
	// once per replica.
	s.Records = int64(r.Ops * conc / replicas)
	s.RecordsPerS = round(r.OpsPerS*float64(conc)/replicas, 1)
	s.MBPerS = round(r.BytesPS/replicas/mb, 3)
	s.Note = fmt.Sprintf("%d rounds of write(%d B)+fdatasync, %.0f rounds/s, %.2f MB/s raw; records/s = rounds/s x %d / %d replicas; p50/p99 per round",
		r.Ops, conc*o.RecordBytes, r.OpsPerS, r.BytesPS/mb, conc, replicas)
	return s, nil
}

// warmupAndMeasure is window.WarmupAndMeasure with this benchmark's
// options.
func warmupAndMeasure(ctx context.Context, name string, conc int, submit window.Submit, o Options, stderr io.Writer, beforeMeasure func()) (window.Result, int, error) {
	return window.WarmupAndMeasure(ctx, window.Measure{Name: name, Concurrency: conc, Warmup: o.Warmup, Duration: o.Duration,
		MaxOps: o.MaxRecords, DrainTimeout: o.RequestTimeout + 5*time.Second}, submit, stderr, beforeMeasure)
}

// mergeNote says how our producer turns appends into requests.
func mergeNote(maxInFlight int) string {
	if maxInFlight <= 0 {
		return "one Append request per append (--max-inflight 0: nothing merges)"
	}
	return fmt.Sprintf("at most %d Append requests in flight (or the concurrency, if lower); appends queued behind them are merged into one batch, as a Kafka producer gathers records while its requests are in flight (--max-inflight 0: one request per append)", maxInFlight)
}
