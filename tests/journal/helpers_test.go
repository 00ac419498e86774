package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

const (
	// tenant is the tenant every test stream lives in (it always exists).
	tenant = "default"
	// lease is the placement node lease of the fault tests: a killed
	// journal node is declared DEAD about this long after its kill.
	lease = 2 * time.Second
	// benchTimeout is robustctl's --timeout for bench runs (the whole
	// run, retries included) and bounds their process.
	benchTimeout = 3 * time.Minute
	// recoverTimeout bounds every wait for a failover to complete.
	recoverTimeout = 60 * time.Second
	// callTimeout bounds one unary call or one stream exchange.
	callTimeout = 10 * time.Second
	// loadRecords, loadSize and loadConcurrency shape the bench produce
	// the fault tests kill things under: it runs several seconds (about
	// 50000 records/s on a 2-core machine).
	loadRecords     = 200_000
	loadSize        = 100
	loadConcurrency = 4
	// maxReadResponses bounds the responses one read loop takes.
	maxReadResponses = 100_000
)

var (
	open   = placementpb.SegmentStatus_SEGMENT_STATUS_OPEN
	sealed = placementpb.SegmentStatus_SEGMENT_STATUS_SEALED
)

// chaos reports whether the long variants were asked for.
func chaos() bool { return os.Getenv("ROBUSTMQ_CHAOS") != "" }

// requireBinaries fails the test at once, saying what to build, when the
// journal binary or a robustctl command it drives is missing (an
// integration test that skipped would prove nothing; `make
// test-integration` builds them first).
func requireBinaries(t *testing.T, robustctlCommands ...[]string) {
	t.Helper()
	if !harness.HasBinary(t, harness.JournalBinary) {
		t.Fatalf("bin/%s is not built (`make build`, or set %s)", harness.JournalBinary, harness.BinDirEnv)
	}
	for _, c := range robustctlCommands {
		if !harness.HasRobustctlCommand(t, c...) {
			t.Fatalf("bin/robustctl has no `%s` command (`make build`, or set %s)", strings.Join(c, " "), harness.BinDirEnv)
		}
	}
}

var (
	streamCmds = []string{"stream", "create"}
	produceCmd = []string{"bench", "produce"}
	consumeCmd = []string{"bench", "consume"}
)

// testContext is a context that ends after d or when the test ends.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// cluster is one test's placement center and journal nodes.
type cluster struct {
	pc *harness.PlacementCluster
	jc *harness.JournalCluster
}

// startCluster starts 3 placement members (node lease `lease`) and the
// journal nodes of jopts.
func startCluster(t *testing.T, jopts harness.JournalOptions) *cluster {
	t.Helper()
	pc := harness.StartPlacement(t, harness.PlacementOptions{Lease: lease})
	jopts.Placement = pc.Addrs()
	began := time.Now()
	jc := harness.StartJournal(t, jopts)
	t.Logf("cluster: 3 placement members, %d journal nodes (journal start %s)", len(jc.Nodes()), time.Since(began).Round(time.Millisecond))
	return &cluster{pc: pc, jc: jc}
}

func (c *cluster) placement() placementpb.PlacementServiceClient { return c.jc.Placement() }

// createStream runs `robustctl stream create`.
func (c *cluster) createStream(t *testing.T, name string, partitions, replicas int, extra ...string) string {
	t.Helper()
	args := append([]string{"stream", "create", name, "--partitions", fmt.Sprint(partitions), "--replicas", fmt.Sprint(replicas)}, extra...)
	return c.jc.Robustctl(args...)
}

// produceArgs are the arguments of a verifiable bench produce run.
func produceArgs(stream string, count, size, concurrency int) []string {
	return []string{"--timeout", benchTimeout.String(), "bench", "produce", "--stream", stream,
		"--count", fmt.Sprint(count), "--size", fmt.Sprint(size), "--concurrency", fmt.Sprint(concurrency), "--verifiable"}
}

// produce runs a verifiable bench produce to its end. A run that failed
// records exits 1 but still prints its summary, which is returned; the
// exit status is logged.
func (c *cluster) produce(t *testing.T, stream string, count, size, concurrency int) harness.ProduceResult {
	t.Helper()
	res := c.run(t, produceArgs(stream, count, size, concurrency)...)
	r, err := harness.ParseProduce(res.Stdout)
	if err != nil {
		t.Fatalf("%s: %v (exit: %v)\n---- stdout ----\n%s\n---- stderr (tail) ----\n%s", res.Command, err, res.Err, res.Stdout, tail(res.Stderr, 40))
	}
	return r
}

