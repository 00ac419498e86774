package ctl

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// fakeCenter is an in-memory stand-in for one placement center member. It
// sits below the unit under test (the CLI), which reaches it over real
// gRPC on 127.0.0.1. It keeps just enough state to make the commands'
// requests and the server's answers observable.
type fakeCenter struct {
	placementpb.UnimplementedPlacementServiceServer
	placementpb.UnimplementedClusterServiceServer

	mu    sync.Mutex
	calls int                              // RPCs received, of any kind
	kvs   map[string]*placementpb.KeyValue // key -> current value
	nodes map[uint64]*placementpb.ClusterNode
	// statusCalls counts DrainNode and UndrainNode calls.
	statusCalls int
	lastPut     *placementpb.PutKVRequest
	lastGet     *placementpb.GetKVRequest
	lastAcl     *placementpb.CreateAclRequest
	lastNode    *placementpb.ListNodesRequest
	tenant      string                      // tenant of the last tenant-scoped request
	status      *placementpb.StatusResponse // answer to Status
	// notLeader, when set, is returned for every PlacementService call, as
	// a follower (or a member without a leader) would.
	notLeader error
}

func newFakeCenter() *fakeCenter {
	return &fakeCenter{kvs: map[string]*placementpb.KeyValue{
		"greeting": {Key: "greeting", Value: []byte("hello"), Version: 7, CreateVersion: 3},
	}, nodes: map[uint64]*placementpb.ClusterNode{
		4: {NodeId: 4, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: "127.0.0.1:2229", Status: placementpb.NodeStatus_NODE_STATUS_ALIVE, Incarnation: 2},
		7: {NodeId: 7, Kind: placementpb.NodeKind_NODE_KIND_BROKER, GrpcAddr: "127.0.0.1:1230", Status: placementpb.NodeStatus_NODE_STATUS_ALIVE, Incarnation: 1,
			ExtraAddrs: map[string]string{"mqtt": "127.0.0.1:1883", "mqtt-ws": "127.0.0.1:8083"}, RegisteredAtMs: 1_700_000_000_000},
		9: {NodeId: 9, Kind: placementpb.NodeKind_NODE_KIND_BROKER, GrpcAddr: "127.0.0.1:1231", Status: placementpb.NodeStatus_NODE_STATUS_DEAD, Incarnation: 3},
	}}
}

// begin counts a call and returns the configured NotLeader error, if any.
// The caller holds f.mu afterwards and must unlock it.
func (f *fakeCenter) begin() error {
	f.mu.Lock()
	f.calls++
	return f.notLeader
}

func (f *fakeCenter) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// The last* accessors return the last request of a kind (nil if none).
func (f *fakeCenter) lastPutReq() *placementpb.PutKVRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastPut
}

func (f *fakeCenter) lastGetReq() *placementpb.GetKVRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastGet
}

func (f *fakeCenter) lastAclReq() *placementpb.CreateAclRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastAcl
}

func (f *fakeCenter) lastNodeReq() *placementpb.ListNodesRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastNode
}

func (f *fakeCenter) lastTenant() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tenant
}

func (f *fakeCenter) setNotLeader(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notLeader = err
}

func (f *fakeCenter) PutKV(_ context.Context, req *placementpb.PutKVRequest) (*placementpb.PutKVResponse, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f.lastPut = proto.Clone(req).(*placementpb.PutKVRequest)
	cur := f.kvs[req.GetKey()]
	if req.ExpectedVersion != nil && req.GetExpectedVersion() != cur.GetVersion() {
		return nil, rpcerr.VersionMismatch("kv", req.GetKey(), req.GetExpectedVersion(), cur.GetVersion())
	}
	kv := &placementpb.KeyValue{Key: req.GetKey(), Value: req.GetValue(), Version: cur.GetVersion() + 1, CreateVersion: cur.GetCreateVersion()}
	f.kvs[req.GetKey()] = kv
	return &placementpb.PutKVResponse{Kv: kv}, nil
}

func (f *fakeCenter) GetKV(_ context.Context, req *placementpb.GetKVRequest) (*placementpb.GetKVResponse, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f.lastGet = proto.Clone(req).(*placementpb.GetKVRequest)
	kv, ok := f.kvs[req.GetKey()]
	if !ok {
		return nil, rpcerr.NotFound("kv", req.GetKey())
	}
	return &placementpb.GetKVResponse{Kv: kv, Revision: 9}, nil
}

