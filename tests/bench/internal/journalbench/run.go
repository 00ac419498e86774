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
	// Rounds splits Duration into turns the systems take one after
	// another (window.Interleave).
	Rounds       int
	Warmup       time.Duration
	Settle       time.Duration
	DiskDuration time.Duration
	RecordBytes  int
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
	fs.IntVar(&o.Rounds, "rounds", 3, "turns per step: each system is measured duration/rounds at a time, the systems taking turns (and the disk loop disk-duration/rounds after every round), so the machine's drift falls on all of them")
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
		"rounds":        func() { o.Rounds = 1 },
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
	case o.Rounds < 1 || o.Rounds > 100 || o.Duration/time.Duration(max(o.Rounds, 1)) < 100*time.Millisecond:
		return o, fmt.Errorf("--rounds %d out of range [1, 100] or below 100ms a round", o.Rounds)
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
	fmt.Fprintf(stdout, "# %v per system per step in %d turns of %v (the systems take turns, then the disk loop), after %v warmup on a fresh stream; %d-byte records; replicas %d, ack quorum %d (JetStream R3: quorum of 2);"+
		" one client connection to the stream leader; concurrency = single-record appends/publishes in flight; disk limit = write+fdatasync of concurrency records per round / %d; data under %s\n",
		o.Duration, o.Rounds, o.Duration/time.Duration(o.Rounds), o.Warmup, o.RecordBytes, replicas, ackQuorum, replicas, workDir)
	fmt.Fprintf(stdout, "# our producer: %s\n", mergeNote(o.MaxInFlight))

	value := make([]byte, o.RecordBytes)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	var steps []Step
	for idx, conc := range o.Concurrency {
		step := Step{Concurrency: conc, RecordBytes: o.RecordBytes, Replicas: replicas, AckQuorum: ackQuorum, LoadAvg: workspace.LoadAvg()}
		if err := measureStep(ctx, &step, idx, jc, jsAlways, jsDefault, diskDir, value, o, prof, stderr); err != nil {
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

// measureStep measures one concurrency: our producer on a fresh stream and
// both JetStream clusters on fresh streams, in o.Rounds interleaved rounds
// (window.Interleave; the first system moves on at every step), the disk
// loop after every round; then it reads our stream back.
func measureStep(ctx context.Context, step *Step, idx int, jc *journal.Cluster, jsAlways, jsDefault *jetstream.Cluster, diskDir string,
	value []byte, o Options, prof *profiler, stderr io.Writer) (err error) {
	conc := step.Concurrency
	name := fmt.Sprintf("bench-s%d-c%d", idx, conc)
	if err := jc.CreateStream(ctx, name, replicas, ackQuorum); err != nil {
		return err
	}
	ours, err := jc.NewProducer(ctx, name, value, conc, o.MaxInFlight, o.RequestTimeout)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := ours.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%s c=%d: close producer: %w", SystemOurs, conc, cerr)
		}
	}()
	js, closeJS, err := jetstream.OpenStreams(ctx, []*jetstream.Cluster{jsAlways, jsDefault}, name, conc, value, o.ReadyTimeout, o.RequestTimeout, stderr)
	if err != nil {
		return err
	}
	defer closeJS()

	var profDone func()
	var diskRounds []disk.Result
	cs := []window.Contender{
		{Name: SystemOurs, Submit: ours.Submit,
			// Profiles cover our first round.
			Before: func(r int) {
				if r == 0 {
					profDone = prof.during(ctx, conc, o.Duration/time.Duration(o.Rounds), jc.HTTPAddrs)
				}
			},
			After: func(r int) {
				if r == 0 && profDone != nil {
					profDone()
				}
			}},
		{Name: SystemJSAlways, Submit: js[0].Submit},
		{Name: SystemJSDefault, Submit: js[1].Submit},
	}
	res, warm, err := window.Interleave(ctx, window.Measure{Name: name, Concurrency: conc, Warmup: o.Warmup, Duration: o.Duration,
		MaxOps: o.MaxRecords, DrainTimeout: o.RequestTimeout + 5*time.Second}, o.Rounds, idx, o.Settle, cs,
		func(int) error {
			d, err := measureDisk(ctx, diskDir, conc, o.DiskDuration/time.Duration(o.Rounds), o, stderr)
			diskRounds = append(diskRounds, d)
			return err
		}, stderr)
	if err != nil {
		return err
	}
	step.Ours = summarize(SystemOurs, res[0].Latencies, res[0].Errors, res[0].Elapsed, o.RecordBytes)
	step.JSAlways = summarize(SystemJSAlways, res[1].Latencies, res[1].Errors, res[1].Elapsed, o.RecordBytes)
	step.JSAlways.Note = "publisher connected to stream leader " + js[0].Leader
	step.JSDefault = summarize(SystemJSDefault, res[2].Latencies, res[2].Errors, res[2].Elapsed, o.RecordBytes)
	step.JSDefault.Note = "publisher connected to stream leader " + js[1].Leader
	step.DiskLimit = diskSummary(diskRounds, conc, o.RecordBytes)

	if err := window.Settle(ctx, o.Settle); err != nil {
		return err
	}
	acked := int64(warm[0]) + step.Ours.Records
	fmt.Fprintf(stderr, "%s c=%d: reading %d records back from earliest\n", SystemOurs, conc, acked)
	cr, err := jc.Consume(ctx, name, 0, o.ConsumeTimeout)
	if err != nil {
		return err
	}
	consumed := Summary{System: SystemOursConsume, Records: cr.Records, ElapsedS: round(cr.Elapsed.Seconds(), 3)}
	if cr.Elapsed > 0 {
		consumed.RecordsPerS = round(float64(cr.Records)/cr.Elapsed.Seconds(), 1)
		consumed.MBPerS = round(float64(cr.Bytes)/cr.Elapsed.Seconds()/mb, 3)
	}
	consumed.Note = fmt.Sprintf("one reader from earliest to the committed end, %d records acknowledged (warmup included)", acked)
	step.Consume = consumed
	if cr.Records < acked {
		return fmt.Errorf("%s c=%d: read back %d records, %d were acknowledged", SystemOurs, conc, cr.Records, acked)
	}
	return nil
}