// run runs robustctl bounded by benchTimeout plus a margin, logging a
// failed exit with its stderr.
func (c *cluster) run(t *testing.T, args ...string) harness.RobustctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout+30*time.Second)
	defer cancel()
	res := harness.RunRobustctl(ctx, harness.BinDir(t), c.jc.PlacementAddrs(), args...)
	if res.Err != nil {
		t.Logf("%s: exit %v after %s; stderr tail:\n%s", res.Command, res.Err, res.Duration.Round(time.Millisecond), tail(res.Stderr, 20))
	}
	return res
}

// startProduce starts a verifiable bench produce in the background.
func (c *cluster) startProduce(t *testing.T, stream string, count, size, concurrency int) *harness.BackgroundRobustctl {
	t.Helper()
	return harness.StartRobustctl(t, c.jc.PlacementAddrs(), benchTimeout+30*time.Second, produceArgs(stream, count, size, concurrency)...)
}

// waitProduce waits for a background produce and parses its summary.
func waitProduce(t *testing.T, bg *harness.BackgroundRobustctl) (harness.ProduceResult, harness.RobustctlResult) {
	t.Helper()
	res := bg.Wait()
	r, err := harness.ParseProduce(res.Stdout)
	if err != nil {
		t.Fatalf("%s: %v (exit: %v)\n---- stdout ----\n%s\n---- stderr (tail) ----\n%s", res.Command, err, res.Err, res.Stdout, tail(res.Stderr, 40))
	}
	if res.Err != nil {
		t.Logf("%s: exit %v; stderr tail:\n%s", res.Command, res.Err, tail(res.Stderr, 20))
	}
	return r, res
}

// consume runs a verifying bench consume of the whole stream: it reads
// until it saw every sequence number in [0, expect) or its timeout; the
// summary is returned whatever the exit status.
func (c *cluster) consume(t *testing.T, stream string, expect int64, timeout time.Duration) harness.ConsumeResult {
	t.Helper()
	res := c.run(t, "--timeout", timeout.String(), "bench", "consume", "--stream", stream, "--verify", "--expect", fmt.Sprint(expect))
	r, err := harness.ParseConsume(res.Stdout)
	if err != nil {
		t.Fatalf("%s: %v (exit: %v)\n---- stdout ----\n%s\n---- stderr (tail) ----\n%s", res.Command, err, res.Err, res.Stdout, tail(res.Stderr, 40))
	}
	return r
}

// streamView is the part of `robustctl stream describe -o json` the
// tests read.
type streamView struct {
	Name       string `json:"name"`
	Partitions int    `json:"partitions"`
	Replicas   uint32 `json:"replicas"`
	AckQuorum  uint32 `json:"ackQuorum"`
	Parts      []struct {
		Partition     int    `json:"partition"`
		Shard         string `json:"shard"`
		ActiveSegment uint32 `json:"activeSegment"`
		Segments      []struct {
			Seq           uint32   `json:"seq"`
			Status        string   `json:"status"`
			Replicas      []uint64 `json:"replicas"`
			Leader        uint64   `json:"leader"`
			Epoch         uint64   `json:"epoch"`
			StartOffset   uint64   `json:"startOffset"`
			EndOffset     *uint64  `json:"endOffset"`
			LAC           *uint64  `json:"lac"`
			LogEnd        *uint64  `json:"logEnd"`
			DescribeError string   `json:"describeError"`
		} `json:"segments"`
	} `json:"partitionList"`
}

// describeStream runs `robustctl stream describe NAME -o json`.
func (c *cluster) describeStream(t *testing.T, name string) (streamView, string) {
	t.Helper()
	out := c.jc.Robustctl("stream", "describe", name, "-o", "json")
	var v streamView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("stream describe %s -o json: %v\n%s", name, err, out)
	}
	return v, out
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// shardName is partition p's shard of stream.
func shardName(stream string, p int) string { return fmt.Sprintf("%s/%d", stream, p) }