func (f *fakeCenter) ListKV(_ context.Context, req *placementpb.ListKVRequest) (*placementpb.ListKVResponse, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// In key order and bounded by the limit, as the state machine lists.
	resp := &placementpb.ListKVResponse{}
	for _, k := range slices.Sorted(maps.Keys(f.kvs)) {
		if strings.HasPrefix(k, req.GetPrefix()) && (req.GetLimit() == 0 || len(resp.Kvs) < int(req.GetLimit())) {
			resp.Kvs = append(resp.Kvs, f.kvs[k])
		}
	}
	return resp, nil
}

func (f *fakeCenter) CreateTenant(_ context.Context, req *placementpb.CreateTenantRequest) (*placementpb.CreateTenantResponse, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if req.GetName() == "default" {
		return nil, rpcerr.AlreadyExists("tenant", req.GetName())
	}
	return &placementpb.CreateTenantResponse{Tenant: &placementpb.Tenant{Name: req.GetName(), CreatedAtMs: 1_700_000_000_000}}, nil
}

func (f *fakeCenter) ListUsers(_ context.Context, req *placementpb.ListUsersRequest) (*placementpb.ListUsersResponse, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f.tenant = req.GetTenant()
	return &placementpb.ListUsersResponse{Users: []*placementpb.User{
		{Tenant: "default", Username: "alice", Salt: []byte("SALTSALT"), PasswordHash: []byte("HASHHASHHASH"), Superuser: true},
	}}, nil
}

func (f *fakeCenter) CreateAcl(_ context.Context, req *placementpb.CreateAclRequest) (*placementpb.CreateAclResponse, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f.lastAcl = proto.Clone(req).(*placementpb.CreateAclRequest)
	f.tenant = req.GetRule().GetTenant()
	rule := proto.Clone(req.GetRule()).(*placementpb.AclRule)
	rule.Id = 12
	return &placementpb.CreateAclResponse{Rule: rule}, nil
}

func (f *fakeCenter) ListNodes(_ context.Context, req *placementpb.ListNodesRequest) (*placementpb.ListNodesResponse, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f.lastNode = proto.Clone(req).(*placementpb.ListNodesRequest)
	resp := &placementpb.ListNodesResponse{}
	for _, id := range slices.Sorted(maps.Keys(f.nodes)) {
		if n := f.nodes[id]; req.GetKind() == placementpb.NodeKind_NODE_KIND_UNSPECIFIED || n.GetKind() == req.GetKind() {
			resp.Nodes = append(resp.Nodes, proto.Clone(n).(*placementpb.ClusterNode))
		}
	}
	return resp, nil
}

// setStatus changes a node's status from one of the allowed ones, as the
// state machine does for DrainNode and UndrainNode.
func (f *fakeCenter) setStatus(id uint64, to placementpb.NodeStatus, from ...placementpb.NodeStatus) (*placementpb.ClusterNode, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f.statusCalls++
	n, ok := f.nodes[id]
	if !ok {
		return nil, rpcerr.NotFound("node", fmt.Sprint(id))
	}
	if !slices.Contains(from, n.GetStatus()) {
		return nil, status.Errorf(codes.FailedPrecondition, "node %d is %v", id, n.GetStatus())
	}
	n.Status = to
	return proto.Clone(n).(*placementpb.ClusterNode), nil
}

func (f *fakeCenter) DrainNode(_ context.Context, req *placementpb.DrainNodeRequest) (*placementpb.DrainNodeResponse, error) {
	n, err := f.setStatus(req.GetNodeId(), placementpb.NodeStatus_NODE_STATUS_DRAINING,
		placementpb.NodeStatus_NODE_STATUS_ALIVE, placementpb.NodeStatus_NODE_STATUS_DRAINING)
	return &placementpb.DrainNodeResponse{Node: n}, err
}

func (f *fakeCenter) UndrainNode(_ context.Context, req *placementpb.UndrainNodeRequest) (*placementpb.UndrainNodeResponse, error) {
	n, err := f.setStatus(req.GetNodeId(), placementpb.NodeStatus_NODE_STATUS_ALIVE,
		placementpb.NodeStatus_NODE_STATUS_DRAINING, placementpb.NodeStatus_NODE_STATUS_ALIVE)
	return &placementpb.UndrainNodeResponse{Node: n}, err
}

// statusChanges is how many DrainNode and UndrainNode calls arrived.
func (f *fakeCenter) statusChanges() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statusCalls
}

// putRaw stores a KV value as a broker would.
func (f *fakeCenter) putRaw(key string, value []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kvs[key] = &placementpb.KeyValue{Key: key, Value: value, Version: 5, CreateVersion: 5}
}

