package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	etcdversion "go.etcd.io/etcd/api/v3/version"

	"github.com/robustmq/robustmq-go/tests/bench/internal/clients"
	"github.com/robustmq/robustmq-go/tests/bench/internal/cluster"
	"github.com/robustmq/robustmq-go/tests/bench/internal/etcdmember"
	"github.com/robustmq/robustmq-go/tests/bench/internal/load"
	"github.com/robustmq/robustmq-go/tests/bench/internal/stats"
	"github.com/robustmq/robustmq-go/tests/bench/internal/workspace"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "etcd-member":
			cfg, err := etcdmember.ParseFlags(args[1:])
			if err != nil {
				fmt.Fprintln(stderr, err)
				return 2
			}
			if err := etcdmember.Run(ctx, cfg); err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
			return 0
		case "check":
			return runCheck(args[1:], os.Stdin, stdout, stderr)
		case "journal":
			return runJournal(ctx, args[1:], os.Stdin, stdout, stderr)
		case "mqtt":
			return runMQTT(ctx, args[1:], os.Stdin, stdout, stderr)
		case "kafka":
			return runKafka(ctx, args[1:], os.Stdin, stdout, stderr)
		case "rtt":
			return runRTT(ctx, args[1:], stdout, stderr)
		}
	}
	opts, err := parseBenchFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "robustmq-bench:", err)
		return 2
	}
	if err := runBench(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "robustmq-bench: FAILED:", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	return 0
}

// benchOptions are the comparison's flags.
type benchOptions struct {
	placementBin   string
	configDir      string
	concurrency    []int
	duration       time.Duration
	warmup         time.Duration
	settle         time.Duration
	valueSize      int
	maxConns       int
	maxRequests    int
	requestTimeout time.Duration
	readyTimeout   time.Duration
	etcdEndpoints  string
	workDir        string
	keep           bool
	smoke          bool
}

func parseBenchFlags(args []string) (benchOptions, error) {
	binDir := "."
	if exe, err := os.Executable(); err == nil {
		binDir = filepath.Dir(exe)
	}
	var o benchOptions
	var conc string
	fs := flag.NewFlagSet("robustmq-bench", flag.ContinueOnError)
	fs.StringVar(&o.placementBin, "placement-bin", filepath.Join(binDir, "placement-center"), "placement-center binary")
	fs.StringVar(&o.configDir, "placement-config-dir", filepath.Join(binDir, "..", "config", "raft"), "directory of node-N.toml (ports, ids, peers and data dirs are overridden)")
	fs.StringVar(&conc, "concurrency", "1,16,256", "comma-separated concurrency steps (in-flight writes)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per system per step")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured writes before each measured run")
	fs.DurationVar(&o.settle, "settle", time.Second, "pause between two measured runs")
	fs.IntVar(&o.valueSize, "value-size", 256, "bytes per value")
	fs.IntVar(&o.maxConns, "max-conns", 16, "client connections per system: min(concurrency, max-conns)")
	fs.IntVar(&o.maxRequests, "max-requests", 5_000_000, "count bound per measured run")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 10*time.Second, "bound on one write")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 20*time.Second, "how long each cluster may take to elect a leader and take a write")
	fs.StringVar(&o.etcdEndpoints, "etcd-endpoints", "all", "etcd clients dial all members (etcd's usual client set-up; followers forward writes) or only the leader")
	fs.StringVar(&o.workDir, "work-dir", "", "parent of the run's data and log directory (default: system temp)")
	fs.BoolVar(&o.keep, "keep", false, "keep data and logs after a successful run")
	fs.BoolVar(&o.smoke, "smoke", false, "a few seconds: 1s per step, concurrency 1 and 16, short warmup (explicit flags still win)")
	if err := workspace.ParseFlags(fs, args, &o.smoke, map[string]func(){
		"concurrency": func() { conc = "1,16" },
		"duration":    func() { o.duration = time.Second },
		"warmup":      func() { o.warmup = 200 * time.Millisecond },
		"settle":      func() { o.settle = 0 },
	}); err != nil {
		return o, err
	}
	var err error
	if o.concurrency, err = workspace.ParseConcurrency(conc, 10_000); err != nil {
		return o, err
	}
	switch {
	case o.duration <= 0 || o.duration > time.Hour:
		return o, fmt.Errorf("--duration %v out of range (0, 1h]", o.duration)
	case o.warmup < 0 || o.warmup > time.Minute:
		return o, fmt.Errorf("--warmup %v out of range [0, 1m]", o.warmup)
	case o.valueSize <= 0 || o.valueSize > 1<<20:
		return o, fmt.Errorf("--value-size %d out of range (0, 1MiB]", o.valueSize)
	case o.maxConns <= 0:
		return o, fmt.Errorf("--max-conns %d", o.maxConns)
	case o.etcdEndpoints != "all" && o.etcdEndpoints != "leader":
		return o, fmt.Errorf("--etcd-endpoints %q: want all or leader", o.etcdEndpoints)
	}
	for _, c := range o.concurrency {
		if o.maxRequests < c {
			return o, fmt.Errorf("--max-requests %d below concurrency %d", o.maxRequests, c)
		}
	}
	return o, nil
}