// getShard reads a shard and its segments (ordered by seq) from the
// placement center.
func (c *cluster) getShard(ctx context.Context, name string) (*placementpb.Shard, []*placementpb.Segment, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.placement().GetShard(ctx, &placementpb.GetShardRequest{Tenant: tenant, Name: name})
	if err != nil {
		return nil, nil, fmt.Errorf("get shard %s: %w", name, err)
	}
	segs := slices.Clone(resp.GetSegments())
	slices.SortFunc(segs, func(a, b *placementpb.Segment) int { return int(a.GetSeq()) - int(b.GetSeq()) })
	return resp.GetShard(), segs, nil
}

// mustShard is getShard that fails the test.
func (c *cluster) mustShard(t *testing.T, name string) (*placementpb.Shard, []*placementpb.Segment) {
	t.Helper()
	sh, segs, err := c.getShard(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return sh, segs
}

// openSegment waits until the shard's active segment is OPEN with a
// running leader, and returns it.
func (c *cluster) openSegment(t *testing.T, name string, timeout time.Duration) *placementpb.Segment {
	t.Helper()
	var seg *placementpb.Segment
	harness.Eventually(t, timeout, "an open segment of "+name+" led by a running node", func() error {
		s, err := c.activeOpen(context.Background(), name)
		if err != nil {
			return err
		}
		seg = s
		return nil
	})
	return seg
}

// activeOpen returns the shard's active segment if it is OPEN and its
// leader runs.
func (c *cluster) activeOpen(ctx context.Context, name string) (*placementpb.Segment, error) {
	sh, segs, err := c.getShard(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, s := range segs {
		if s.GetSeq() != sh.GetActiveSegment() {
			continue
		}
		if s.GetStatus() != open {
			return nil, fmt.Errorf("active segment %d is %s", s.GetSeq(), s.GetStatus())
		}
		if n := c.jc.Node(s.GetLeader()); n == nil || !n.Running() {
			return nil, fmt.Errorf("active segment %d's leader %d is not running", s.GetSeq(), s.GetLeader())
		}
		return s, nil
	}
	return nil, fmt.Errorf("active segment %d not listed among %d segments", sh.GetActiveSegment(), len(segs))
}

// ref is the journal's name of a placement segment.
func ref(s *placementpb.Segment) *journalpb.SegmentRef {
	return &journalpb.SegmentRef{Tenant: s.GetTenant(), Shard: s.GetShard(), Seq: s.GetSeq()}
}

// segString is a one-line summary of a placement segment.
func segString(s *placementpb.Segment) string {
	end := "-"
	if s.GetStatus() == sealed {
		end = fmt.Sprint(s.GetEndOffset())
	}
	rec := ""
	if s.GetRecoveryNode() != 0 {
		rec = fmt.Sprintf(" recovery node %d", s.GetRecoveryNode())
	}
	return fmt.Sprintf("%s#%d %s replicas %v leader %d epoch %d%s [%d,%s)", s.GetShard(), s.GetSeq(),
		strings.TrimPrefix(s.GetStatus().String(), "SEGMENT_STATUS_"), s.GetReplicas(), s.GetLeader(), s.GetEpoch(), rec, s.GetStartOffset(), end)
}

// describe asks node for its replica of seg.
func describe(ctx context.Context, n *harness.JournalNode, seg *placementpb.Segment) (*journalpb.DescribeResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	d, err := n.API().Describe(ctx, &journalpb.DescribeRequest{Segment: ref(seg)})
	if err != nil {
		return nil, fmt.Errorf("journal %d describe %s#%d: %w", n.ID, seg.GetShard(), seg.GetSeq(), err)
	}
	return d, nil
}

// committed is the number of offsets of the shard known committed: the
// end of its last sealed segment, or its open segment's LAC on the
// leader. It tells whether writes make progress.
func (c *cluster) committed(ctx context.Context, name string) (uint64, error) {
	_, segs, err := c.getShard(ctx, name)
	if err != nil {
		return 0, err
	}
	var best uint64
	for _, s := range segs {
		switch s.GetStatus() {
		case sealed:
			best = max(best, s.GetEndOffset())
		case open:
			n := c.jc.Node(s.GetLeader())
			if n == nil || !n.Running() {
				continue
			}
			d, err := describe(ctx, n, s)
			if err != nil {
				return 0, err
			}
			best = max(best, d.GetLac())
		}
	}
	return best, nil
}

// checkContiguous asserts that a shard's segments cover its offsets
// without gaps or overlap: every segment but the last sealed, each
// starting where the previous ended. It returns the summaries.
func checkContiguous(t *testing.T, segs []*placementpb.Segment) []string {
	t.Helper()
	var lines []string
	for i, s := range segs {
		lines = append(lines, segString(s))
		if i == 0 {
			continue
		}
		prev := segs[i-1]
		if prev.GetStatus() != sealed {
			t.Errorf("segment %s is followed by %s but is not sealed", segString(prev), segString(s))
			continue
		}
		if s.GetStartOffset() != prev.GetEndOffset() {
			t.Errorf("segment %s starts at %d, its predecessor %s ended at %d", segString(s), s.GetStartOffset(), segString(prev), prev.GetEndOffset())
		}
	}
	return lines
}

// readResult is what one read of a replica returned.
type readResult struct {
	batches   [][]byte
	headers   []recordbatch.Header
	next      uint64 // offset after the last batch (from when none)
	lastLAC   uint64
	sealed    bool
	sealedEnd uint64
}

// readReplica reads seg on n from `from` without following, until the
// stream ends, checking on every response that no batch reaches past the
// LAC the response reports (readers never see past LAC) and that offsets
// are contiguous.
func readReplica(ctx context.Context, n *harness.JournalNode, seg *placementpb.Segment, from uint64) (readResult, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	stream, err := n.API().Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), FromOffset: from, MaxBytes: 64 << 10})
	if err != nil {
		return readResult{}, err
	}
	res := readResult{next: from}
	for range maxReadResponses {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("journal %d read %s#%d from %d: %w", n.ID, seg.GetShard(), seg.GetSeq(), from, err)
		}
		res.lastLAC = resp.GetLac()
		for _, b := range resp.GetBatches() {
			h, err := recordbatch.Validate(b, recordbatch.Limits{})
			if err != nil {
				return res, fmt.Errorf("journal %d returned a bad batch at %d: %w", n.ID, res.next, err)
			}
			if h.FirstOffset != res.next {
				return res, fmt.Errorf("journal %d returned a batch at %d, want %d (gap or overlap)", n.ID, h.FirstOffset, res.next)
			}
			if h.NextOffset() > resp.GetLac() && !resp.GetSealed() {
				return res, fmt.Errorf("journal %d returned batch [%d,%d) past the LAC %d of its response", n.ID, h.FirstOffset, h.NextOffset(), resp.GetLac())
			}
			res.batches = append(res.batches, b)
			res.headers = append(res.headers, h)
			res.next = h.NextOffset()
		}
		if resp.GetSealed() {
			res.sealed, res.sealedEnd = true, resp.GetSealedEnd()
		}
	}
	return res, fmt.Errorf("journal %d: read did not end within %d responses", n.ID, maxReadResponses)
}

