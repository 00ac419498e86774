package journal

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

// TestIntegrationJournalProduceConsume: 3 placement members and 3 journal
// nodes; a 2-partition stream with 3 replicas takes 5000 verifiable records
// (all acked), reads them all back exactly once, and every partition's
// open segment has 3 replicas, a leader, and LAC == log end on every
// replica once the writes are done.
func TestIntegrationJournalProduceConsume(t *testing.T) {
	requireBinaries(t, streamCmds, produceCmd, consumeCmd)
	const count, partitions = 5000, 2
	c := startCluster(t, harness.JournalOptions{Nodes: 3})
	t.Logf("stream create:\n%s", c.createStream(t, "s", partitions, 3))

	p := c.produce(t, "s", count, 100, 4)
	t.Logf("produce: acked %d failed %d, %.0f records/s, p50 %.2f ms, p99 %.2f ms", p.Acked, p.Failed, p.RecordsPerSec, p.P50Ms, p.P99Ms)
	if p.Acked != count || p.Failed != 0 {
		t.Fatalf("produce acked %d failed %d, want %d and 0", p.Acked, p.Failed, count)
	}
	r := c.consume(t, "s", count, time.Minute)
	t.Logf("consume: read %d missing %d duplicates %d, %.0f records/s", r.Read, r.Missing, r.Duplicates, r.RecordsPerSec)
	if r.Read != count || r.Missing != 0 || r.Duplicates != 0 {
		t.Errorf("consume read %d missing %d duplicates %d, want %d, 0, 0", r.Read, r.Missing, r.Duplicates, count)
	}

	if list := c.jc.Robustctl("stream", "list"); !strings.Contains(list, "s") {
		t.Errorf("stream list does not name s:\n%s", list)
	}
	t.Logf("stream describe:\n%s", c.jc.Robustctl("stream", "describe", "s"))
	// The CLI's view (-o json): per partition one open segment with 3
	// replicas, a leader among them, and LAC == log end (the writes are
	// over, so nothing is in flight).
	view, raw := c.describeStream(t, "s")
	if view.Partitions != partitions || len(view.Parts) != partitions || view.Replicas != 3 {
		t.Fatalf("stream describe: %d partitions (%d listed), %d replicas; want %d and 3\n%s", view.Partitions, len(view.Parts), view.Replicas, partitions, raw)
	}
	var described uint64
	for _, part := range view.Parts {
		if len(part.Segments) != 1 {
			t.Errorf("partition %d: %d segments, want 1\n%s", part.Partition, len(part.Segments), raw)
			continue
		}
		s := part.Segments[0]
		if !strings.EqualFold(s.Status, "open") || len(s.Replicas) != 3 || !slices.Contains(s.Replicas, s.Leader) || s.LAC == nil || s.LogEnd == nil || *s.LAC != *s.LogEnd {
			t.Errorf("partition %d: stream describe shows %+v, want OPEN, 3 replicas with the leader, LAC == log end\n%s", part.Partition, s, raw)
			continue
		}
		described += *s.LogEnd - s.StartOffset
	}
	if described != count {
		t.Errorf("stream describe accounts for %d records, want %d", described, count)
	}

	var total uint64
	for i := range partitions {
		name := shardName("s", i)
		seg := c.openSegment(t, name, 10*time.Second)
		if len(seg.GetReplicas()) != 3 || !slices.Contains(seg.GetReplicas(), seg.GetLeader()) || seg.GetAckQuorum() != 2 {
			t.Errorf("partition %d: %s, want 3 replicas including the leader, ack quorum 2", i, segString(seg))
		}
		// The leader's LAC equals its log end (nothing is in flight), and
		// every follower learns that LAC (it travels on the next
		// replicate, possibly a LAC-only one).
		leader := c.jc.Node(seg.GetLeader())
		ld, err := describe(context.Background(), leader, seg)
		if err != nil {
			t.Fatal(err)
		}
		if ld.GetLac() != ld.GetLogEnd() {
			t.Errorf("partition %d leader %d: LAC %d, log end %d", i, leader.ID, ld.GetLac(), ld.GetLogEnd())
		}
		for _, id := range seg.GetReplicas() {
			n := c.jc.Node(id)
			harness.Eventually(t, 10*time.Second, fmt.Sprintf("partition %d replica %d at LAC == log end == %d", i, id, ld.GetLogEnd()), func() error {
				d, err := describe(context.Background(), n, seg)
				if err != nil {
					return err
				}
				if d.GetLac() != ld.GetLogEnd() || d.GetLogEnd() != ld.GetLogEnd() {
					return fmt.Errorf("LAC %d log end %d", d.GetLac(), d.GetLogEnd())
				}
				return nil
			})
		}
		t.Logf("partition %d: %s, LAC = log end = %d on all 3 replicas", i, segString(seg), ld.GetLogEnd())
		total += ld.GetLogEnd() - seg.GetStartOffset()
	}
	if total != count {
		t.Errorf("the partitions hold %d records, want %d", total, count)
	}
}