func measureDisk(ctx context.Context, dir string, conc int, d time.Duration, o Options, stderr io.Writer) (disk.Result, error) {
	fmt.Fprintf(stderr, "%s c=%d: write+fdatasync of %d bytes for %v\n", SystemDiskLimit, conc, conc*o.RecordBytes, d)
	r, err := disk.Run(ctx, disk.Options{Dir: dir, BatchBytes: conc * o.RecordBytes, Duration: d, MaxOps: o.MaxRecords})
	if err != nil {
		return r, err
	}
	if r.Ops == 0 {
		return r, fmt.Errorf("%s c=%d: no fdatasync completed in %v", SystemDiskLimit, conc, d)
	}
	return r, nil
}

// diskSummary merges the disk loop's rounds into the disk limit: every
// round commits conc records, and each record lands on the one disk once
// per replica.
func diskSummary(rounds []disk.Result, conc, recordBytes int) Summary {
	var ops int
	var bytes int64
	var elapsed time.Duration
	var syncs []time.Duration
	for _, r := range rounds {
		ops += r.Ops
		bytes += r.Bytes
		elapsed += r.Elapsed
		syncs = append(syncs, r.Syncs...)
	}
	s := summarize(SystemDiskLimit, syncs, 0, elapsed, recordBytes)
	opsPerS := float64(ops) / elapsed.Seconds()
	bytesPerS := float64(bytes) / elapsed.Seconds()
	s.Records = int64(ops * conc / replicas)
	s.RecordsPerS = round(opsPerS*float64(conc)/replicas, 1)
	s.MBPerS = round(bytesPerS/replicas/mb, 3)
	s.Note = fmt.Sprintf("%d rounds of write(%d B)+fdatasync in %d runs, one after each round of the systems, %.0f rounds/s, %.2f MB/s raw; records/s = rounds/s x %d / %d replicas; p50/p99 per round",
		ops, conc*recordBytes, len(rounds), opsPerS, bytesPerS/mb, conc, replicas)
	return s
}

// mergeNote says how our producer turns appends into requests.
func mergeNote(maxInFlight int) string {
	if maxInFlight <= 0 {
		return "one Append request per append (--max-inflight 0: nothing merges)"
	}
	return fmt.Sprintf("at most %d Append requests in flight (or the concurrency, if lower); appends queued behind them are merged into one batch, as a Kafka producer gathers records while its requests are in flight (--max-inflight 0: one request per append)", maxInFlight)
}