// records builds n records of size bytes each, valued "<tag>-<i>" padded.
func records(tag string, n, size int) []recordbatch.Record {
	now := time.Now().UnixMilli()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		v := []byte(fmt.Sprintf("%s-%06d-", tag, i))
		for len(v) < size {
			v = append(v, byte('a'+i%26))
		}
		recs[i] = recordbatch.Record{TimestampMs: now, Key: []byte(fmt.Sprint(i)), Value: v}
	}
	return recs
}

// batch encodes records as a writer does (FirstOffset 0, no producer).
func batch(recs []recordbatch.Record) []byte {
	return recordbatch.Encode(recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1}, Records: recs})
}

// producerBatch encodes records as an idempotent producer's batch.
func producerBatch(recs []recordbatch.Record, producerID uint64, producerEpoch uint32, baseSeq int32) []byte {
	return recordbatch.Encode(recordbatch.Batch{Header: recordbatch.Header{
		ProducerID: producerID, ProducerEpoch: producerEpoch, BaseSequence: baseSeq,
	}, Records: recs})
}

// appender is one Append stream to one node; every call is one request
// and its response (the stream is used strictly in order).
type appender struct {
	node   *harness.JournalNode
	stream journalpb.JournalService_AppendClient
	cancel context.CancelFunc
	nextID uint64
}

