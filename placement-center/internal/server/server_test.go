package server

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/placement-center/internal/fsm"
	"github.com/robustmq/robustmq-go/placement-center/internal/raftnode"
	"github.com/robustmq/robustmq-go/placement-center/internal/registry"
	"github.com/robustmq/robustmq-go/placement-center/internal/watch"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// member is a real single-member placement center in-process: the real
// state machine, Raft node and API over gRPC on loopback.
type member struct {
	api     placementpb.PlacementServiceClient
	cluster placementpb.ClusterServiceClient
	state   *fsm.FSM
}

func startMember(t *testing.T) *member {
	t.Helper()
	dir := t.TempDir()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	hub := watch.NewHub(1000)
	sm, err := fsm.Open(dir+"/state", hub, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	node, err := raftnode.New(raftnode.Config{ID: 1, Addr: addr, DataDir: dir, TickInterval: 20 * time.Millisecond,
		Peers: []*placementpb.Member{{Id: 1, Addr: addr}}, Logger: zerolog.Nop()}, sm)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	node.RegisterTransport(gs)
	leases := registry.New(registry.Config{Lease: time.Second}, sm, node, zerolog.Nop())
	placementpb.RegisterPlacementServiceServer(gs, NewPlacement(node, sm, hub, leases, Limits{MaxValueBytes: 1024}, zerolog.Nop()))
	placementpb.RegisterClusterServiceServer(gs, NewCluster(node))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = gs.Serve(lis) }()
	go func() { _ = node.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		gs.Stop()
		_ = sm.Close()
	})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	m := &member{api: placementpb.NewPlacementServiceClient(conn), cluster: placementpb.NewClusterServiceClient(conn), state: sm}
	deadline := time.Now().Add(10 * time.Second)
	for !node.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return m
}

func TestBadInputGetsTypedErrorsAndChangesNothing(t *testing.T) {
	m := startMember(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	put, err := m.api.PutKV(ctx, &placementpb.PutKVRequest{Key: "k", Value: []byte("v1")})
	if err != nil {
		t.Fatal(err)
	}
	stale := put.GetKv().GetVersion() + 100
	cases := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"oversized value", func() error {
			_, err := m.api.PutKV(ctx, &placementpb.PutKVRequest{Key: "k", Value: make([]byte, 2048)})
			return err
		}, codes.ResourceExhausted},
		{"empty key", func() error { _, err := m.api.PutKV(ctx, &placementpb.PutKVRequest{Value: []byte("x")}); return err }, codes.InvalidArgument},
		{"oversized key", func() error {
			_, err := m.api.PutKV(ctx, &placementpb.PutKVRequest{Key: strings.Repeat("k", 5000)})
			return err
		}, codes.ResourceExhausted},
		{"stale CAS", func() error {
			_, err := m.api.PutKV(ctx, &placementpb.PutKVRequest{Key: "k", Value: []byte("v2"), ExpectedVersion: proto.Uint64(stale)})
			return err
		}, codes.FailedPrecondition},
		{"unknown node kind", func() error {
			_, err := m.api.ListNodes(ctx, &placementpb.ListNodesRequest{Kind: 99})
			return err
		}, codes.InvalidArgument},
		{"unknown consistency", func() error {
			_, err := m.api.GetKV(ctx, &placementpb.GetKVRequest{Key: "k", Consistency: 7})
			return err
		}, codes.InvalidArgument},
		{"empty tenant name", func() error { _, err := m.api.CreateTenant(ctx, &placementpb.CreateTenantRequest{}); return err }, codes.InvalidArgument},
		{"delete default tenant", func() error {
			_, err := m.api.DeleteTenant(ctx, &placementpb.DeleteTenantRequest{Name: "default"})
			return err
		}, codes.InvalidArgument},
		{"register unknown kind", func() error {
			_, err := m.api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{Kind: 42, GrpcAddr: "127.0.0.1:1"}})
			return err
		}, codes.InvalidArgument},
		{"shard without journals", func() error {
			_, err := m.api.CreateShard(ctx, &placementpb.CreateShardRequest{Name: "s"})
			return err
		}, codes.FailedPrecondition},
		{"acl without action", func() error {
			_, err := m.api.CreateAcl(ctx, &placementpb.CreateAclRequest{Rule: &placementpb.AclRule{Principal: "u", Resource: "t/#",
				Permission: placementpb.AclPermission_ACL_PERMISSION_ALLOW}})
			return err
		}, codes.InvalidArgument},
		{"user in missing tenant", func() error {
			_, err := m.api.CreateUser(ctx, &placementpb.CreateUserRequest{Tenant: "nope", Username: "u", Password: "p"})
			return err
		}, codes.NotFound},
		{"get missing key", func() error { _, err := m.api.GetKV(ctx, &placementpb.GetKVRequest{Key: "missing"}); return err }, codes.NotFound},
		{"remove member 0", func() error { _, err := m.cluster.RemoveMember(ctx, &placementpb.RemoveMemberRequest{}); return err }, codes.InvalidArgument},
		{"add member bad addr", func() error {
			_, err := m.cluster.AddMember(ctx, &placementpb.AddMemberRequest{Addr: "nohost"})
			return err
		}, codes.InvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := m.state.AppliedIndex()
			err := c.call()
			if status.Code(err) != c.code {
				t.Fatalf("got %v, want %v", err, c.code)
			}
			if c.name == "stale CAS" {
				vm, ok := rpcerr.AsVersionMismatch(err)
				if !ok || vm.GetCurrentVersion() != put.GetKv().GetVersion() {
					t.Fatalf("VersionMismatch detail %v, want current version %d", vm, put.GetKv().GetVersion())
				}
			}
			// A rejected request may advance the applied index by its own
			// rejected entry, but it must not change the data.
			got, err := m.api.GetKV(ctx, &placementpb.GetKVRequest{Key: "k"})
			if err != nil || string(got.GetKv().GetValue()) != "v1" || got.GetKv().GetVersion() != put.GetKv().GetVersion() {
				t.Fatalf("state changed: %v %v (applied %d -> %d)", got, err, before, m.state.AppliedIndex())
			}
		})
	}
}

