package placement

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

// TestIntegrationMetacacheFollowsChanges drives common/metacache against a
// real cluster: the first list fills it, and later changes arrive by Watch.
func TestIntegrationMetacacheFollowsChanges(t *testing.T) {
	c := harness.StartPlacement(t, harness.PlacementOptions{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api := placementpb.NewPlacementServiceClient(c.Client())
	for id := uint64(1); id <= 3; id++ {
		if _, err := api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{
			NodeId: id, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: "127.0.0.1:1"}}); err != nil {
			t.Fatal(err)
		}
	}
	created, err := api.CreateShard(ctx, &placementpb.CreateShardRequest{Name: "before/0"})
	if err != nil {
		t.Fatal(err)
	}

	cache := metacache.New(api, zerolog.Nop())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cache.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if err := cache.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if len(cache.Nodes(placementpb.NodeKind_NODE_KIND_JOURNAL)) != 3 {
		t.Fatalf("journal nodes after the first list: %v", cache.Nodes(placementpb.NodeKind_NODE_KIND_JOURNAL))
	}
	if _, segs, ok := cache.Shard("default", "before/0"); !ok || len(segs) != 1 {
		t.Fatalf("shard created before the cache started: ok=%v segments=%v", ok, segs)
	}

	seg := created.GetSegment()
	if _, err := api.SealAndRoll(ctx, &placementpb.SealAndRollRequest{Shard: "before/0", Seq: 0, EndOffset: 10, ExpectedVersion: seg.GetVersion()}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateShard(ctx, &placementpb.CreateShardRequest{Name: "after/0"}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "watched changes in the cache", func() error {
		if s, ok := cache.Segment("default", "before/0", 0); !ok || s.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
			return fmt.Errorf("segment 0 not sealed in cache: %v", s)
		}
		if s, ok := cache.Segment("default", "before/0", 1); !ok || s.GetStartOffset() != 10 {
			return fmt.Errorf("segment 1 missing: %v", s)
		}
		if _, _, ok := cache.Shard("default", "after/0"); !ok {
			return fmt.Errorf("shard created later missing")
		}
		return nil
	})
	if _, err := api.DeleteShard(ctx, &placementpb.DeleteShardRequest{Name: "after/0"}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "deleted shard gone from the cache", func() error {
		if _, _, ok := cache.Shard("default", "after/0"); ok {
			return fmt.Errorf("deleted shard still cached")
		}
		return nil
	})
}