// createShard creates a 1-partition stream's shard straight through the
// placement API (the raw-API tests do not need robustctl) and waits until
// its leader accepts appends, returning the open segment.
func (c *cluster) createShard(t *testing.T, stream string, replicas, quorum uint32) *placementpb.Segment {
	t.Helper()
	ctx := testContext(t, callTimeout)
	resp, err := c.placement().CreateShard(ctx, &placementpb.CreateShardRequest{
		Tenant: tenant, Name: shardName(stream, 0), ReplicaCount: replicas, AckQuorum: quorum,
		Config: map[string]string{"stream": stream, "partition": "0", "partitions": "1"},
	})
	if err != nil {
		t.Fatalf("create shard %s: %v", shardName(stream, 0), err)
	}
	seg := resp.GetSegment()
	// The leader learns of the segment through its placement watch: a
	// NotFound until then.
	a := openAppend(t, c.jc.Node(seg.GetLeader()))
	harness.Eventually(t, 10*time.Second, "the leader to accept a first append", func() error {
		r, err := a.send(seg, seg.GetEpoch(), batch(records("first", 1, 10)))
		if err != nil {
			a = openAppend(t, c.jc.Node(seg.GetLeader()))
			return err
		}
		return rpcerr.FromProto(r.GetError())
	})
	return seg
}

