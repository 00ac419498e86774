package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// fakeCenter answers the few calls these tests make; it is below the unit
// under test (the CLI), which talks real gRPC to it.
type fakeCenter struct {
	placementpb.UnimplementedPlacementServiceServer
	placementpb.UnimplementedClusterServiceServer
	addr string
}

func (f *fakeCenter) GetKV(_ context.Context, req *placementpb.GetKVRequest) (*placementpb.GetKVResponse, error) {
	if req.GetKey() != "greeting" {
		return nil, rpcerr.NotFound("kv", req.GetKey())
	}
	return &placementpb.GetKVResponse{Kv: &placementpb.KeyValue{Key: "greeting", Value: []byte("hello"), Version: 7}}, nil
}

func (f *fakeCenter) PutKV(_ context.Context, req *placementpb.PutKVRequest) (*placementpb.PutKVResponse, error) {
	return nil, rpcerr.VersionMismatch("kv", req.GetKey(), req.GetExpectedVersion(), 7)
}

func (f *fakeCenter) GetShard(context.Context, *placementpb.GetShardRequest) (*placementpb.GetShardResponse, error) {
	return &placementpb.GetShardResponse{
		Shard: &placementpb.Shard{Tenant: "default", Name: "orders/0", ReplicaCount: 3, AckQuorum: 2},
		Segments: []*placementpb.Segment{
			{Seq: 0, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, Replicas: []uint64{1, 2, 3}, Leader: 1, Epoch: 1, EndOffset: 42},
			{Seq: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, Replicas: []uint64{2, 3, 4}, Leader: 4, Epoch: 2, StartOffset: 42},
		}}, nil
}

func (f *fakeCenter) Status(context.Context, *placementpb.StatusRequest) (*placementpb.StatusResponse, error) {
	return &placementpb.StatusResponse{MemberId: 1, LeaderId: 1, Term: 3, CommitIndex: 10, AppliedIndex: 10, RaftState: "leader",
		Members: []*placementpb.Member{{Id: 1, Addr: f.addr}}}, nil
}

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCenter{addr: lis.Addr().String()}
	s := grpc.NewServer()
	placementpb.RegisterPlacementServiceServer(s, f)
	placementpb.RegisterClusterServiceServer(s, f)
	go func() { _ = s.Serve(lis) }()
	defer s.Stop()
	var out, errOut bytes.Buffer
	code := Execute(context.Background(), append([]string{"--placement", lis.Addr().String(), "--timeout", "3s"}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestKVGetTableAndJSON(t *testing.T) {
	out, _, code := run(t, "kv", "get", "greeting")
	if code != 0 || !strings.Contains(out, "greeting") || !strings.Contains(out, "hello") || !strings.Contains(out, "7") {
		t.Fatalf("table output %q code %d", out, code)
	}
	out, _, code = run(t, "kv", "get", "greeting", "-o", "json")
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc["key"] != "greeting" || doc["version"] != "7" {
		t.Fatalf("json output %q code %d", out, code)
	}
}

func TestTypedErrorsAreShownWithDetail(t *testing.T) {
	_, errOut, code := run(t, "kv", "put", "greeting", "x", "--expect-version", "3")
	if code == 0 || !strings.Contains(errOut, "current version: 7") {
		t.Fatalf("stderr %q code %d", errOut, code)
	}
	_, errOut, code = run(t, "kv", "get", "missing")
	if code == 0 || !strings.Contains(errOut, "NotFound") {
		t.Fatalf("stderr %q code %d", errOut, code)
	}
}

func TestShardDescribeAndClusterStatus(t *testing.T) {
	out, _, code := run(t, "shard", "describe", "orders/0")
	if code != 0 || !strings.Contains(out, "sealed") || !strings.Contains(out, "2,3,4") || !strings.Contains(out, "42") {
		t.Fatalf("describe %q code %d", out, code)
	}
	out, _, code = run(t, "cluster", "status", "-o", "json")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0]["raftState"] != "leader" {
		t.Fatalf("status %q code %d", out, code)
	}
}

func TestFlagValidation(t *testing.T) {
	for _, args := range [][]string{
		{"kv", "get", "greeting", "-o", "yaml"},
		{"acl", "create", "--principal", "a", "--resource", "x", "--action", "fly", "--permission", "allow"},
		{"node", "list", "--kind", "teapot"},
		{"cluster", "remove-member", "abc"},
	} {
		if _, errOut, code := run(t, args...); code == 0 || errOut == "" {
			t.Errorf("%v accepted (stderr %q)", args, errOut)
		}
	}
}
