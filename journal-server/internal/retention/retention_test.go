package retention_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/journal-server/internal/recovery/replicatest"
	"github.com/robustmq/robustmq-go/journal-server/internal/retention"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// t0 is the timestamp of the first segment's records.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// recPlacement records DeleteSegments calls (and answers them with success).
type recPlacement struct {
	*replicatest.Placement
	mu   sync.Mutex
	reqs []*placementpb.DeleteSegmentsRequest
}

func (p *recPlacement) DeleteSegments(_ context.Context, req *placementpb.DeleteSegmentsRequest, _ ...grpc.CallOption) (*placementpb.DeleteSegmentsResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, proto.Clone(req).(*placementpb.DeleteSegmentsRequest))
	return &placementpb.DeleteSegmentsResponse{Shard: &placementpb.Shard{}}, nil
}

// batchAt encodes n records of size bytes stamped ts.
func batchAt(ts time.Time, n, size int) []byte {
	b := recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1}}
	for range n {
		b.Records = append(b.Records, recordbatch.Record{TimestampMs: ts.UnixMilli(), Value: make([]byte, size)})
	}
	return recordbatch.Encode(b)
}

type env struct {
	cl   *replicatest.Cluster
	meta *replicatest.Meta
	pl   *recPlacement
	sh   *placementpb.Shard
}

// newEnv: shard orders/0 with segments 0..2 sealed, 10 records of 100
// bytes each, stamped t0, t0+10m, t0+20m; segment 0 and 2 are held by node
// 1 (and 3), segment 1 only by nodes 2 and 3; segment 3 is open, led by
// node 1, holding 10 records stamped t0+30m.
func newEnv(t *testing.T, config map[string]string) *env {
	t.Helper()
	e := &env{cl: replicatest.NewCluster(t, 1, 2, 3), meta: replicatest.NewMeta(true)}
	e.pl = &recPlacement{Placement: replicatest.NewPlacement(e.meta)}
	e.sh = e.pl.PutShard(&placementpb.Shard{Tenant: "default", Name: "orders/0", ReplicaCount: 2, AckQuorum: 1,
		Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, ActiveSegment: 3, Config: config})
	holders := [][]uint64{{1, 3}, {2, 3}, {1, 3}, {1, 3}}
	start := uint64(0)
	for seq := uint32(0); seq <= 3; seq++ {
		id := segstore.SegmentID{Tenant: "default", Shard: "orders/0", Seq: seq}
		b := batchAt(t0.Add(time.Duration(seq)*10*time.Minute), 10, 100)
		for _, n := range holders[seq] {
			s := e.cl.Nodes[n].Store
			if err := s.CreateSegment(id, start, 1); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Append(id, 1, append([]byte(nil), b...)); err != nil {
				t.Fatal(err)
			}
			if seq < 3 {
				if err := s.Seal(id, start+10); err != nil {
					t.Fatal(err)
				}
			}
		}
		seg := &placementpb.Segment{Tenant: "default", Shard: "orders/0", Seq: seq, Replicas: holders[seq], Leader: holders[seq][0],
			Epoch: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, StartOffset: start, EndOffset: start + 10, AckQuorum: 1}
		if seq == 3 {
			seg.Status, seg.EndOffset = placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, 0
		}
		e.pl.PutSegment(seg)
		start += 10
	}
	return e
}

