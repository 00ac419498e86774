package registry

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// fakeState is an in-memory stand-in for the applied state and Raft, below
// the unit under test.
type fakeState struct {
	mu    sync.Mutex
	nodes map[uint64]*placementpb.ClusterNode
	dead  []uint64
}

func (f *fakeState) GetNode(id uint64) (*placementpb.ClusterNode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	if !ok {
		return nil, status.Error(codes.NotFound, "no node")
	}
	return proto.Clone(n).(*placementpb.ClusterNode), nil
}

func (f *fakeState) ListNodes(placementpb.NodeKind) ([]*placementpb.ClusterNode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*placementpb.ClusterNode
	for _, n := range f.nodes {
		out = append(out, proto.Clone(n).(*placementpb.ClusterNode))
	}
	return out, nil
}

func (f *fakeState) Propose(_ context.Context, cmd *placementpb.Command) (proto.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := cmd.GetSetNodeStatus()
	n := f.nodes[s.GetNodeId()]
	if n.GetIncarnation() == s.GetIncarnation() {
		n.Status = s.GetStatus()
		f.dead = append(f.dead, s.GetNodeId())
	}
	return n, nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func alive(id, inc uint64) *placementpb.ClusterNode {
	return &placementpb.ClusterNode{NodeId: id, Incarnation: inc, Status: placementpb.NodeStatus_NODE_STATUS_ALIVE}
}

func TestLeaseLapseDeclaresDeathAfterGrace(t *testing.T) {
	st := &fakeState{nodes: map[uint64]*placementpb.ClusterNode{1: alive(1, 1), 2: alive(2, 4)}}
	c := &clock{t: time.Unix(1000, 0)}
	r := New(Config{Lease: 10 * time.Second, Now: c.now}, st, st, zerolog.Nop())
	ctx := context.Background()

	r.ExpireOnce(ctx)
	if len(st.dead) != 0 {
		t.Fatal("a follower declared a death")
	}
	r.SetLeader(true)
	c.add(9 * time.Second)
	if err := r.Heartbeat(2, 4); err != nil {
		t.Fatal(err)
	}
	r.ExpireOnce(ctx)
	if len(st.dead) != 0 {
		t.Fatalf("death declared inside the new leader's grace lease: %v", st.dead)
	}
	c.add(2 * time.Second) // 11s after becoming leader; node 2 heard 2s ago
	r.ExpireOnce(ctx)
	if len(st.dead) != 1 || st.dead[0] != 1 {
		t.Fatalf("dead = %v, want [1]", st.dead)
	}
	c.add(9 * time.Second) // node 2 silent for 11s
	r.ExpireOnce(ctx)
	if len(st.dead) != 2 || st.dead[1] != 2 {
		t.Fatalf("dead = %v, want [1 2]", st.dead)
	}
	if err := r.Heartbeat(2, 4); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("heartbeat of a dead node: %v, want FailedPrecondition", err)
	}
}

func TestHeartbeatChecksIncarnation(t *testing.T) {
	st := &fakeState{nodes: map[uint64]*placementpb.ClusterNode{1: alive(1, 3)}}
	r := New(Config{Lease: time.Second}, st, st, zerolog.Nop())
	if err := r.Heartbeat(1, 2); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("stale incarnation: %v", err)
	}
	if err := r.Heartbeat(9, 1); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown node: %v", err)
	}
}

func TestLosingLeadershipStopsExpiry(t *testing.T) {
	st := &fakeState{nodes: map[uint64]*placementpb.ClusterNode{1: alive(1, 1)}}
	c := &clock{t: time.Unix(1000, 0)}
	r := New(Config{Lease: time.Second, Now: c.now}, st, st, zerolog.Nop())
	r.SetLeader(true)
	r.SetLeader(false)
	c.add(time.Minute)
	r.ExpireOnce(context.Background())
	if len(st.dead) != 0 {
		t.Fatalf("an ex-leader declared %v dead", st.dead)
	}
}

// TestDrainingNodeLivesAndDies: a DRAINING node's heartbeats renew its
// lease and leave it DRAINING; once they stop, the lapse declares it DEAD
// like an ALIVE node.
func TestDrainingNodeLivesAndDies(t *testing.T) {
	draining := alive(1, 2)
	draining.Status = placementpb.NodeStatus_NODE_STATUS_DRAINING
	st := &fakeState{nodes: map[uint64]*placementpb.ClusterNode{1: draining}}
	c := &clock{t: time.Unix(1000, 0)}
	r := New(Config{Lease: 10 * time.Second, Now: c.now}, st, st, zerolog.Nop())
	r.SetLeader(true)
	ctx := context.Background()
	for range 3 { // 24 s in all, well past the first lease: heartbeats keep it
		c.add(8 * time.Second)
		if err := r.Heartbeat(1, 2); err != nil {
			t.Fatalf("heartbeat of a draining node: %v", err)
		}
		r.ExpireOnce(ctx)
	}
	if n, _ := st.GetNode(1); len(st.deaths()) != 0 || n.GetStatus() != placementpb.NodeStatus_NODE_STATUS_DRAINING {
		t.Fatalf("heartbeating draining node: deaths %v, node %v", st.deaths(), n)
	}
	c.add(11 * time.Second)
	r.ExpireOnce(ctx)
	if n, _ := st.GetNode(1); !slices.Equal(st.deaths(), []uint64{1}) || n.GetStatus() != placementpb.NodeStatus_NODE_STATUS_DEAD {
		t.Fatalf("silent draining node: deaths %v, node %v", st.deaths(), n)
	}
}