func (f *fakeCenter) CreateShard(_ context.Context, req *placementpb.CreateShardRequest) (*placementpb.CreateShardResponse, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f.tenant = req.GetTenant()
	return &placementpb.CreateShardResponse{
		Shard: &placementpb.Shard{Tenant: req.GetTenant(), Name: req.GetName(), ReplicaCount: 1, AckQuorum: 1,
			Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE},
		Segment: &placementpb.Segment{Tenant: req.GetTenant(), Shard: req.GetName(), Replicas: []uint64{4}, Leader: 4, Epoch: 1,
			AckQuorum: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN},
		Warnings: []string{"replicas clamped from 3 to 1 (live journal nodes)"},
	}, nil
}

// shardOrders is what GetShard answers: one sealed segment and the open
// one after it.
func shardOrders() *placementpb.GetShardResponse {
	return &placementpb.GetShardResponse{
		Shard: &placementpb.Shard{Tenant: "default", Name: "orders-0", ReplicaCount: 3, AckQuorum: 2,
			Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, ActiveSegment: 1},
		Segments: []*placementpb.Segment{
			{Tenant: "default", Shard: "orders-0", Seq: 0, Status: placementpb.SegmentStatus_SEGMENT_STATUS_SEALED,
				Replicas: []uint64{1, 2, 3}, Leader: 1, Epoch: 1, AckQuorum: 2, EndOffset: 42},
			{Tenant: "default", Shard: "orders-0", Seq: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN,
				Replicas: []uint64{2, 3, 4}, Leader: 4, Epoch: 2, AckQuorum: 2, StartOffset: 42},
		},
		Revision: 17,
	}
}

func (f *fakeCenter) GetShard(_ context.Context, req *placementpb.GetShardRequest) (*placementpb.GetShardResponse, error) {
	err := f.begin()
	defer f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f.tenant = req.GetTenant()
	if req.GetTenant() != "default" || req.GetName() != "orders-0" {
		return nil, rpcerr.NotFound("shard", req.GetTenant()+"/"+req.GetName())
	}
	return shardOrders(), nil
}

// tenantScoped is any request that names a tenant.
type tenantScoped interface{ GetTenant() string }

// record counts a tenant-scoped call and keeps its tenant.
func (f *fakeCenter) record(req tenantScoped) error {
	err := f.begin()
	defer f.mu.Unlock()
	f.tenant = req.GetTenant()
	return err
}

func (f *fakeCenter) ListShards(_ context.Context, req *placementpb.ListShardsRequest) (*placementpb.ListShardsResponse, error) {
	return &placementpb.ListShardsResponse{Shards: []*placementpb.Shard{shardOrders().GetShard()}}, f.record(req)
}

func (f *fakeCenter) DeleteShard(_ context.Context, req *placementpb.DeleteShardRequest) (*placementpb.DeleteShardResponse, error) {
	return &placementpb.DeleteShardResponse{}, f.record(req)
}

func (f *fakeCenter) CreateUser(_ context.Context, req *placementpb.CreateUserRequest) (*placementpb.CreateUserResponse, error) {
	user := &placementpb.User{Tenant: req.GetTenant(), Username: req.GetUsername(), Superuser: req.GetSuperuser(),
		Salt: []byte("SALTSALT"), PasswordHash: []byte("HASHHASHHASH")}
	return &placementpb.CreateUserResponse{User: user}, f.record(req)
}

func (f *fakeCenter) DeleteUser(_ context.Context, req *placementpb.DeleteUserRequest) (*placementpb.DeleteUserResponse, error) {
	return &placementpb.DeleteUserResponse{}, f.record(req)
}

func (f *fakeCenter) ListAcls(_ context.Context, req *placementpb.ListAclsRequest) (*placementpb.ListAclsResponse, error) {
	return &placementpb.ListAclsResponse{}, f.record(req)
}

func (f *fakeCenter) DeleteAcl(_ context.Context, req *placementpb.DeleteAclRequest) (*placementpb.DeleteAclResponse, error) {
	return &placementpb.DeleteAclResponse{}, f.record(req)
}

func (f *fakeCenter) Status(context.Context, *placementpb.StatusRequest) (*placementpb.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.status, nil
}

// serve starts a gRPC server for f on 127.0.0.1 and returns its address;
// the server stops when the test ends.
func serve(t *testing.T, f *fakeCenter) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	placementpb.RegisterPlacementServiceServer(s, f)
	placementpb.RegisterClusterServiceServer(s, f)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-served
	})
	return lis.Addr().String()
}

// deadAddr returns a 127.0.0.1 address nobody listens on (a port that was
// just free), so connecting to it is refused at once.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