// openAppend opens an Append stream to n, closed when the test ends.
func openAppend(t *testing.T, n *harness.JournalNode) *appender {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := n.API().Append(ctx)
	if err != nil {
		cancel()
		t.Fatalf("journal %d: open Append: %v", n.ID, err)
	}
	a := &appender{node: n, stream: stream, cancel: cancel, nextID: 1}
	t.Cleanup(cancel)
	return a
}

// send appends one batch and returns the response (whose error field
// carries a refused batch) or the stream's error.
func (a *appender) send(seg *placementpb.Segment, epoch uint64, b []byte) (*journalpb.AppendResponse, error) {
	id := a.nextID
	a.nextID++
	ch := make(chan error, 1)
	var resp *journalpb.AppendResponse
	go func() {
		if err := a.stream.Send(&journalpb.AppendRequest{RequestId: id, Segment: ref(seg), Epoch: epoch, Batch: b}); err != nil {
			ch <- fmt.Errorf("send: %w", err)
			return
		}
		r, err := a.stream.Recv()
		if err != nil {
			ch <- fmt.Errorf("recv: %w", err)
			return
		}
		resp = r
		ch <- nil
	}()
	select {
	case err := <-ch:
		if err != nil {
			return nil, err
		}
	case <-time.After(callTimeout):
		a.cancel()
		return nil, fmt.Errorf("journal %d: no Append response within %s", a.node.ID, callTimeout)
	}
	if resp.GetRequestId() != id {
		return resp, fmt.Errorf("journal %d answered request %d with request id %d", a.node.ID, id, resp.GetRequestId())
	}
	return resp, nil
}

// faultPartition is what faultScan found in one partition.
type faultPartition struct {
	segments []string // segString of each segment
	records  uint64   // offsets [0, records) read back
	batches  int
}

// faultScan reads every partition of a verifiable stream straight from
// the replicas (JournalService Read, no client library) and checks that
// its offsets are dense: the first segment starts at 0, every batch
// starts where the previous one ended, a sealed segment ends exactly at
// its placement end (with sealed_end said by the replica) and the next
// segment starts there; an open segment is read on its leader up to the
// leader's LAC. It returns each partition's summary and how often each
// "seq=<n>" value was read (seqs[n]; values past len(seqs) or not of that
// form are counted in the second result).
func faultScan(t *testing.T, c *cluster, stream string, partitions, maxSeq int) ([]faultPartition, []int, int) {
	t.Helper()
	seqs := make([]int, maxSeq)
	var other int
	out := make([]faultPartition, partitions)
	for p := range partitions {
		name := shardName(stream, p)
		_, segs := c.mustShard(t, name)
		out[p].segments = checkContiguous(t, segs)
		var next uint64
		for i, s := range segs {
			if s.GetStartOffset() != next {
				t.Errorf("%s: segment %s starts at %d, want %d (the previous end)", name, segString(s), s.GetStartOffset(), next)
			}
			res, node, err := faultReadSegment(c, s)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return out, seqs, other
			}
			if len(res.headers) > 0 && res.headers[0].FirstOffset != s.GetStartOffset() {
				t.Errorf("%s: segment %s's first batch on journal %d starts at %d", name, segString(s), node, res.headers[0].FirstOffset)
			}
			switch {
			case s.GetStatus() == sealed:
				if !res.sealed || res.sealedEnd != s.GetEndOffset() || res.next != s.GetEndOffset() {
					t.Errorf("%s: sealed segment %s read on journal %d up to %d (sealed %v at %d), want exactly its end %d",
						name, segString(s), node, res.next, res.sealed, res.sealedEnd, s.GetEndOffset())
				}
			case i != len(segs)-1:
				t.Errorf("%s: segment %s is not the last but is not sealed", name, segString(s))
			}
			for j, b := range res.batches {
				dec, err := recordbatch.Decode(b, recordbatch.Limits{})
				if err != nil {
					t.Errorf("%s: batch at %d on journal %d: %v", name, res.headers[j].FirstOffset, node, err)
					continue
				}
				for _, r := range dec.Records {
					if n, ok := faultParseSeq(r.Value); ok && n < uint64(maxSeq) {
						seqs[n]++
					} else {
						other++
					}
				}
			}
			out[p].batches += len(res.batches)
			next = res.next
		}
		out[p].records = next
	}
	return out, seqs, other
}