func TestShardLifecycleThroughAPI(t *testing.T) {
	m := startMember(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		if _, err := m.api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{
			NodeId: uint64(10 + i), Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: "127.0.0.1:1"}}); err != nil {
			t.Fatal(err)
		}
	}
	created, err := m.api.CreateShard(ctx, &placementpb.CreateShardRequest{Name: "orders/0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.GetWarnings()) == 0 || len(created.GetSegment().GetReplicas()) != 2 {
		t.Fatalf("3 replicas on 2 journals must be clamped with a warning: %v", created)
	}
	seg := created.GetSegment()
	rolled, err := m.api.SealAndRoll(ctx, &placementpb.SealAndRollRequest{Shard: "orders/0", Seq: 0, EndOffset: 42, ExpectedVersion: seg.GetVersion()})
	if err != nil {
		t.Fatal(err)
	}
	if rolled.GetSealed().GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED || rolled.GetNext().GetStartOffset() != 42 ||
		rolled.GetNext().GetEpoch() != seg.GetEpoch()+1 || rolled.GetNext().GetSeq() != 1 {
		t.Fatalf("roll = %v", rolled)
	}
	// The same roll again is stale.
	if _, err := m.api.SealAndRoll(ctx, &placementpb.SealAndRollRequest{Shard: "orders/0", Seq: 0, EndOffset: 42, ExpectedVersion: seg.GetVersion()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second roll: %v", err)
	}
	got, err := m.api.GetShard(ctx, &placementpb.GetShardRequest{Name: "orders/0"})
	if err != nil || len(got.GetSegments()) != 2 || got.GetShard().GetActiveSegment() != 1 {
		t.Fatalf("shard = %v, %v", got, err)
	}
	// With one of the two journals excluded, the next segment would have
	// fewer replicas than the shard's ack quorum (2): refused, nothing
	// changes.
	next := rolled.GetNext()
	_, err = m.api.SealAndRoll(ctx, &placementpb.SealAndRollRequest{Shard: "orders/0", Seq: 1, EndOffset: 50,
		ExpectedVersion: next.GetVersion(), ExcludeNodes: []uint64{10}})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("roll below the ack quorum: %v, want Unavailable", err)
	}
	got, err = m.api.GetShard(ctx, &placementpb.GetShardRequest{Name: "orders/0"})
	if err != nil || len(got.GetSegments()) != 2 || got.GetShard().GetActiveSegment() != 1 ||
		got.GetSegments()[1].GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN {
		t.Fatalf("refused roll changed the shard: %v, %v", got, err)
	}
}

