package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/streamclient"
)

// seqPrefix starts every verifiable value: "seq=<n>" then padding.
const seqPrefix = "seq="

// seqValue returns the value of record n: "seq=<n>" padded with '.' to
// size bytes (longer when size is too small to hold the number).
func seqValue(n uint64, size int) []byte {
	v := strconv.AppendUint([]byte(seqPrefix), n, 10)
	for len(v) < size {
		v = append(v, '.')
	}
	return v
}

// fillerValue is a non-verifiable value of size bytes.
func fillerValue(size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = 'x'
	}
	return v
}

// parseSeq reads the sequence number of a seqValue.
func parseSeq(v []byte) (uint64, bool) {
	if len(v) <= len(seqPrefix) || string(v[:len(seqPrefix)]) != seqPrefix {
		return 0, false
	}
	end := len(seqPrefix)
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, err := strconv.ParseUint(string(v[len(seqPrefix):end]), 10, 64)
	if err != nil || (end < len(v) && v[end] != '.') {
		return 0, false
	}
	return n, true
}

// percentile returns the p-th percentile (0..100) of sorted durations in
// ms, nearest rank; 0 for none.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	rank = min(max(rank, 0), len(sorted)-1)
	return round3(float64(sorted[rank]) / float64(time.Millisecond))
}

// num renders a figure for a table cell, never in exponent form.
func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/d.Seconds()*10) / 10
}