// faultReadSegment reads a whole segment from the start: an open one on
// its leader (up to its LAC), a sealed one on the first of its replicas
// that runs and answers. It returns the read and the node read.
func faultReadSegment(c *cluster, s *placementpb.Segment) (readResult, uint64, error) {
	ids := s.GetReplicas()
	if s.GetStatus() != sealed {
		ids = []uint64{s.GetLeader()}
	}
	var errs []error
	for _, id := range ids {
		n := c.jc.Node(id)
		if n == nil || !n.Running() {
			errs = append(errs, fmt.Errorf("journal %d is not running", id))
			continue
		}
		res, err := readReplica(context.Background(), n, s, s.GetStartOffset())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return res, id, nil
	}
	return readResult{}, 0, fmt.Errorf("segment %s: no replica served it: %w", segString(s), errors.Join(errs...))
}

// faultParseSeq reads bench produce --verifiable's "seq=<n>" (padded
// with '.').
func faultParseSeq(v []byte) (uint64, bool) {
	s, ok := strings.CutPrefix(string(v), "seq=")
	if !ok {
		return 0, false
	}
	s = strings.TrimRight(s, ".")
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// faultCheckSeqs asserts that seq value n was read want(n) times, and
// that nothing else was; it reports the first few mismatches.
func faultCheckSeqs(t *testing.T, what string, seqs []int, other int, want func(n int) int) {
	t.Helper()
	var bad []string
	mismatches := 0
	for n, got := range seqs {
		if w := want(n); got != w {
			mismatches++
			if len(bad) < 10 {
				bad = append(bad, fmt.Sprintf("seq %d read %d times, want %d", n, got, w))
			}
		}
	}
	if other != 0 {
		t.Errorf("%s: %d records that are no expected seq value", what, other)
	}
	if mismatches > 0 {
		t.Errorf("%s: %d seq values read the wrong number of times: %s", what, mismatches, strings.Join(bad, "; "))
	}
}

// faultResume polls, every 50 ms from now until timeout, for the first
// offset committed on shard past segment afterSeq: a later segment OPEN
// whose leader's LAC (Describe) passed its start. It returns how long
// that took from since (the kill) and the segment, or an error when it
// never happened. It makes no t.Fatal call, so it may run on its own
// goroutine.
func faultResume(c *cluster, shard string, afterSeq uint32, since time.Time, timeout time.Duration) (time.Duration, *placementpb.Segment, error) {
	var took time.Duration
	var got *placementpb.Segment
	err := harness.Poll(context.Background(), timeout, func() error {
		_, segs, err := c.getShard(context.Background(), shard)
		if err != nil {
			return err
		}
		for _, s := range segs {
			if s.GetSeq() <= afterSeq || s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING {
				continue
			}
			if s.GetStatus() == sealed && s.GetEndOffset() > s.GetStartOffset() {
				took, got = time.Since(since), s
				return nil
			}
			n := c.jc.Node(s.GetLeader())
			if n == nil || !n.Running() {
				continue
			}
			d, err := describe(context.Background(), n, s)
			if err != nil {
				continue // the leader may not know the segment yet
			}
			if d.GetLac() > s.GetStartOffset() {
				took, got = time.Since(since), s
				return nil
			}
		}
		return fmt.Errorf("nothing committed past segment %d yet", afterSeq)
	})
	return took, got, err
}

// faultLogLines returns the lines of the processes' logs (all their runs)
// that contain each of subs, prefixed with the process name, at most max.
// Each process's log holds every run of it, so a line may predate the
// current cycle.
func faultLogLines(procs []*harness.Process, max int, subs ...string) []string {
	var out []string
	for _, p := range procs {
		b, err := os.ReadFile(p.LogPath())
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", p.Name(), err))
			continue
		}
	lines:
		for _, line := range strings.Split(string(b), "\n") {
			for _, s := range subs {
				if !strings.Contains(line, s) {
					continue lines
				}
			}
			if len(out) == max {
				return append(out, "...")
			}
			out = append(out, fmt.Sprintf("%s: %s", p.Name(), line))
		}
	}
	return out
}
