package replication

import (
	"context"

	"google.golang.org/grpc"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// NodeSource finds journal nodes (their gRPC address and status).
type NodeSource interface {
	Node(id uint64) (*placementpb.ClusterNode, bool)
}

// Metadata is the placement view the leader works from. The production
// implementation is *metacache.Cache; tests use a small in-memory source.
type Metadata interface {
	NodeSource
	Segment(tenant, shard string, seq uint32) (*placementpb.Segment, bool)
	Shard(tenant, name string) (*placementpb.Shard, []*placementpb.Segment, bool)
	// Segments returns every segment for which keep returns true.
	Segments(keep func(*placementpb.Segment) bool) []*placementpb.Segment
	// Subscribe returns a channel that receives a value after changes.
	Subscribe() (<-chan struct{}, func())
}

// Placement is the one placement center call the leader makes. The
// production implementation is a placementpb.PlacementServiceClient over
// common/leaderclient.
type Placement interface {
	SealAndRoll(ctx context.Context, in *placementpb.SealAndRollRequest, opts ...grpc.CallOption) (*placementpb.SealAndRollResponse, error)
}