// produceSummary is bench produce's final JSON line.
type produceSummary struct {
	Acked         int64   `json:"acked"`
	Failed        int64   `json:"failed"`
	RecordsPerSec float64 `json:"records_per_sec"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
}

// consumeSummary is bench consume's final JSON line.
type consumeSummary struct {
	Read          int64   `json:"read"`
	Missing       int64   `json:"missing"`
	Duplicates    int64   `json:"duplicates"`
	RecordsPerSec float64 `json:"records_per_sec"`
}

// printLine writes v as one compact JSON line.
func printLine(e *env, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.out, "%s\n", b)
	return err
}

// benchDeadline is the whole run's context: --timeout when given, else
// def (0: only the command's own context).
func (e *env) benchContext(cmd *cobra.Command, def time.Duration) (context.Context, context.CancelFunc) {
	d := def
	if cmd.Flags().Changed("timeout") {
		d = e.timeout
	}
	if d <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), d)
}

type produceFlags struct {
	stream      string
	count       int
	size        int
	concurrency int
	partitions  int
	batch       int
	window      int
	deadline    time.Duration
	verifiable  bool
}

// produceStats collects the outcomes of bench produce's batches.
type produceStats struct {
	mu        sync.Mutex
	acked     int64
	failed    int64
	latencies []time.Duration // one per acknowledged batch
	errs      map[string]int  // first line of each error, counted
}

func (s *produceStats) add(n int, lat time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.acked += int64(n)
		s.latencies = append(s.latencies, lat)
		return
	}
	s.failed += int64(n)
	if s.errs == nil {
		s.errs = map[string]int{}
	}
	s.errs[err.Error()]++
}

func (s *produceStats) summary(elapsed time.Duration) produceSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	slices.Sort(s.latencies)
	return produceSummary{Acked: s.acked, Failed: s.failed, RecordsPerSec: rate(s.acked, elapsed),
		P50Ms: percentile(s.latencies, 50), P99Ms: percentile(s.latencies, 99)}
}

// runProduce writes f.count records in batches of f.batch, batch i to
// partition i mod P, from f.concurrency submitters each keeping up to
// f.window batches in flight.
func runProduce(ctx context.Context, p *streamclient.Producer, f produceFlags, parts int) (*produceStats, time.Duration) {
	stats := &produceStats{}
	batches := (f.count + f.batch - 1) / f.batch
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < f.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			window := make(chan struct{}, f.window)
			var inflight sync.WaitGroup
			defer inflight.Wait()
			for {
				b := int(next.Add(1) - 1)
				if b >= batches {
					return
				}
				lo, hi := b*f.batch, min((b+1)*f.batch, f.count)
				recs := make([]recordbatch.Record, 0, hi-lo)
				for n := lo; n < hi; n++ {
					v := fillerValue(f.size)
					if f.verifiable {
						v = seqValue(uint64(n), f.size)
					}
					recs = append(recs, recordbatch.Record{Value: v})
				}
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					stats.add(len(recs), 0, ctx.Err())
					continue
				}
				bctx, cancel := context.WithTimeout(ctx, f.deadline)
				sent := time.Now()
				inflight.Add(1)
				err := p.AppendAsync(bctx, b%parts, recs, func(_ streamclient.AppendResult, err error) {
					stats.add(len(recs), time.Since(sent), err)
					cancel()
					<-window
					inflight.Done()
				})
				if err != nil {
					stats.add(len(recs), 0, err)
					cancel()
					<-window
					inflight.Done()
				}
			}
		}()
	}
	wg.Wait()
	return stats, time.Since(start)
}

func benchProduceCmd(e *env) *cobra.Command {
	var f produceFlags
	cmd := &cobra.Command{
		Use:   "produce --stream NAME --count N --size B",
		Short: "Write N records to a stream through the idempotent producer and report throughput and latency",
		Long: `bench produce writes --count records of --size bytes in batches of --batch records, batch i to
partition i mod P, from --concurrency submitters each keeping up to --window batches in flight.
With --verifiable every value is "seq=<n>" padded to --size bytes, n unique in 0..N-1, for bench consume --verify.
A batch keeps retrying through leader failovers until its --deadline; one that never gets an
acknowledgement counts as failed (it may still have been written).
The output ends with exactly one JSON line:
  {"acked":A,"failed":F,"records_per_sec":X,"p50_ms":Y,"p99_ms":Z}
(latencies are per batch, from submit to acknowledgement). The exit code is 1 when any record failed.
--partitions P writes to the first P partitions only (default: all).`,
		Example: "  robustctl bench produce --stream s1 --count 10000 --size 100 --verifiable\n" +
			"  robustctl bench produce --stream s1 --count 1000000 --size 512 --concurrency 4 --batch 500 -o json",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				// "--partitions 2": the bare flag took its default and the
				// count arrived as an argument.
				n, err := strconv.Atoi(args[0])
				if err != nil || f.partitions != 0 || !cmd.Flags().Changed("partitions") {
					return fmt.Errorf("unexpected argument %q", args[0])
				}
				f.partitions = n
			}
			switch {
			case f.stream == "":
				return errors.New("--stream is required")
			case f.count < 1:
				return fmt.Errorf("--count must be at least 1, not %d", f.count)
			case f.size < 0 || f.size > 4<<20:
				return fmt.Errorf("--size must be in [0, 4194304], not %d", f.size)
			case f.concurrency < 1:
				return fmt.Errorf("--concurrency must be at least 1, not %d", f.concurrency)
			case f.batch < 1 || f.batch > 65536:
				return fmt.Errorf("--batch must be in [1, 65536], not %d", f.batch)
			case f.window < 1:
				return fmt.Errorf("--window must be at least 1, not %d", f.window)
			case f.deadline <= 0:
				return fmt.Errorf("--deadline must be positive, not %s", f.deadline)
			case f.partitions < 0:
				return fmt.Errorf("--partitions must not be negative, not %d", f.partitions)
			}
			sc, err := e.streams(cmd, true)
			if err != nil {
				return err
			}
			setup, cancel := e.ctx(cmd)
			p, err := sc.NewProducer(setup, f.stream, streamclient.ProducerOptions{MaxInFlight: max(f.window, 1), DeliveryTimeout: f.deadline})
			cancel()
			if err != nil {
				return err
			}
			parts := p.Partitions()
			if f.partitions > 0 {
				parts = min(parts, f.partitions)
			}
			ctx, cancel := e.benchContext(cmd, 0)
			defer cancel()
			stats, elapsed := runProduce(ctx, p, f, parts)
			closeCtx, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
			_ = p.Close(closeCtx)
			cancelClose()
			sum := stats.summary(elapsed)
			if e.output == outputTable {
				if err := table(e.out, []string{"ACKED", "FAILED", "RECORDS/S", "P50-MS", "P99-MS", "ELAPSED"}, [][]string{{
					fmt.Sprint(sum.Acked), fmt.Sprint(sum.Failed), num(sum.RecordsPerSec), num(sum.P50Ms), num(sum.P99Ms),
					elapsed.Round(time.Millisecond).String()}}); err != nil {
					return err
				}
			}
			if err := printLine(e, sum); err != nil {
				return err
			}
			if sum.Failed > 0 {
				msg := fmt.Sprintf("%d of %d records failed", sum.Failed, f.count)
				for text, n := range stats.errs {
					msg += fmt.Sprintf("\n  %d batches: %s", n, text)
				}
				return errors.New(msg)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stream, "stream", "", "stream to write (required)")
	fl.IntVar(&f.count, "count", 10000, "records to write")
	fl.IntVar(&f.size, "size", 100, "value size in bytes")
	fl.IntVar(&f.concurrency, "concurrency", 1, "submitting goroutines")
	fl.IntVar(&f.partitions, "partitions", 0, "write to the first P partitions only (0 or bare: all)")
	fl.Lookup("partitions").NoOptDefVal = "0"
	fl.IntVar(&f.batch, "batch", 100, "records per batch")
	fl.IntVar(&f.window, "window", streamclient.DefaultMaxInFlight, "batches in flight per submitter (and per partition)")
	fl.DurationVar(&f.deadline, "deadline", 60*time.Second, "how long one batch keeps retrying (through failovers) before it counts as failed")
	fl.BoolVar(&f.verifiable, "verifiable", false, `values are "seq=<n>" padded to --size, for bench consume --verify`)
	addTenantFlag(cmd, "default", "the stream's tenant")
	return cmd
}

// verifier counts what bench consume reads: every record, the distinct
// sequence numbers in [0, expect) and the records whose sequence number
// was already seen.
type verifier struct {
	mu         sync.Mutex
	verify     bool
	expect     int64
	seen       []bool
	extra      map[uint64]bool // seen numbers >= expect
	read       int64
	distinct   int64 // distinct numbers in [0, expect)
	duplicates int64
	invalid    int64 // values that are not "seq=<n>"
}

func newVerifier(expect int64, verify bool) *verifier {
	v := &verifier{verify: verify, expect: expect, extra: map[uint64]bool{}}
	if verify {
		v.seen = make([]bool, expect)
	}
	return v
}

// add accounts one record's value and reports whether the goal is met.
func (v *verifier) add(value []byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.read++
	if v.verify {
		n, ok := parseSeq(value)
		switch {
		case !ok:
			v.invalid++
		case n < uint64(v.expect):
			if v.seen[n] {
				v.duplicates++
			} else {
				v.seen[n] = true
				v.distinct++
			}
		case v.extra[n]:
			v.duplicates++
		default:
			v.extra[n] = true
		}
	}
	return v.doneLocked()
}

func (v *verifier) done() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.doneLocked()
}

func (v *verifier) doneLocked() bool {
	if v.verify {
		return v.distinct >= v.expect
	}
	return v.read >= v.expect
}

func (v *verifier) summary(elapsed time.Duration) consumeSummary {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := consumeSummary{Read: v.read, Duplicates: v.duplicates, RecordsPerSec: rate(v.read, elapsed)}
	if v.verify {
		s.Missing = v.expect - v.distinct
	} else {
		s.Missing = max(0, v.expect-v.read)
	}
	return s
}

// firstMissing lists up to n missing sequence numbers.
func (v *verifier) firstMissing(n int) []int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []int64
	for i, ok := range v.seen {
		if !ok {
			out = append(out, int64(i))
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// runConsume reads every partition from the earliest offset until v is
// done or ctx ends, then reads on to each partition's committed end (not
// waiting for more) so trailing duplicates are counted too.
func runConsume(ctx context.Context, sc *streamclient.Client, stream string, parts int, v *verifier) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	positions := make([]uint64, parts)
	started := make([]bool, parts)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := 0; i < parts; i++ {
		r, err := sc.NewReader(stream, i, streamclient.ReaderOptions{Start: streamclient.Earliest(), Follow: true})
		if err != nil {
			return 0, err
		}
		wg.Add(1)
		go func(i int, r *streamclient.Reader) {
			defer wg.Done()
			defer r.Close()
			for ctx.Err() == nil {
				msgs, err := r.Next(ctx)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("partition %d: %w", i, err))
						mu.Unlock()
					}
					break
				}
				for _, m := range msgs {
					if v.add(m.Value) {
						cancel()
					}
				}
				positions[i], started[i] = r.Position(), true
			}
		}(i, r)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if !v.done() {
		return elapsed, errors.Join(errs...)
	}
	// The goal was met: drain what is already committed past each
	// reader's position, briefly, to count duplicates behind it.
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	for i := 0; i < parts; i++ {
		pos := streamclient.Earliest()
		if started[i] {
			pos = streamclient.AtOffset(positions[i])
		}
		r, err := sc.NewReader(stream, i, streamclient.ReaderOptions{Start: pos})
		if err != nil {
			continue
		}
		for {
			msgs, err := r.Next(dctx)
			if err != nil {
				break
			}
			for _, m := range msgs {
				v.add(m.Value)
			}
		}
		_ = r.Close()
	}
	return elapsed, nil
}

func benchConsumeCmd(e *env) *cobra.Command {
	var stream string
	var expect int64
	var verify bool
	cmd := &cobra.Command{
		Use:   "consume --stream NAME --expect N",
		Short: "Read every partition of a stream from the earliest offset and check what bench produce wrote",
		Long: `bench consume reads every partition from its earliest offset, following new writes, until it has
--expect records (with --verify: N distinct sequence numbers 0..N-1 from bench produce --verifiable), or
--timeout passes (default 60s for this command). It then reads on to each partition's committed end
to count duplicates behind that point. The output ends with exactly one JSON line:
  {"read":R,"missing":M,"duplicates":D,"records_per_sec":X}
The exit code is 1 when records are missing, or with --verify when any sequence number was read twice.`,
		Example: "  robustctl bench consume --stream s1 --verify --expect 10000\n" +
			"  robustctl bench consume --stream s1 --expect 1000000 --timeout 5m -o json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stream == "" {
				return errors.New("--stream is required")
			}
			if expect < 1 || expect > 1<<31 {
				return fmt.Errorf("--expect must be in [1, 2147483648], not %d", expect)
			}
			sc, err := e.streams(cmd, true)
			if err != nil {
				return err
			}
			setup, cancel := e.ctx(cmd)
			parts, err := sc.Partitions(setup, stream)
			cancel()
			if err != nil {
				return err
			}
			v := newVerifier(expect, verify)
			ctx, cancel := e.benchContext(cmd, 60*time.Second)
			defer cancel()
			elapsed, readErr := runConsume(ctx, sc, stream, parts, v)
			sum := v.summary(elapsed)
			if e.output == outputTable {
				if err := table(e.out, []string{"READ", "MISSING", "DUPLICATES", "RECORDS/S", "ELAPSED"}, [][]string{{
					fmt.Sprint(sum.Read), fmt.Sprint(sum.Missing), fmt.Sprint(sum.Duplicates), num(sum.RecordsPerSec),
					elapsed.Round(time.Millisecond).String()}}); err != nil {
					return err
				}
			}
			if err := printLine(e, sum); err != nil {
				return err
			}
			if v.invalid > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %d values are not seq=<n> (not written by bench produce --verifiable)\n", v.invalid)
			}
			var problems []string
			if sum.Missing > 0 {
				p := fmt.Sprintf("%d records missing", sum.Missing)
				if verify {
					p += fmt.Sprintf(" (first: %v)", v.firstMissing(10))
				}
				problems = append(problems, p)
			}
			if verify && sum.Duplicates > 0 {
				problems = append(problems, fmt.Sprintf("%d duplicates", sum.Duplicates))
			}
			if readErr != nil {
				problems = append(problems, readErr.Error())
			}
			if len(problems) > 0 && (sum.Missing > 0 || (verify && sum.Duplicates > 0)) {
				return errors.New(strings.Join(problems, "; "))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&stream, "stream", "", "stream to read (required)")
	fl.Int64Var(&expect, "expect", 0, "records (with --verify: distinct sequence numbers) to wait for (required)")
	fl.BoolVar(&verify, "verify", false, `check "seq=<n>" values: count missing and duplicate sequence numbers`)
	addTenantFlag(cmd, "default", "the stream's tenant")
	return cmd
}

func benchCmd(e *env) *cobra.Command {
	c := group("bench", "Load and verification runs against a stream",
		"  robustctl bench produce --stream s1 --count 10000 --size 100 --verifiable\n  robustctl bench consume --stream s1 --verify --expect 10000")
	c.AddCommand(benchProduceCmd(e), benchConsumeCmd(e))
	return c
}
