package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func TestDeleteSegmentsThroughAPI(t *testing.T) {
	m := startMember(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := m.api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{
		NodeId: 10, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: "127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	created, err := m.api.CreateShard(ctx, &placementpb.CreateShardRequest{Name: "orders/0"})
	if err != nil {
		t.Fatal(err)
	}
	seg := created.GetSegment()
	for i := range 3 {
		rolled, err := m.api.SealAndRoll(ctx, &placementpb.SealAndRollRequest{Shard: "orders/0", Seq: seg.GetSeq(),
			EndOffset: uint64(i+1) * 100, ExpectedVersion: seg.GetVersion()})
		if err != nil {
			t.Fatal(err)
		}
		seg = rolled.GetNext()
	}

	bad := []struct {
		name string
		req  *placementpb.DeleteSegmentsRequest
		code codes.Code
	}{
		{"no shard name", &placementpb.DeleteSegmentsRequest{UpToSeq: 1}, codes.InvalidArgument},
		{"up to 0", &placementpb.DeleteSegmentsRequest{Shard: "orders/0"}, codes.InvalidArgument},
		{"tenant with slash", &placementpb.DeleteSegmentsRequest{Tenant: "a/b", Shard: "orders/0", UpToSeq: 1}, codes.InvalidArgument},
		{"missing shard", &placementpb.DeleteSegmentsRequest{Shard: "nope", UpToSeq: 1}, codes.NotFound},
		{"open segment", &placementpb.DeleteSegmentsRequest{Shard: "orders/0", UpToSeq: 4}, codes.FailedPrecondition},
		{"stale version", &placementpb.DeleteSegmentsRequest{Shard: "orders/0", UpToSeq: 1, ExpectedVersion: proto.Uint64(1)}, codes.FailedPrecondition},
	}
	for _, c := range bad {
		_, err := m.api.DeleteSegments(ctx, c.req)
		if status.Code(err) != c.code {
			t.Fatalf("%s: %v, want %v", c.name, err, c.code)
		}
		if c.name == "open segment" {
			if d, ok := rpcerr.Detail[*placementpb.SegmentNotSealed](err); !ok || d.GetSeq() != 3 {
				t.Fatalf("open segment: detail %v", d)
			}
		}
		if got, _ := m.api.GetShard(ctx, &placementpb.GetShardRequest{Name: "orders/0"}); len(got.GetSegments()) != 4 {
			t.Fatalf("%s changed the segments: %v", c.name, got.GetSegments())
		}
	}

	sh, err := m.api.GetShard(ctx, &placementpb.GetShardRequest{Name: "orders/0"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := m.api.DeleteSegments(ctx, &placementpb.DeleteSegmentsRequest{Shard: "orders/0", UpToSeq: 2,
		ExpectedVersion: proto.Uint64(sh.GetShard().GetVersion())})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetDeleted()) != 2 || resp.GetShard().GetFirstSegment() != 2 || resp.GetShard().GetFirstOffset() != 200 {
		t.Fatalf("delete = %v", resp)
	}
	got, err := m.api.GetShard(ctx, &placementpb.GetShardRequest{Name: "orders/0"})
	if err != nil || len(got.GetSegments()) != 2 || got.GetSegments()[0].GetStartOffset() != 200 || got.GetShard().GetFirstOffset() != 200 {
		t.Fatalf("shard after retention = %v, %v", got, err)
	}
}