func runBench(ctx context.Context, o benchOptions, stdout, stderr io.Writer) (err error) {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("own executable: %w", err)
	}
	ws, err := workspace.Open([]string{o.placementBin, filepath.Join(o.configDir, "node-1.toml")},
		"run `make build` first, or pass --placement-bin / --placement-config-dir", o.workDir, "robustmq-bench-")
	if err != nil {
		return err
	}
	workDir, group := ws.Dir, ws.Group
	// The clusters' data is thrown away, so a member that does not stop
	// within a second (an etcd leader trying to hand over leadership to
	// peers that already left) is simply killed.
	defer func() { err = ws.Close(err, o.keep, time.Second, stderr) }()

	fmt.Fprintf(stderr, "starting placement center (3 members) and etcd %s (3 members) under %s\n", etcdversion.Version, workDir)
	pc, err := cluster.StartPlacement(ctx, group, cluster.PlacementOptions{
		Binary: o.placementBin, ConfigDir: o.configDir, WorkDir: workDir, ReadyTimeout: o.readyTimeout,
	})
	if err != nil {
		return err
	}
	ec, err := cluster.StartEtcd(ctx, group, cluster.EtcdOptions{
		SelfBinary: self, WorkDir: workDir, ReadyTimeout: o.readyTimeout,
	})
	if err != nil {
		return err
	}
	etcdEndpoints := ec.Endpoints
	if o.etcdEndpoints == "leader" {
		etcdEndpoints = []string{ec.LeaderEndpoint}
	}
	fmt.Fprintf(stdout, "# placement-center vs etcd %s, 3 members each, fsync on both, loopback, %d CPUs, %s\n",
		etcdversion.Version, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(stdout, "# %v per system per step after %v warmup; %d-byte values to distinct keys; placement via leaderclient, etcd clients dial %s member(s) %v\n",
		o.duration, o.warmup, o.valueSize, o.etcdEndpoints, etcdEndpoints)

	value := make([]byte, o.valueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	type system struct {
		name string
		pool func(size int) (*clients.Pool, error)
	}
	placementSys := system{stats.SystemPlacement, func(n int) (*clients.Pool, error) {
		return clients.NewPlacementPool(pc.Addrs, n, o.requestTimeout)
	}}
	etcdSys := system{stats.SystemEtcd, func(n int) (*clients.Pool, error) {
		return clients.NewEtcdPool(etcdEndpoints, n)
	}}

	for stepIdx, conc := range o.concurrency {
		conns := min(conc, o.maxConns)
		// The order alternates so that whatever one system leaves behind
		// (compaction, page cache write-back) falls on each in turn.
		order := []system{placementSys, etcdSys}
		if stepIdx%2 == 1 {
			order = []system{etcdSys, placementSys}
		}
		summaries := map[string]stats.Summary{}
		for i, sys := range order {
			if i > 0 && o.settle > 0 {
				select {
				case <-time.After(o.settle):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			s, err := measure(ctx, sys.name, sys.pool, conns, conc, stepIdx, value, o, stderr)
			if err != nil {
				return err
			}
			summaries[sys.name] = s
		}
		cmp := stats.Compare(summaries[stats.SystemPlacement], summaries[stats.SystemEtcd], o.valueSize, conns)
		fmt.Fprintln(stdout)
		if err := cmp.WriteTable(stdout); err != nil {
			return err
		}
		line, err := cmp.JSONLine()
		if err != nil {
			return err
		}
		if _, err := stdout.Write(line); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	return nil
}

// measure runs one system at one concurrency: fresh pool, warmup, timed run.
func measure(ctx context.Context, name string, newPool func(int) (*clients.Pool, error), conns, conc, stepIdx int,
	value []byte, o benchOptions, stderr io.Writer) (stats.Summary, error) {
	pool, err := newPool(conns)
	if err != nil {
		return stats.Summary{}, err
	}
	defer pool.Close()
	step := load.Step{
		Concurrency:          conc,
		MaxRequests:          o.maxRequests,
		Value:                value,
		RequestTimeout:       o.requestTimeout,
		MaxConsecutiveErrors: 100,
	}
	if o.warmup > 0 {
		step.Duration = o.warmup
		step.KeyPrefix = fmt.Sprintf("bench/s%d/c%d/warmup", stepIdx, conc)
		fmt.Fprintf(stderr, "%s c=%d: warmup %v\n", name, conc, o.warmup)
		if _, err := load.Run(ctx, pool.Putters, step); err != nil {
			return stats.Summary{}, err
		}
	}
	step.Duration = o.duration
	step.KeyPrefix = fmt.Sprintf("bench/s%d/c%d/run", stepIdx, conc)
	fmt.Fprintf(stderr, "%s c=%d: measuring %v over %d connections\n", name, conc, o.duration, conns)
	res, err := load.Run(ctx, pool.Putters, step)
	if err != nil {
		return stats.Summary{}, err
	}
	if len(res.Latencies) == 0 {
		return stats.Summary{}, fmt.Errorf("%s c=%d: no write succeeded (%d errors, first: %v)", name, conc, res.Errors, res.FirstErr)
	}
	if res.Errors > 0 {
		fmt.Fprintf(stderr, "%s c=%d: %d errors, first: %v\n", name, conc, res.Errors, res.FirstErr)
	}
	return stats.Summarize(name, conc, res.Latencies, res.Errors, res.Elapsed), nil
}

// runCheck validates a run's output: exactly the expected number of
// complete comparison lines.
func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	expect := fs.Int("expect", 0, "number of comparison lines the output must hold (0: at least one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cmps, err := stats.ParseLines(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "check:", err)
		return 1
	}
	if (*expect == 0 && len(cmps) == 0) || (*expect > 0 && len(cmps) != *expect) {
		fmt.Fprintf(stderr, "check: %d comparison lines, want %d\n", len(cmps), max(*expect, 1))
		return 1
	}
	fmt.Fprintf(stdout, "check: %d comparison lines parsed, both systems wrote in each\n", len(cmps))
	return 0
}