func (e *env) retainer(t *testing.T, node uint64, now time.Time, defTime time.Duration, defBytes uint64) *retention.Retainer {
	t.Helper()
	r, err := retention.New(retention.Config{NodeID: node, Store: e.cl.Nodes[node].Store, Cache: e.meta, Placement: e.pl,
		Dial: e.cl.Dial, DefaultTime: defTime, DefaultBytes: defBytes, Now: func() time.Time { return now },
		RPCTimeout: 2 * time.Second, Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func one(t *testing.T, got []*placementpb.DeleteSegmentsRequest, upTo uint32, version uint64) {
	t.Helper()
	if len(got) != 1 || got[0].GetUpToSeq() != upTo || got[0].GetTenant() != "default" || got[0].GetShard() != "orders/0" ||
		got[0].ExpectedVersion == nil || got[0].GetExpectedVersion() != version {
		t.Fatalf("requests %v, want one up to seq %d at version %d", got, upTo, version)
	}
}

func TestRetentionByTime(t *testing.T) {
	e := newEnv(t, map[string]string{retention.ConfigTime: "10m"})
	// Cutoff t0+17m: segments 0 (t0) and 1 (t0+10m, read from node 2 or 3)
	// are older; 2 (t0+20m) is not.
	r := e.retainer(t, 1, t0.Add(27*time.Minute), 0, 0)
	one(t, r.Pass(context.Background()), 2, e.sh.GetVersion())

	// Segment 1's stats are remembered: with its holders down the same
	// decision is made.
	e.cl.Nodes[2].Stop()
	e.cl.Nodes[3].Stop()
	one(t, r.Pass(context.Background()), 2, e.sh.GetVersion())
}

func TestRetentionStopsAtUnknownStats(t *testing.T) {
	e := newEnv(t, map[string]string{retention.ConfigTime: "1m"})
	e.cl.Nodes[2].Stop()
	e.cl.Nodes[3].Stop()
	// Everything sealed is old, but segment 1's age cannot be read: only
	// segment 0 goes.
	r := e.retainer(t, 1, t0.Add(time.Hour), 0, 0)
	one(t, r.Pass(context.Background()), 1, e.sh.GetVersion())
}

func TestRetentionBySize(t *testing.T) {
	e := newEnv(t, nil)
	d, err := e.cl.Nodes[1].Store.Describe(segstore.SegmentID{Tenant: "default", Shard: "orders/0", Seq: 0})
	if err != nil {
		t.Fatal(err)
	}
	per := d.Bytes // every segment holds the same batch size
	// Node default: room for 2.5 segments of 4 -> the two oldest go.
	r := e.retainer(t, 1, t0, 0, per*5/2)
	one(t, r.Pass(context.Background()), 2, e.sh.GetVersion())
	// The shard's setting overrides the node default: room for all four.
	e.sh = e.pl.PutShard(&placementpb.Shard{Tenant: "default", Name: "orders/0", ReplicaCount: 2, AckQuorum: 1,
		Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, ActiveSegment: 3,
		Config: map[string]string{retention.ConfigBytes: "1000000"}})
	if got := r.Pass(context.Background()); len(got) != 0 {
		t.Fatalf("within the shard's size limit: %v", got)
	}
	// The open segment is never deleted, however small the limit.
	e.sh = e.pl.PutShard(&placementpb.Shard{Tenant: "default", Name: "orders/0", ReplicaCount: 2, AckQuorum: 1,
		Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, ActiveSegment: 3,
		Config: map[string]string{retention.ConfigBytes: "1"}})
	one(t, r.Pass(context.Background()), 3, e.sh.GetVersion())
}

func TestRetentionOnlyOnTheOpenSegmentsLeader(t *testing.T) {
	e := newEnv(t, map[string]string{retention.ConfigTime: "1m"})
	for _, n := range []uint64{2, 3} {
		if got := e.retainer(t, n, t0.Add(time.Hour), 0, 0).Pass(context.Background()); len(got) != 0 {
			t.Fatalf("node %d is not the leader but asked %v", n, got)
		}
	}
}

func TestRetentionNeverPassesANonSealedSegment(t *testing.T) {
	e := newEnv(t, map[string]string{retention.ConfigTime: "bogus"})
	// Segment 1 RECOVERING (as placement would never leave it below an
	// open one, but the cache might show mid-change): only 0 is a
	// candidate. The bogus setting falls back to the node default.
	e.pl.PutSegment(&placementpb.Segment{Tenant: "default", Shard: "orders/0", Seq: 1, Replicas: []uint64{2, 3}, Leader: 2,
		Epoch: 2, Status: placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING, StartOffset: 10, AckQuorum: 1})
	r := e.retainer(t, 1, t0.Add(time.Hour), time.Minute, 0)
	one(t, r.Pass(context.Background()), 1, e.sh.GetVersion())
	// No limits at all: nothing.
	if got := e.retainer(t, 1, t0.Add(time.Hour), 0, 0); len(got.Pass(context.Background())) != 0 {
		t.Fatal("deleted without a limit")
	}
}
