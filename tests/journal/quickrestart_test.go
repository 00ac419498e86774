package journal

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// TestIntegrationJournalQuickLeaderRestart: the leader of a partition's
// open segment (replicas 3, ack quorum 2) is killed -9 in the middle of a
// verifiable produce and started again at once, typically before the
// placement center's probes or the lease declare it dead. Leaders
// replicate before their own fsync, so the killed process may have lost
// a tail its followers hold and acknowledged; the restarted process must
// therefore never lead the segment at its old epoch again: its
// registration moves the segment to RECOVERING at epoch+1 (or its death
// did), recovery seals it at the highest log end of a quorum, and the
// restarted node takes leadership only of segments placed after its
// registration. Per cycle: the old segment is sealed at an end >= what
// was committed at the kill, the restarted node logs no leadership of it
// at the old epoch, the produce finishes with nothing failed, every acked
// record is read back exactly once and offsets are dense.
func TestIntegrationJournalQuickLeaderRestart(t *testing.T) {
	requireBinaries(t, streamCmds, produceCmd, consumeCmd)
	c := startCluster(t, harness.JournalOptions{Nodes: 3})
	for cycle := range 3 {
		quickRestartCycle(t, c, fmt.Sprintf("qr%02d", cycle), killLeaderRecords, cycle%killLeaderPartitions)
		if t.Failed() {
			t.Fatalf("cycle %d failed", cycle)
		}
	}
}

func quickRestartCycle(t *testing.T, c *cluster, stream string, count, partition int) {
	t.Helper()
	c.createStream(t, stream, killLeaderPartitions, 3, "--ack-quorum", "2")
	shard := shardName(stream, partition)
	seg := c.openSegment(t, shard, 10*time.Second)
	victim := c.jc.Node(seg.GetLeader())

	bg := c.startProduce(t, stream, count, loadSize, loadConcurrency)
	harness.Eventually(t, 60*time.Second, "the partition to commit a fifth of its share before the kill", func() error {
		n, err := c.committed(context.Background(), shard)
		if err != nil {
			return err
		}
		if n < uint64(count/killLeaderPartitions/5) {
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
	var logOff int64
	if fi, err := os.Stat(victim.LogPath()); err == nil {
		logOff = fi.Size()
	}
	atKill, _ := c.committed(context.Background(), shard)
	victim.Kill9()
	killed := time.Now()
	victim.Restart()
	back := time.Since(killed)
	t.Logf("%s: killed journal %d (leader of %s) with %d committed; registered again %s later (incarnation %d)",
		stream, victim.ID, segString(seg), atKill, back.Round(time.Millisecond), victim.Incarnation())

	harness.Eventually(t, recoverTimeout, "segment "+shard+"#0 sealed and a successor open", func() error {
		_, segs, err := c.getShard(context.Background(), shard)
		if err != nil {
			return err
		}
		if segs[0].GetStatus() != sealed {
			return fmt.Errorf("%s", segString(segs[0]))
		}
		_, err = c.activeOpen(context.Background(), shard)
		return err
	})
	_, segs := c.mustShard(t, shard)
	old := segs[0]
	if old.GetEpoch() <= seg.GetEpoch() || old.GetEndOffset() < atKill {
		t.Errorf("%s: old segment %s, want sealed above epoch %d at an end >= %d (committed at the kill)",
			stream, segString(old), seg.GetEpoch(), atKill)
	}

	p, res := waitProduce(t, bg)
	t.Logf("%s: produce acked %d failed %d of %d in %s; old segment sealed at %d",
		stream, p.Acked, p.Failed, count, res.Duration.Round(time.Millisecond), old.GetEndOffset())
	if p.Failed != 0 || p.Acked != int64(count) {
		t.Errorf("%s: acked %d failed %d of %d (stderr tail:\n%s)", stream, p.Acked, p.Failed, count, tail(res.Stderr, 20))
	}
	verifyConsume(t, c, stream, count, p)
	parts, seqs, other := faultScan(t, c, stream, killLeaderPartitions, count)
	var total uint64
	for _, part := range parts {
		total += part.records
	}
	if p.Failed == 0 {
		if total != uint64(count) {
			t.Errorf("%s: the partitions hold %d offsets, want %d", stream, total, count)
		}
		faultCheckSeqs(t, stream, seqs, other, func(int) int { return 1 })
	}

	// The restarted process never led the old segment at its old epoch.
	b, err := os.ReadFile(victim.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	segField := fmt.Sprintf(`"segment":"%s/%s/%d"`, tenant, shard, seg.GetSeq())
	epochField := fmt.Sprintf(`"epoch":%d,`, seg.GetEpoch())
	for _, line := range strings.Split(string(b[min(logOff, int64(len(b))):]), "\n") {
		if strings.Contains(line, "leading segment") && strings.Contains(line, segField) && strings.Contains(line, epochField) {
			t.Errorf("%s: restarted journal %d led the old segment at its old epoch: %s", stream, victim.ID, line)
		}
	}
	// Its replica of the old segment is completed and sealed at the end.
	harness.Eventually(t, recoverTimeout, "the restarted node's replica sealed at the end", func() error {
		d, err := describe(context.Background(), victim, old)
		if err != nil {
			return err
		}
		if !d.GetSealed() || d.GetSealedEnd() != old.GetEndOffset() || d.GetLogEnd() != old.GetEndOffset() {
			return fmt.Errorf("sealed %v at %d, log end %d", d.GetSealed(), d.GetSealedEnd(), d.GetLogEnd())
		}
		return nil
	})
	c.jc.Robustctl("stream", "delete", stream)
}
