package registration

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// fakeCenter is an in-memory registry below the unit under test: it
// assigns ids, bumps incarnations and can forget a node.
type fakeCenter struct {
	placementpb.UnimplementedPlacementServiceServer
	mu          sync.Mutex
	incarnation map[uint64]uint64
	heartbeats  int
	unregisters int
	nextID      uint64
}

func (f *fakeCenter) RegisterNode(_ context.Context, req *placementpb.RegisterNodeRequest) (*placementpb.RegisterNodeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := req.GetNode()
	if n.GetNodeId() == 0 {
		f.nextID++
		n.NodeId = 100 + f.nextID
	}
	f.incarnation[n.GetNodeId()]++
	n.Incarnation = f.incarnation[n.GetNodeId()]
	return &placementpb.RegisterNodeResponse{Node: n, LeaseMs: 300}, nil
}

func (f *fakeCenter) Heartbeat(_ context.Context, req *placementpb.HeartbeatRequest) (*placementpb.HeartbeatResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.incarnation[req.GetNodeId()] != req.GetIncarnation() {
		return nil, status.Error(codes.FailedPrecondition, "register again")
	}
	f.heartbeats++
	return &placementpb.HeartbeatResponse{LeaseMs: 300}, nil
}

func (f *fakeCenter) UnregisterNode(context.Context, *placementpb.UnregisterNodeRequest) (*placementpb.UnregisterNodeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unregisters++
	return &placementpb.UnregisterNodeResponse{}, nil
}

func (f *fakeCenter) forget(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.incarnation[id] += 10 // the node's incarnation is no longer current
}

func start(t *testing.T) (*fakeCenter, placementpb.PlacementServiceClient) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCenter{incarnation: map[uint64]uint64{}}
	s := grpc.NewServer()
	placementpb.RegisterPlacementServiceServer(s, f)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return f, placementpb.NewPlacementServiceClient(conn)
}

func TestRegisterHeartbeatReregister(t *testing.T) {
	f, client := start(t)
	r := New(client, Config{
		Node:             &placementpb.ClusterNode{Kind: placementpb.NodeKind_NODE_KIND_BROKER, GrpcAddr: "127.0.0.1:1"},
		UnregisterOnStop: true,
		Logger:           zerolog.Nop(),
	})
	var seen []uint64
	var mu sync.Mutex
	r.OnRegistered(func(n *placementpb.ClusterNode) {
		mu.Lock()
		seen = append(seen, n.GetIncarnation())
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := r.Register(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n.GetNodeId() != 101 || n.GetIncarnation() != 1 {
		t.Fatalf("registered %v", n)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()

	waitFor(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.heartbeats >= 2 })
	f.forget(101)
	waitFor(t, func() bool { _, inc := r.ID(); return inc > 1 })
	if id, _ := r.ID(); id != 101 {
		t.Fatalf("re-registration changed the id to %d", id)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unregisters != 1 {
		t.Fatalf("unregisters = %d, want 1", f.unregisters)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("OnRegistered saw %v, want two registrations", seen)
	}
}

func TestRegisterGivesUpAtDeadline(t *testing.T) {
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := New(placementpb.NewPlacementServiceClient(conn), Config{
		Node: &placementpb.ClusterNode{Kind: placementpb.NodeKind_NODE_KIND_JOURNAL}, RetryInterval: 50 * time.Millisecond, Logger: zerolog.Nop()})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := r.Register(ctx); err == nil {
		t.Fatal("registered with nobody listening")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