// TestIntegrationJournalFollowerReads: while a writer appends, a Read on
// each follower never returns a batch past the LAC it reports and returns
// byte-for-byte the leader's batches; once the writes stop, every follower
// serves everything the leader acknowledged.
func TestIntegrationJournalFollowerReads(t *testing.T) {
	requireBinaries(t)
	const batches, perBatch = 300, 10
	c := startCluster(t, harness.JournalOptions{Nodes: 3})
	seg := c.createShard(t, "fr", 3, 2)
	leader := c.jc.Node(seg.GetLeader())
	var followers []*harness.JournalNode
	for _, id := range seg.GetReplicas() {
		if id != leader.ID {
			followers = append(followers, c.jc.Node(id))
		}
	}
	if len(followers) != 2 {
		t.Fatalf("%s: want 2 followers", segString(seg))
	}

	// The writer: one Append stream, strictly request/response.
	type result struct {
		acked uint64 // next offset of the last acked batch
		err   error
	}
	done := make(chan result, 1)
	a := openAppend(t, leader)
	go func() {
		var acked uint64
		for i := range batches {
			r, err := a.send(seg, seg.GetEpoch(), batch(records(fmt.Sprintf("b%03d", i), perBatch, 64)))
			if err == nil {
				err = rpcerr.FromProto(r.GetError())
			}
			if err != nil {
				done <- result{acked, fmt.Errorf("batch %d: %w", i, err)}
				return
			}
			acked = r.GetNextOffset()
		}
		done <- result{acked: acked}
	}()

	// Readers race the writer: every follower read must be a prefix of
	// the leader's log, bounded by its LAC.
	var rounds, maxLag int
	var writer result
	finished := false
	for round := 0; round < 10_000 && !finished; round++ {
		select {
		case writer = <-done:
			finished = true
		default:
		}
		lr, err := readReplica(context.Background(), leader, seg, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range followers {
			fr, err := readReplica(context.Background(), f, seg, 0)
			if err != nil {
				t.Fatal(err)
			}
			compareBatches(t, f.ID, fr, lr)
			maxLag = max(maxLag, len(lr.batches)-len(fr.batches))
		}
		rounds++
	}
	if !finished {
		writer = <-done
	}
	if writer.err != nil {
		t.Fatalf("writer: %v", writer.err)
	}

	// After the writes, each follower serves everything acknowledged,
	// once the LAC reached it.
	lr, err := readReplica(context.Background(), leader, seg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if lr.next != writer.acked {
		t.Fatalf("leader serves up to %d, the writer was acked up to %d", lr.next, writer.acked)
	}
	for _, f := range followers {
		harness.Eventually(t, 10*time.Second, fmt.Sprintf("follower %d to serve up to %d", f.ID, writer.acked), func() error {
			fr, err := readReplica(context.Background(), f, seg, 0)
			if err != nil {
				return err
			}
			if fr.next != writer.acked {
				return fmt.Errorf("serves up to %d (LAC %d)", fr.next, fr.lastLAC)
			}
			compareBatches(t, f.ID, fr, lr)
			return nil
		})
		// A read from the middle starts at the right batch.
		mid := lr.headers[len(lr.headers)/2].FirstOffset
		fr, err := readReplica(context.Background(), f, seg, mid)
		if err != nil {
			t.Fatal(err)
		}
		if len(fr.batches) == 0 || !bytes.Equal(fr.batches[0], lr.batches[len(lr.batches)/2]) {
			t.Errorf("follower %d read from %d does not start with the leader's batch at %d", f.ID, mid, mid)
		}
	}
	t.Logf("follower reads: %d records in %d batches acked; %d rounds of reads during the writes, largest follower lag %d batches; all followers equal to the leader",
		writer.acked, len(lr.batches), rounds, maxLag)
}

// compareBatches checks that a follower's batches are the leader's first
// ones, byte for byte.
func compareBatches(t *testing.T, id uint64, follower, leader readResult) {
	t.Helper()
	if len(follower.batches) > len(leader.batches) {
		// The leader's read came first; the follower may have learnt a
		// later LAC since, but only of batches the leader has.
		follower.batches = follower.batches[:len(leader.batches)]
	}
	for i, b := range follower.batches {
		if !bytes.Equal(b, leader.batches[i]) {
			t.Fatalf("follower %d batch %d (offset %d) differs from the leader's", id, i, follower.headers[i].FirstOffset)
		}
	}
}

// verifyConsume reads back a stream that a verifiable produce of count
// records wrote: sequence numbers 0..count-1, every acknowledged one must
// be read exactly once. Only records whose batch failed (no ack; it may
// still have been written) may be missing, so missing <= failed.
func verifyConsume(t *testing.T, c *cluster, stream string, count int, p harness.ProduceResult) {
	t.Helper()
	timeout := 90 * time.Second
	if p.Failed > 0 {
		// The reader waits for all count numbers until its timeout.
		timeout = 20 * time.Second
	}
	r := c.consume(t, stream, int64(count), timeout)
	t.Logf("%s: consume read %d missing %d duplicates %d (%.0f records/s); produce acked %d failed %d",
		stream, r.Read, r.Missing, r.Duplicates, r.RecordsPerSec, p.Acked, p.Failed)
	if r.Missing > p.Failed {
		t.Errorf("%s: %d records missing but only %d failed: at least %d acknowledged records lost", stream, r.Missing, p.Failed, r.Missing-p.Failed)
	}
	if r.Duplicates != 0 {
		t.Errorf("%s: %d records read twice", stream, r.Duplicates)
	}
}

// killLeaderCycle runs one kill -9 of a partition's segment leader under
// a produce load on a fresh stream and checks every acked record stays
// readable exactly once; the killed node is restarted at the end.
func killLeaderCycle(t *testing.T, c *cluster, stream string, count, partition int) {
	t.Helper()
	c.createStream(t, stream, 2, 3)
	shard := shardName(stream, partition)
	seg := c.openSegment(t, shard, 10*time.Second)
	victim := c.jc.Node(seg.GetLeader())

	bg := c.startProduce(t, stream, count, loadSize, loadConcurrency)
	began := time.Now()
	harness.Eventually(t, 60*time.Second, "the partition to commit a fifth of its share before the kill", func() error {
		select {
		case <-bg.Done():
			return nil
		default:
		}
		n, err := c.committed(context.Background(), shard)
		if err != nil {
			return err
		}
		if n < uint64(count/10) {
			return fmt.Errorf("committed %d", n)
		}
		return nil
	})
	select {
	case <-bg.Done():
		res := bg.Wait()
		t.Fatalf("the produce ended before the kill (raise the count): %v\n%s", res.Err, res.Stdout)
	default:
	}
	committedAtKill, _ := c.committed(context.Background(), shard)
	victim.Kill9()
	killed := time.Now()
	t.Logf("%s: killed journal %d (leader of %s) %s into the produce, %d committed on that partition",
		stream, victim.ID, segString(seg), killed.Sub(began).Round(time.Millisecond), committedAtKill)

	// Recovery: the dead leader's segment is sealed and a successor
	// opens on live nodes.
	var next *placementpb.Segment
	harness.Eventually(t, recoverTimeout, "segment "+shard+"#0 sealed and a successor open on live nodes", func() error {
		_, segs, err := c.getShard(context.Background(), shard)
		if err != nil {
			return err
		}
		if segs[0].GetStatus() != sealed {
			return fmt.Errorf("%s", segString(segs[0]))
		}
		s, err := c.activeOpen(context.Background(), shard)
		if err != nil {
			return err
		}
		next = s
		return nil
	})
	recovered := time.Since(killed)

	p, res := waitProduce(t, bg)
	t.Logf("%s: produce acked %d failed %d of %d (%.0f records/s, p50 %.2f ms, p99 %.2f ms) in %s; segment sealed and successor open %s after the kill",
		stream, p.Acked, p.Failed, count, p.RecordsPerSec, p.P50Ms, p.P99Ms, res.Duration.Round(time.Millisecond), recovered.Round(time.Millisecond))
	if p.Failed != 0 {
		t.Errorf("%s: %d records failed through the failover (stderr tail:\n%s)", stream, p.Failed, tail(res.Stderr, 20))
	}
	if p.Acked+p.Failed != int64(count) {
		t.Errorf("%s: acked %d + failed %d != %d", stream, p.Acked, p.Failed, count)
	}

	verifyConsume(t, c, stream, count, p)

	_, segs := c.mustShard(t, shard)
	t.Logf("%s: %s", shard, strings.Join(checkContiguous(t, segs), "; "))
	if segs[0].GetStatus() != sealed || segs[0].GetEndOffset() < committedAtKill {
		t.Errorf("%s: old segment %s, want SEALED at an end >= %d (committed at the kill)", stream, segString(segs[0]), committedAtKill)
	}
	for _, id := range next.GetReplicas() {
		if id == victim.ID {
			t.Errorf("%s: successor %s placed on the dead node %d", stream, segString(next), victim.ID)
		}
	}

	// The killed node comes back and reconciles its replica of the old
	// segment: sealed at the placement's end, its unacknowledged tail
	// trimmed.
	restartBegan := time.Now()
	victim.Restart()
	end := segs[0].GetEndOffset()
	harness.Eventually(t, recoverTimeout, fmt.Sprintf("restarted journal %d to seal its replica of %s#0 at %d", victim.ID, shard, end), func() error {
		d, err := describe(context.Background(), victim, segs[0])
		if err != nil {
			return err
		}
		if !d.GetSealed() || d.GetSealedEnd() != end || d.GetLogEnd() != end {
			return fmt.Errorf("sealed %v at %d, log end %d, LAC %d", d.GetSealed(), d.GetSealedEnd(), d.GetLogEnd(), d.GetLac())
		}
		return nil
	})
	t.Logf("%s: journal %d restarted and sealed its old replica at %d within %s", stream, victim.ID, end, time.Since(restartBegan).Round(time.Millisecond))
}

// TestIntegrationJournalKillSegmentLeader: kill -9 of the node leading
// partition 0's open segment in the middle of a produce. The producer
// retries through the failover; every acked record is read back exactly
// once; the old segment is sealed, a new one opens on live nodes, and the
// killed node seals its stale replica when it is back. ROBUSTMQ_CHAOS=1
// runs 10 cycles.
func TestIntegrationJournalKillSegmentLeader(t *testing.T) {
	requireBinaries(t, streamCmds, produceCmd, consumeCmd)
	cycles := 1
	if chaos() {
		cycles = 10
	}
	// 4 nodes: the successor still gets 3 replicas without the dead one.
	c := startCluster(t, harness.JournalOptions{Nodes: 4})
	for cycle := range cycles {
		// Partition 0 first; the chaos cycles alternate, so other nodes
		// lead the killed segment too.
		killLeaderCycle(t, c, fmt.Sprintf("kl%02d", cycle), loadRecords, cycle%2)
		if t.Failed() {
			t.Fatalf("cycle %d failed", cycle)
		}
	}
}

// TestIntegrationJournalKillFollower: kill -9 of a follower of the open
// segment during a produce. Writes go on with 2 of 3 replicas (ack quorum
// 2), the segment seals early once the follower is declared dead, and its
// successor opens without the dead node. Nothing acked is lost.
func TestIntegrationJournalKillFollower(t *testing.T) {
	requireBinaries(t, streamCmds, produceCmd, consumeCmd)
	// Three times the usual load: the produce must outlast the early
	// seal, about one lease after the kill.
	const count = 3 * loadRecords
	c := startCluster(t, harness.JournalOptions{Nodes: 4})
	c.createStream(t, "kf", 1, 3, "--ack-quorum", "2")
	p0 := shardName("kf", 0)
	seg := c.openSegment(t, p0, 10*time.Second)
	var victim *harness.JournalNode
	for _, id := range seg.GetReplicas() {
		if id != seg.GetLeader() {
			victim = c.jc.Node(id)
			break
		}
	}

	bg := c.startProduce(t, "kf", count, loadSize, loadConcurrency)
	harness.Eventually(t, 60*time.Second, "a tenth of the records committed before the kill", func() error {
		n, err := c.committed(context.Background(), p0)
		if err != nil {
			return err
		}
		if n < count/10 {
			return fmt.Errorf("committed %d", n)
		}
		return nil
	})
	committedAtKill, err := c.committed(context.Background(), p0)
	if err != nil {
		t.Fatal(err)
	}
	victim.Kill9()
	killed := time.Now()
	t.Logf("killed follower journal %d of %s with %d committed", victim.ID, segString(seg), committedAtKill)

	// Writes go on with the two live replicas, before and after the
	// early seal.
	var progressAfter time.Duration
	harness.Eventually(t, 30*time.Second, "commits after the follower's kill", func() error {
		select {
		case <-bg.Done():
			return nil // the load ended; the final count below decides
		default:
		}
		n, err := c.committed(context.Background(), p0)
		if err != nil {
			return err
		}
		if n <= committedAtKill+100 {
			return fmt.Errorf("committed %d", n)
		}
		progressAfter = time.Since(killed)
		return nil
	})

	var next *placementpb.Segment
	harness.Eventually(t, recoverTimeout, "the segment sealed early and a successor without the dead follower", func() error {
		_, segs, err := c.getShard(context.Background(), p0)
		if err != nil {
			return err
		}
		if segs[0].GetStatus() != sealed {
			return fmt.Errorf("%s", segString(segs[0]))
		}
		s, err := c.activeOpen(context.Background(), p0)
		if err != nil {
			return err
		}
		if slices.Contains(s.GetReplicas(), victim.ID) {
			return fmt.Errorf("successor %s includes the dead node %d", segString(s), victim.ID)
		}
		next = s
		return nil
	})
	sealedAfter := time.Since(killed)
	select {
	case <-bg.Done():
		t.Logf("the produce ended before the early seal: writes crossed no roll")
	default:
		t.Logf("the produce was still running at the early seal: writes continue on %s", segString(next))
	}

	p, res := waitProduce(t, bg)
	t.Logf("produce acked %d failed %d of %d (%.0f records/s, p50 %.2f ms, p99 %.2f ms) in %s; progress %s after the kill, sealed and rolled %s after it",
		p.Acked, p.Failed, count, p.RecordsPerSec, p.P50Ms, p.P99Ms, res.Duration.Round(time.Millisecond),
		progressAfter.Round(time.Millisecond), sealedAfter.Round(time.Millisecond))
	if p.Acked != count || p.Failed != 0 {
		t.Errorf("produce acked %d failed %d, want %d and 0 (stderr tail:\n%s)", p.Acked, p.Failed, count, tail(res.Stderr, 20))
	}
	verifyConsume(t, c, "kf", count, p)
	_, segs := c.mustShard(t, p0)
	t.Logf("%s: %s", p0, strings.Join(checkContiguous(t, segs), "; "))
	if len(next.GetReplicas()) != 3 {
		t.Errorf("successor %s: want 3 replicas on the 3 live nodes", segString(next))
	}
}

// TestIntegrationJournalKillPlacementLeader: kill -9 of the placement
// leader while a produce rolls segments (small segment.max_bytes, so every
// roll needs the placement center). Nothing acked is lost or duplicated,
// and every partition's segments stay contiguous.
func TestIntegrationJournalKillPlacementLeader(t *testing.T) {
	requireBinaries(t, streamCmds, produceCmd, consumeCmd)
	const count, partitions = loadRecords, 2
	c := startCluster(t, harness.JournalOptions{Nodes: 3, SegmentMaxBytes: 1 << 20})
	c.createStream(t, "pl", partitions, 3)

	bg := c.startProduce(t, "pl", count, loadSize, loadConcurrency)
	harness.Eventually(t, 60*time.Second, "a roll on partition 0 before the kill", func() error {
		_, segs, err := c.getShard(context.Background(), shardName("pl", 0))
		if err != nil {
			return err
		}
		if len(segs) < 2 {
			return fmt.Errorf("%d segments", len(segs))
		}
		return nil
	})
	select {
	case <-bg.Done():
		t.Fatalf("the produce ended before the kill (raise the count)")
	default:
	}
	leader := c.pc.WaitLeader(30 * time.Second)
	leader.Kill9()
	killed := time.Now()
	t.Logf("killed placement leader %d", leader.ID)
	newLeader := c.pc.WaitLeader(30 * time.Second)
	t.Logf("placement member %d leads %s after the kill", newLeader.ID, time.Since(killed).Round(time.Millisecond))

	p, res := waitProduce(t, bg)
	t.Logf("produce acked %d failed %d of %d (%.0f records/s, p50 %.2f ms, p99 %.2f ms) in %s",
		p.Acked, p.Failed, count, p.RecordsPerSec, p.P50Ms, p.P99Ms, res.Duration.Round(time.Millisecond))
	if p.Failed != 0 {
		t.Errorf("%d records failed across the placement failover (stderr tail:\n%s)", p.Failed, tail(res.Stderr, 20))
	}
	leader.Restart()
	verifyConsume(t, c, "pl", count, p)
	for i := range partitions {
		_, segs := c.mustShard(t, shardName("pl", i))
		t.Logf("partition %d: %d segments: %s", i, len(segs), strings.Join(checkContiguous(t, segs), "; "))
	}
}

// wantTyped asserts that a refused batch carries code and the detail check.
func wantTyped(t *testing.T, what string, resp *journalpb.AppendResponse, err error, code codes.Code, detail func(error) bool) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: the Append stream failed: %v", what, err)
	}
	got := rpcerr.FromProto(resp.GetError())
	if got == nil {
		t.Errorf("%s: accepted at [%d,%d), want %s", what, resp.GetFirstOffset(), resp.GetNextOffset(), code)
		return
	}
	if rpcerr.Code(got) != code || (detail != nil && !detail(got)) {
		t.Errorf("%s: %v (code %s), want %s with its typed detail", what, got, rpcerr.Code(got), code)
		return
	}
	t.Logf("%s: %s %v", what, code, got)
}