func TestDrainNodeThroughAPI(t *testing.T) {
	m := startMember(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var journals []*placementpb.ClusterNode
	for _, addr := range []string{"127.0.0.1:1", "127.0.0.1:2"} {
		r, err := m.api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{
			Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: addr}})
		if err != nil {
			t.Fatal(err)
		}
		journals = append(journals, r.GetNode())
	}
	first := journals[0]
	drained, err := m.api.DrainNode(ctx, &placementpb.DrainNodeRequest{NodeId: first.GetNodeId()})
	if err != nil || drained.GetNode().GetStatus() != placementpb.NodeStatus_NODE_STATUS_DRAINING {
		t.Fatalf("drain: %v, %v", drained, err)
	}
	// Draining again changes nothing and succeeds.
	if again, err := m.api.DrainNode(ctx, &placementpb.DrainNodeRequest{NodeId: first.GetNodeId()}); err != nil ||
		again.GetNode().GetVersion() != drained.GetNode().GetVersion() {
		t.Fatalf("second drain: %v, %v", again, err)
	}
	// Its heartbeats are accepted and leave it draining.
	if _, err := m.api.Heartbeat(ctx, &placementpb.HeartbeatRequest{NodeId: first.GetNodeId(), Incarnation: first.GetIncarnation()}); err != nil {
		t.Fatalf("heartbeat of a draining node: %v", err)
	}
	list, err := m.api.ListNodes(ctx, &placementpb.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list.GetNodes() {
		want := placementpb.NodeStatus_NODE_STATUS_ALIVE
		if n.GetNodeId() == first.GetNodeId() {
			want = placementpb.NodeStatus_NODE_STATUS_DRAINING
		}
		if n.GetStatus() != want {
			t.Fatalf("node %d is %v, want %v", n.GetNodeId(), n.GetStatus(), want)
		}
	}
	// A new shard's segment avoids it: two replicas asked, one placed.
	sh, err := m.api.CreateShard(ctx, &placementpb.CreateShardRequest{Name: "s", ReplicaCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r := sh.GetSegment().GetReplicas(); len(r) != 1 || r[0] != journals[1].GetNodeId() || len(sh.GetWarnings()) == 0 {
		t.Fatalf("segment placed on %v (warnings %q), want only node %d", r, sh.GetWarnings(), journals[1].GetNodeId())
	}
	// A restart (registration) keeps the drain.
	re, err := m.api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{NodeId: first.GetNodeId(),
		Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: first.GetGrpcAddr()}})
	if err != nil || re.GetNode().GetStatus() != placementpb.NodeStatus_NODE_STATUS_DRAINING || re.GetNode().GetIncarnation() != 2 {
		t.Fatalf("re-registration of a draining node: %v, %v", re, err)
	}
	undrained, err := m.api.UndrainNode(ctx, &placementpb.UndrainNodeRequest{NodeId: first.GetNodeId()})
	if err != nil || undrained.GetNode().GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("undrain: %v, %v", undrained, err)
	}

	if _, err := m.api.DrainNode(ctx, &placementpb.DrainNodeRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("drain of node 0: %v", err)
	}
	if _, err := m.api.UndrainNode(ctx, &placementpb.UndrainNodeRequest{NodeId: 99}); status.Code(err) != codes.NotFound {
		t.Fatalf("undrain of a missing node: %v", err)
	}
}
