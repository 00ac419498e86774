package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

// The sealed-segment lifecycle: retention deletes old sealed segments
// (metadata through placement, data on every replica through reconcile),
// and a dead journal node's sealed segments are re-replicated elsewhere.

// lifecycleSegmentBytes is the segment.max_bytes of the lifecycle streams:
// small, so a few thousand records make many sealed segments.
const lifecycleSegmentBytes = 32 << 10

// loadInRuns produces runs verifiable bench loads of per records of 100
// bytes, a little apart: leaders check for a roll every 250ms, so each run
// ends at least one small segment. It returns when all were acknowledged.
func (c *cluster) loadInRuns(t *testing.T, stream string, runs, per int) {
	t.Helper()
	for i := range runs {
		if r := c.produce(t, stream, per, 100, 2); r.Failed != 0 || r.Acked != int64(per) {
			t.Fatalf("load %d: %+v", i, r)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// streamClient is a streamclient.Client over the cluster's placement
// center, closed at the end of the test.
func (c *cluster) streamClient(t *testing.T) *streamclient.Client {
	t.Helper()
	lc, err := leaderclient.Dial(c.jc.PlacementAddrs(), leaderclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc := streamclient.New(lc, streamclient.Options{})
	t.Cleanup(func() {
		_ = sc.Close()
		_ = lc.Close()
	})
	return sc
}

// readAll reads partition 0 of stream from start until caught up and
// returns the offsets delivered (checked contiguous).
func readAll(t *testing.T, sc *streamclient.Client, stream string, start streamclient.Position) (first, next uint64, err error) {
	t.Helper()
	r, err := sc.NewReader(stream, 0, streamclient.ReaderOptions{Start: start})
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	ctx := testContext(t, time.Minute)
	got := false
	for {
		msgs, err := r.Next(ctx)
		if errors.Is(err, streamclient.ErrCaughtUp) {
			if !got {
				first = r.Position()
				next = first
			}
			return first, next, nil
		}
		if err != nil {
			return first, next, err
		}
		for _, m := range msgs {
			if !got {
				first, next, got = m.Offset, m.Offset, true
			}
			if m.Offset != next {
				return first, next, fmt.Errorf("record at offset %d, want %d (gap or duplicate)", m.Offset, next)
			}
			next++
		}
	}
}

// rawReplica reads seg's replica on n with ReadReplica: every stored
// batch of [start, end).
func rawReplica(ctx context.Context, n *harness.JournalNode, seg *placementpb.Segment) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	stream, err := n.API().ReadReplica(ctx, &journalpb.ReadReplicaRequest{Segment: ref(seg),
		FromOffset: seg.GetStartOffset(), ToOffset: seg.GetEndOffset()})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for range maxReadResponses {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("journal %d read replica %s: %w", n.ID, segString(seg), err)
		}
		out = append(out, resp.GetBatches()...)
	}
	return out, fmt.Errorf("journal %d: read replica did not end", n.ID)
}

// TestIntegrationRetention: a stream with small segments and retention.time
// 20s gets two loads 14s apart. Once the first load's segments expire they
// disappear from `stream describe`, a read from offset 0 gets the typed
// OutOfRange error naming the earliest offset, a read from earliest
// delivers every later record (the second load's segments are not touched
// meanwhile), and every node drops the deleted segments' data.
func TestIntegrationRetention(t *testing.T) {
	requireBinaries(t, streamCmds, produceCmd)
	c := startCluster(t, harness.JournalOptions{})
	const stream, retain, gap = "ret", 20 * time.Second, 14 * time.Second
	c.createStream(t, stream, 1, 3, "--segment-max-bytes", fmt.Sprint(lifecycleSegmentBytes), "--retention-time", retain.String())
	shard := shardName(stream, 0)

	const runs, per = 5, 400
	const count = runs * per
	began := time.Now()
	c.loadInRuns(t, stream, runs, per)
	_, firstLoad := c.mustShard(t, shard)
	var old []*placementpb.Segment // sealed with only first-load records
	for _, s := range firstLoad {
		if s.GetStatus() == sealed && s.GetEndOffset() <= count {
			old = append(old, s)
		}
	}
	if len(old) < 3 {
		t.Fatalf("first load made %d sealed segments, want several: %v", len(old), checkContiguous(t, firstLoad))
	}
	time.Sleep(time.Until(began.Add(gap)))
	secondAt := time.Now()
	c.loadInRuns(t, stream, runs, per)

	// The first load expires retain after it was written; retention runs
	// every few seconds on the open segment's leader.
	var sh *placementpb.Shard
	var segs []*placementpb.Segment
	harness.Eventually(t, retain+30*time.Second, "the first load's segments deleted from placement", func() error {
		var err error
		sh, segs, err = c.getShard(context.Background(), shard)
		if err != nil {
			return err
		}
		if len(segs) == 0 || segs[0].GetSeq() <= old[len(old)-1].GetSeq() {
			return fmt.Errorf("first segment is %s", segString(segs[0]))
		}
		return nil
	})
	if time.Since(secondAt) >= retain {
		t.Fatalf("the first load took until %s after the second to expire: the check window is gone", time.Since(secondAt))
	}
	first := segs[0].GetStartOffset()
	t.Logf("after retention: first segment %s, shard first_segment %d first_offset %d", segString(segs[0]), sh.GetFirstSegment(), sh.GetFirstOffset())
	checkContiguous(t, segs)
	if first == 0 || first > count || sh.GetFirstOffset() != first || sh.GetFirstSegment() != segs[0].GetSeq() {
		t.Fatalf("first remaining offset %d (shard says segment %d at %d); want in (0, %d]", first, sh.GetFirstSegment(), sh.GetFirstOffset(), count)
	}

	// stream describe no longer lists them.
	view, out := c.describeStream(t, stream)
	for _, s := range view.Parts[0].Segments {
		if s.Seq < segs[0].GetSeq() {
			t.Fatalf("stream describe still lists segment %d:\n%s", s.Seq, out)
		}
	}
	// Before the first offset: the typed error with the earliest offset.
	sc := c.streamClient(t)
	_, _, err := readAll(t, sc, stream, streamclient.AtOffset(0))
	var oe *streamclient.OffsetOutOfRangeError
	if !errors.As(err, &oe) || oe.Earliest != first || status.Code(err) != codes.OutOfRange {
		t.Fatalf("read from offset 0: %v (code %v), want OutOfRange with earliest %d", err, status.Code(err), first)
	}
	// From earliest: complete up to the end.
	from, to, err := readAll(t, sc, stream, streamclient.Earliest())
	if err != nil || from != first || to != 2*count {
		t.Fatalf("read from earliest: [%d, %d), %v; want [%d, %d)", from, to, err, first, 2*count)
	}

	// Every node drops its data (reconcile, after confirming).
	for _, s := range old {
		for _, n := range c.jc.Nodes() {
			harness.Eventually(t, 30*time.Second, fmt.Sprintf("journal %d dropped %s", n.ID, segString(s)), func() error {
				_, err := describe(context.Background(), n, s)
				if rpcerr.Code(err) == codes.NotFound {
					return nil
				}
				return fmt.Errorf("describe: %v", err)
			})
		}
	}
}

// TestIntegrationRereplication: four journal nodes, three replicas per
// segment. After a kill -9 of a node holding sealed segments, every sealed
// segment regains three replicas on live nodes (the fourth node copies the
// whole segment from the survivors, byte-identical), and when the killed
// node comes back its copies of the moved segments are dropped.
func TestIntegrationRereplication(t *testing.T) {
	requireBinaries(t, streamCmds, produceCmd)
	c := startCluster(t, harness.JournalOptions{Nodes: 4})
	const stream = "rerep"
	c.createStream(t, stream, 1, 3, "--segment-max-bytes", fmt.Sprint(lifecycleSegmentBytes))
	shard := shardName(stream, 0)
	const runs, per = 6, 500
	const count = runs * per
	c.loadInRuns(t, stream, runs, per)
	_, before := c.mustShard(t, shard)
	// The victim: the node holding the most sealed segments.
	held := map[uint64][]*placementpb.Segment{}
	for _, s := range before {
		if s.GetStatus() != sealed {
			continue
		}
		for _, r := range s.GetReplicas() {
			held[r] = append(held[r], s)
		}
	}
	var victim uint64
	for id, segs := range held {
		if victim == 0 || len(segs) > len(held[victim]) || (len(segs) == len(held[victim]) && id < victim) {
			victim = id
		}
	}
	moved := held[victim]
	if len(moved) == 0 {
		t.Fatalf("no sealed segments: %v", checkContiguous(t, before))
	}
	t.Logf("killing journal %d, which holds %d sealed segments", victim, len(moved))
	vn := c.jc.Node(victim)
	vn.Kill9()
	c.jc.WaitNodeStatus(victim, placementpb.NodeStatus_NODE_STATUS_DEAD, recoverTimeout)

	// Every sealed segment lists three replicas, all live, none the victim.
	var after []*placementpb.Segment
	harness.Eventually(t, recoverTimeout, "sealed segments re-replicated off the dead node", func() error {
		_, segs, err := c.getShard(context.Background(), shard)
		if err != nil {
			return err
		}
		for _, s := range segs {
			if s.GetStatus() != sealed {
				continue
			}
			if len(s.GetReplicas()) != 3 || slices.Contains(s.GetReplicas(), victim) {
				return fmt.Errorf("segment %s", segString(s))
			}
		}
		after = segs
		return nil
	})
	checkContiguous(t, after)
	bySeq := map[uint32]*placementpb.Segment{}
	for _, s := range after {
		bySeq[s.GetSeq()] = s
	}
	// The new replica holds the whole segment, sealed, byte-identical to a
	// surviving one.
	for _, old := range moved {
		now := bySeq[old.GetSeq()]
		if now == nil || now.GetEndOffset() != old.GetEndOffset() || now.GetEpoch() != old.GetEpoch() {
			t.Fatalf("segment %d after re-replication: %v, before %s", old.GetSeq(), now, segString(old))
		}
		var added uint64
		for _, r := range now.GetReplicas() {
			if !slices.Contains(old.GetReplicas(), r) {
				added = r
			}
		}
		if added == 0 {
			t.Fatalf("segment %s: no new replica (was %v)", segString(now), old.GetReplicas())
		}
		var survivor uint64
		for _, r := range old.GetReplicas() {
			if r != victim {
				survivor = r
				break
			}
		}
		an, sn := c.jc.Node(added), c.jc.Node(survivor)
		harness.Eventually(t, recoverTimeout, fmt.Sprintf("journal %d sealed its copy of %s", added, segString(now)), func() error {
			d, err := describe(context.Background(), an, now)
			if err != nil {
				return err
			}
			if !d.GetSealed() || d.GetSealedEnd() != now.GetEndOffset() || d.GetStartOffset() != now.GetStartOffset() {
				return fmt.Errorf("replica state %v", d)
			}
			return nil
		})
		want, err := rawReplica(context.Background(), sn, now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rawReplica(context.Background(), an, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || (len(got) == 0 && now.GetEndOffset() > now.GetStartOffset()) {
			t.Fatalf("segment %s: new replica %d has %d batches, survivor %d has %d", segString(now), added, len(got), survivor, len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("segment %s: batch %d differs between journal %d and %d", segString(now), i, added, survivor)
			}
		}
	}
	t.Logf("%d sealed segments re-replicated and verified byte-identical", len(moved))

	// Everything is still readable end to end.
	sc := c.streamClient(t)
	if from, to, err := readAll(t, sc, stream, streamclient.Earliest()); err != nil || from != 0 || to != count {
		t.Fatalf("read after re-replication: [%d, %d), %v", from, to, err)
	}

	// The victim comes back: its copies of the moved segments go.
	vn.Restart()
	for _, s := range moved {
		harness.Eventually(t, 30*time.Second, fmt.Sprintf("journal %d dropped its copy of %s", victim, segString(s)), func() error {
			_, err := describe(context.Background(), vn, s)
			if rpcerr.Code(err) == codes.NotFound {
				return nil
			}
			return fmt.Errorf("describe: %v", err)
		})
	}
}