// TestIntegrationJournalBadInput: garbage, corrupted, empty and oversized
// batches, a stale epoch, an unknown segment, an append to a follower, an
// out-of-order idempotent sequence and an out-of-range read all get their
// typed error; the Append stream keeps working after each; duplicates are
// recognised; the servers stay healthy.
func TestIntegrationJournalBadInput(t *testing.T) {
	requireBinaries(t)
	c := startCluster(t, harness.JournalOptions{Nodes: 3})
	seg := c.createShard(t, "bad", 3, 2)
	leader := c.jc.Node(seg.GetLeader())
	a := openAppend(t, leader)
	var wantEnd uint64 = 1 // createShard's first append
	ok := func(what string) {
		t.Helper()
		r, err := a.send(seg, seg.GetEpoch(), batch(records(what, 5, 32)))
		if err != nil {
			t.Fatalf("valid append after %s: the stream failed: %v", what, err)
		}
		if e := rpcerr.FromProto(r.GetError()); e != nil {
			t.Fatalf("valid append after %s: %v", what, e)
		}
		if r.GetFirstOffset() != wantEnd || r.GetNextOffset() != wantEnd+5 {
			t.Fatalf("valid append after %s: [%d,%d), want [%d,%d)", what, r.GetFirstOffset(), r.GetNextOffset(), wantEnd, wantEnd+5)
		}
		wantEnd += 5
	}
	isInvalid := func(e error) bool { _, ok := rpcerr.Detail[*commonpb.InvalidArgument](e); return ok }
	ok("start")

	r, err := a.send(seg, seg.GetEpoch(), []byte("this is not a record batch"))
	wantTyped(t, "garbage bytes", r, err, codes.InvalidArgument, isInvalid)
	ok("garbage bytes")

	corrupt := batch(records("corrupt", 3, 32))
	corrupt[len(corrupt)-1] ^= 0xff
	r, err = a.send(seg, seg.GetEpoch(), corrupt)
	wantTyped(t, "a batch with a bad CRC", r, err, codes.InvalidArgument, isInvalid)
	ok("bad CRC")

	r, err = a.send(seg, seg.GetEpoch(), nil)
	wantTyped(t, "an empty batch", r, err, codes.InvalidArgument, isInvalid)
	ok("empty batch")

	// 5 MiB: over the default 4 MiB batch limit, under the 8 MiB request
	// limit, so it reaches the batch check.
	big := batch(records("big", 5, 1<<20))
	r, err = a.send(seg, seg.GetEpoch(), big)
	wantTyped(t, fmt.Sprintf("a %d-byte batch", len(big)), r, err, codes.ResourceExhausted, func(e error) bool {
		_, ok := rpcerr.Detail[*commonpb.ResourceExhausted](e)
		return ok
	})
	ok("oversized batch")

	if seg.GetEpoch() > 0 {
		r, err = a.send(seg, seg.GetEpoch()-1, batch(records("stale", 2, 32)))
		wantTyped(t, "a stale epoch", r, err, codes.FailedPrecondition, func(e error) bool {
			f, ok := rpcerr.AsFenced(e)
			return ok && f.GetEpoch() == seg.GetEpoch()
		})
		ok("stale epoch")
	} else {
		t.Errorf("%s: a new segment at epoch 0", segString(seg))
	}
	r, err = a.send(seg, seg.GetEpoch()+1, batch(records("future", 2, 32)))
	if err != nil || r.GetError() == nil {
		t.Errorf("an epoch from the future was accepted: %v %v", r, err)
	} else {
		t.Logf("a future epoch: %v", rpcerr.FromProto(r.GetError()))
	}
	ok("future epoch")

	unknown := &placementpb.Segment{Tenant: tenant, Shard: seg.GetShard(), Seq: 99}
	r, err = a.send(unknown, seg.GetEpoch(), batch(records("unknown", 2, 32)))
	wantTyped(t, "an unknown segment", r, err, codes.NotFound, nil)
	ok("unknown segment")

	// Idempotent producer: a resent batch is a duplicate with the
	// original offsets; a gap in sequences is refused.
	pb := producerBatch(records("p", 4, 32), 4242, 0, 0)
	r1, err := a.send(seg, seg.GetEpoch(), pb)
	if err != nil || r1.GetError() != nil || r1.GetDuplicate() {
		t.Fatalf("producer batch: %v %v", r1, err)
	}
	r2, err := a.send(seg, seg.GetEpoch(), producerBatch(records("p", 4, 32), 4242, 0, 0))
	if err != nil || r2.GetError() != nil || !r2.GetDuplicate() || r2.GetFirstOffset() != r1.GetFirstOffset() || r2.GetNextOffset() != r1.GetNextOffset() {
		t.Errorf("resent producer batch: %v %v, want duplicate at [%d,%d)", r2, err, r1.GetFirstOffset(), r1.GetNextOffset())
	}
	wantEnd = r1.GetNextOffset()
	r, err = a.send(seg, seg.GetEpoch(), producerBatch(records("p", 1, 32), 4242, 0, 10))
	wantTyped(t, "an out-of-order producer sequence", r, err, codes.InvalidArgument, isInvalid)
	ok("out-of-order sequence")

	// A follower refuses appends, naming the leader.
	for _, id := range seg.GetReplicas() {
		if id == leader.ID {
			continue
		}
		f := c.jc.Node(id)
		fa := openAppend(t, f)
		r, err := fa.send(seg, seg.GetEpoch(), batch(records("follower", 2, 32)))
		wantTyped(t, fmt.Sprintf("an append to follower %d", id), r, err, codes.Unavailable, func(e error) bool {
			nl, ok := rpcerr.AsNotLeader(e)
			return ok && nl.GetLeaderId() == leader.ID && nl.GetLeaderAddr() == leader.Addr
		})
	}

	// A message past the gRPC request limit ends only its own stream.
	huge := batch(records("huge", 9, 1<<20))
	ha := openAppend(t, leader)
	if r, err := ha.send(seg, seg.GetEpoch(), huge); err == nil && r.GetError() == nil {
		t.Errorf("a %d-byte request was accepted", len(huge))
	} else {
		t.Logf("a %d-byte request: %v %v", len(huge), err, rpcerr.FromProto(r.GetError()))
	}
	ok("huge request on another stream")

	// Reads: out of range, and everything valid is there.
	ctx := testContext(t, callTimeout)
	rs, err := leader.API().Read(ctx, &journalpb.ReadRequest{Segment: ref(seg), FromOffset: wantEnd + 1_000_000})
	if err == nil {
		_, err = rs.Recv()
	}
	if rpcerr.Code(err) != codes.OutOfRange {
		t.Errorf("a read past the log end: %v, want OutOfRange", err)
	}
	res, err := readReplica(context.Background(), leader, seg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.next != wantEnd {
		t.Errorf("the leader serves up to %d, want %d", res.next, wantEnd)
	}
	for _, n := range c.jc.Nodes() {
		if !n.Running() {
			t.Errorf("journal %d exited: %v", n.ID, n.ExitErr())
			continue
		}
		hctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		if err := harness.HealthServing(n.Conn())(hctx); err != nil {
			t.Errorf("journal %d unhealthy after bad input: %v", n.ID, err)
		}
		cancel()
	}
	t.Logf("after the bad input: %d records in %d batches, all servers healthy", res.next, len(res.batches))
}
