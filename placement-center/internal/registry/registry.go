package registry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Proposer proposes a command through Raft and waits for it to apply.
type Proposer interface {
	Propose(ctx context.Context, cmd *placementpb.Command) (proto.Message, error)
}

// Nodes reads the registered nodes from the applied state.
type Nodes interface {
	GetNode(id uint64) (*placementpb.ClusterNode, error)
	ListNodes(kind placementpb.NodeKind) ([]*placementpb.ClusterNode, error)
}

// Config tunes lease handling.
type Config struct {
	// Lease is how long a node lives without a heartbeat.
	Lease time.Duration
	// CheckInterval is how often expired leases are looked for.
	CheckInterval time.Duration
	// Now is the clock; nil means time.Now. Tests replace it.
	Now func() time.Time
}

// Registry tracks leases. It is safe for concurrent use.
type Registry struct {
	cfg   Config
	nodes Nodes
	prop  Proposer
	log   zerolog.Logger

	mu sync.Mutex
	// leader is true while this member leads; leaderSince is when it began.
	leader      bool
	leaderSince time.Time
	// expiry holds the lease deadline of every node heard from since this
	// member became leader. A live node missing from it expires at
	// leaderSince+Lease.
	expiry map[uint64]time.Time
}

// New returns a registry; call SetLeader on leadership changes and Run to
// expire leases.
func New(cfg Config, nodes Nodes, prop Proposer, log zerolog.Logger) *Registry {
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Second
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = cfg.Lease / 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Registry{cfg: cfg, nodes: nodes, prop: prop, log: log, expiry: map[uint64]time.Time{}}
}

// Lease is the configured lease length.
func (r *Registry) Lease() time.Duration { return r.cfg.Lease }

// SetLeader records a leadership change. Gaining leadership forgets every
// lease and starts the one-lease grace period.
func (r *Registry) SetLeader(leader bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if leader && !r.leader {
		r.leaderSince = r.cfg.Now()
		r.expiry = map[uint64]time.Time{}
	}
	r.leader = leader
}

// Touch renews a node's lease (after a registration or a heartbeat).
func (r *Registry) Touch(nodeID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expiry[nodeID] = r.cfg.Now().Add(r.cfg.Lease)
}

// Forget drops a node's lease (after it unregistered).
func (r *Registry) Forget(nodeID uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.expiry, nodeID)
}

// Heartbeat renews the lease of nodeID if it is registered, alive and at the
// given incarnation. A node told FailedPrecondition or NotFound must register
// again (which bumps its incarnation).
func (r *Registry) Heartbeat(nodeID, incarnation uint64) error {
	n, err := r.nodes.GetNode(nodeID)
	if err != nil {
		return err
	}
	if n.GetIncarnation() != incarnation {
		return status.Errorf(codes.FailedPrecondition, "node %d is at incarnation %d, heartbeat carried %d: register again", nodeID, n.GetIncarnation(), incarnation)
	}
	if n.GetStatus() == placementpb.NodeStatus_NODE_STATUS_DEAD {
		return status.Errorf(codes.FailedPrecondition, "node %d was declared dead: register again", nodeID)
	}
	r.Touch(nodeID)
	return nil
}

// Run checks leases every CheckInterval until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.ExpireOnce(ctx)
		}
	}
}

// Expired lists the live nodes whose lease has lapsed, or nil when this
// member is not leader or is still inside its first lease.
func (r *Registry) Expired() []*placementpb.ClusterNode {
	r.mu.Lock()
	leader, since := r.leader, r.leaderSince
	expiry := make(map[uint64]time.Time, len(r.expiry))
	for k, v := range r.expiry {
		expiry[k] = v
	}
	r.mu.Unlock()
	now := r.cfg.Now()
	if !leader || now.Before(since.Add(r.cfg.Lease)) {
		return nil
	}
	nodes, err := r.nodes.ListNodes(placementpb.NodeKind_NODE_KIND_UNSPECIFIED)
	if err != nil {
		r.log.Warn().Err(err).Msg("listing nodes for lease check")
		return nil
	}
	var out []*placementpb.ClusterNode
	for _, n := range nodes {
		if n.GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
			continue
		}
		deadline, ok := expiry[n.GetNodeId()]
		if !ok {
			deadline = since.Add(r.cfg.Lease)
		}
		if now.After(deadline) {
			out = append(out, n)
		}
	}
	return out
}

// ExpireOnce declares every expired node dead through Raft. The command
// carries the incarnation, so a node that re-registered meanwhile is spared.
func (r *Registry) ExpireOnce(ctx context.Context) {
	for _, n := range r.Expired() {
		pctx, cancel := context.WithTimeout(ctx, r.cfg.Lease)
		_, err := r.prop.Propose(pctx, &placementpb.Command{Op: &placementpb.Command_SetNodeStatus{
			SetNodeStatus: &placementpb.SetNodeStatusCmd{
				NodeId: n.GetNodeId(), Status: placementpb.NodeStatus_NODE_STATUS_DEAD, Incarnation: n.GetIncarnation(),
			}}})
		cancel()
		if err != nil {
			r.log.Warn().Err(err).Uint64("node", n.GetNodeId()).Msg("declaring node dead")
			continue
		}
		r.Forget(n.GetNodeId())
		r.log.Warn().Uint64("node", n.GetNodeId()).Str("kind", n.GetKind().String()).
			Uint64("incarnation", n.GetIncarnation()).Msg(fmt.Sprintf("lease lapsed after %s: node declared dead", r.cfg.Lease))
	}
}
