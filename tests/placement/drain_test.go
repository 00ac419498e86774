package placement

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

// heartbeats stands in for the heartbeat loops of registered nodes: every
// period it heartbeats each node not yet silenced, through a
// leader-following client, until the test ends. Refusals during a failover
// are expected and ignored; the node's status is what the tests check.
type heartbeats struct {
	mu     sync.Mutex
	nodes  map[uint64]uint64 // node id -> incarnation
	cancel context.CancelFunc
	done   chan struct{}
}

// maxBeatRounds bounds the loop independently of time.
const maxBeatRounds = 10_000

func startHeartbeats(t *testing.T, api placementpb.PlacementServiceClient, period time.Duration, nodes ...*placementpb.ClusterNode) *heartbeats {
	ctx, cancel := context.WithCancel(context.Background())
	h := &heartbeats{nodes: map[uint64]uint64{}, cancel: cancel, done: make(chan struct{})}
	for _, n := range nodes {
		h.nodes[n.GetNodeId()] = n.GetIncarnation()
	}
	go func() {
		defer close(h.done)
		for range maxBeatRounds {
			h.mu.Lock()
			beat := make(map[uint64]uint64, len(h.nodes))
			for id, inc := range h.nodes {
				beat[id] = inc
			}
			h.mu.Unlock()
			for id, inc := range beat {
				cctx, ccancel := context.WithTimeout(ctx, period)
				_, _ = api.Heartbeat(cctx, &placementpb.HeartbeatRequest{NodeId: id, Incarnation: inc})
				ccancel()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(period):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-h.done
	})
	return h
}

// silence stops heartbeating node id.
func (h *heartbeats) silence(id uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.nodes, id)
}

// nodeStatuses lists every node's status, by id.
func nodeStatuses(ctx context.Context, t *testing.T, api placementpb.PlacementServiceClient) map[uint64]placementpb.NodeStatus {
	t.Helper()
	resp, err := api.ListNodes(ctx, &placementpb.ListNodesRequest{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	out := map[uint64]placementpb.NodeStatus{}
	for _, n := range resp.GetNodes() {
		out[n.GetNodeId()] = n.GetStatus()
	}
	return out
}

// TestIntegrationDrainNode: DrainNode puts a broker and a journal node in
// DRAINING through Raft; heartbeats keep them there across more than a
// lease and across a leader's SIGKILL; no new segment lands on the
// draining journal node; a draining node that stops heartbeating is
// declared DEAD, and a DEAD node can be neither drained nor undrained.
func TestIntegrationDrainNode(t *testing.T) {
	const lease = 2 * time.Second
	const margin = 3 * time.Second
	c := harness.StartPlacement(t, harness.PlacementOptions{Lease: lease})
	c.WaitLeader(leaderTimeout)
	ctx := testContext(t, 120*time.Second)
	api := placementpb.NewPlacementServiceClient(c.Client())

	register := func(kind placementpb.NodeKind, addr string, extra map[string]string) *placementpb.ClusterNode {
		t.Helper()
		resp, err := api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{
			Kind: kind, GrpcAddr: addr, ExtraAddrs: extra}})
		if err != nil {
			t.Fatalf("register: %v", err)
		}
		return resp.GetNode()
	}
	// Nothing listens at these addresses: the leader's probes never reach
	// them, which leaves the nodes to their leases (the heartbeats below).
	broker := register(placementpb.NodeKind_NODE_KIND_BROKER, "127.0.0.1:1", map[string]string{"mqtt": "127.0.0.1:2"})
	j1 := register(placementpb.NodeKind_NODE_KIND_JOURNAL, "127.0.0.1:3", nil)
	j2 := register(placementpb.NodeKind_NODE_KIND_JOURNAL, "127.0.0.1:4", nil)
	beats := startHeartbeats(t, api, lease/5, broker, j1, j2)

	for _, n := range []*placementpb.ClusterNode{broker, j1} {
		resp, err := api.DrainNode(ctx, &placementpb.DrainNodeRequest{NodeId: n.GetNodeId()})
		if err != nil || resp.GetNode().GetStatus() != placementpb.NodeStatus_NODE_STATUS_DRAINING {
			t.Fatalf("drain node %d: %v, %v", n.GetNodeId(), resp, err)
		}
	}
	want := map[uint64]placementpb.NodeStatus{
		broker.GetNodeId(): placementpb.NodeStatus_NODE_STATUS_DRAINING,
		j1.GetNodeId():     placementpb.NodeStatus_NODE_STATUS_DRAINING,
		j2.GetNodeId():     placementpb.NodeStatus_NODE_STATUS_ALIVE,
	}
	time.Sleep(2 * lease)
	if got := nodeStatuses(ctx, t, api); !maps.Equal(got, want) {
		t.Fatalf("after two leases of heartbeats: %v, want %v", got, want)
	}

	// Two replicas asked: the draining journal node is skipped, so one.
	sh, err := api.CreateShard(ctx, &placementpb.CreateShardRequest{Name: "drained/0", ReplicaCount: 2, AckQuorum: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r := sh.GetSegment().GetReplicas(); !slices.Equal(r, []uint64{j2.GetNodeId()}) {
		t.Fatalf("segment placed on %v, want only the ALIVE journal node %d", r, j2.GetNodeId())
	}

	// The drain is in the replicated state: a new leader has it, and its
	// own leases (one grace lease, then the heartbeats) keep it.
	old := c.WaitLeader(leaderTimeout)
	old.Kill9()
	c.WaitLeader(leaderTimeout)
	time.Sleep(2 * lease)
	if got := nodeStatuses(ctx, t, api); !maps.Equal(got, want) {
		t.Fatalf("after a leader change: %v, want %v", got, want)
	}

	// The draining broker stops heartbeating: it is declared DEAD.
	beats.silence(broker.GetNodeId())
	silenced := time.Now()
	for {
		if nodeStatuses(ctx, t, api)[broker.GetNodeId()] == placementpb.NodeStatus_NODE_STATUS_DEAD {
			break
		}
		if time.Since(silenced) > lease+margin {
			t.Fatalf("a silent draining node was not declared DEAD within %v", lease+margin)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("silent draining broker declared DEAD after %v (lease %v)", time.Since(silenced).Round(time.Millisecond), lease)

	for name, call := range map[string]func() error{
		"drain": func() error {
			_, err := api.DrainNode(ctx, &placementpb.DrainNodeRequest{NodeId: broker.GetNodeId()})
			return err
		},
		"undrain": func() error {
			_, err := api.UndrainNode(ctx, &placementpb.UndrainNodeRequest{NodeId: broker.GetNodeId()})
			return err
		},
	} {
		err := call()
		d, ok := rpcerr.Detail[*placementpb.NodeStatusMismatch](err)
		if status.Code(err) != codes.FailedPrecondition || !ok || d.GetStatus() != placementpb.NodeStatus_NODE_STATUS_DEAD {
			t.Errorf("%s of a DEAD node: %v (detail %v), want FailedPrecondition with NodeStatusMismatch", name, err, d)
		}
	}

	resp, err := api.UndrainNode(ctx, &placementpb.UndrainNodeRequest{NodeId: j1.GetNodeId()})
	if err != nil || resp.GetNode().GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("undrain: %v, %v", resp, err)
	}
	sh, err = api.CreateShard(ctx, &placementpb.CreateShardRequest{Name: "drained/1", ReplicaCount: 2, AckQuorum: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r := sh.GetSegment().GetReplicas(); len(r) != 2 || !slices.Contains(r, j1.GetNodeId()) {
		t.Fatalf("after undrain the segment went to %v, want both journal nodes", r)
	}
}
