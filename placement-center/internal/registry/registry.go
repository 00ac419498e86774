package registry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	// Probe tunes the leader's health probing of registered nodes
	// (prober.go); a zero Probe.Interval turns probing off.
	Probe ProbeConfig
	// Registerer receives the registry's metrics; nil keeps them
	// unregistered.
	Registerer prometheus.Registerer
}

// Reasons a node is declared dead (the reason label of
// robustmq_placement_nodes_declared_dead_total).
const (
	ReasonLease       = "lease"
	ReasonUnreachable = "unreachable"
)

// serving reports whether a node in status st runs and holds a lease: ALIVE
// or DRAINING. A draining node heartbeats, is probed and is declared dead
// exactly like an ALIVE one; it only stays DRAINING while it lives.
func serving(st placementpb.NodeStatus) bool {
	return st == placementpb.NodeStatus_NODE_STATUS_ALIVE || st == placementpb.NodeStatus_NODE_STATUS_DRAINING
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
	// term counts leadership changes; changed is closed (and replaced) on
	// each one. A declaration carries the term it was decided in and is
	// dropped when leadership moved since.
	term    uint64
	changed chan struct{}

	// declareMu serialises declarations, so the lease check and the
	// probers never declare the same node twice.
	declareMu sync.Mutex
	prober    *prober // nil when probing is off
	metrics   *metrics
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
	cfg.Probe = cfg.Probe.withDefaults()
	r := &Registry{cfg: cfg, nodes: nodes, prop: prop, log: log, expiry: map[uint64]time.Time{},
		changed: make(chan struct{}), metrics: newMetrics(cfg.Registerer, log)}
	if cfg.Probe.Interval > 0 {
		r.prober = newProber(r, cfg.Probe)
	}
	return r
}

// Lease is the configured lease length.
func (r *Registry) Lease() time.Duration { return r.cfg.Lease }

// SetLeader records a leadership change. Gaining leadership forgets every
// lease and starts the one-lease grace period.
// Losing it stops the probers (their term's context is cancelled) and
// voids any declaration decided before.
func (r *Registry) SetLeader(leader bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if leader && !r.leader {
		r.leaderSince = r.cfg.Now()
		r.expiry = map[uint64]time.Time{}
	}
	if leader != r.leader {
		r.term++
		close(r.changed)
		r.changed = make(chan struct{})
	}
	r.leader = leader
}

// leadership returns whether this member leads, the leadership term and a
// channel closed at the next change.
func (r *Registry) leadership() (bool, uint64, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leader, r.term, r.changed
}

// Touch renews a node's lease (after a registration or a heartbeat).
func (r *Registry) Touch(nodeID uint64) {
	r.mu.Lock()
	r.expiry[nodeID] = r.cfg.Now().Add(r.cfg.Lease)
	r.mu.Unlock()
	if r.prober != nil {
		r.prober.noticed(nodeID)
	}
}

// heardSince reports whether nodeID's lease was renewed after t.
func (r *Registry) heardSince(nodeID uint64, t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp, ok := r.expiry[nodeID]
	return ok && exp.Add(-r.cfg.Lease).After(t)
}

// Forget drops a node's lease (after it unregistered).
func (r *Registry) Forget(nodeID uint64) {
	r.mu.Lock()
	delete(r.expiry, nodeID)
	r.mu.Unlock()
	if r.prober != nil {
		r.prober.noticed(nodeID)
	}
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

// Run checks leases every CheckInterval, and runs the probers while this
// member leads, until ctx ends; it returns once every prober stopped.
func (r *Registry) Run(ctx context.Context) error {
	if r.prober != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { r.prober.run(ctx) })
	}
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

// Expired lists the live (ALIVE or DRAINING) nodes whose lease has lapsed,
// or nil when this member is not leader or is still inside its first lease.
func (r *Registry) Expired() []*placementpb.ClusterNode {
	out, _ := r.expired()
	return out
}

// expired is Expired with the leadership term it was computed in.
func (r *Registry) expired() ([]*placementpb.ClusterNode, uint64) {
	r.mu.Lock()
	leader, since, term := r.leader, r.leaderSince, r.term
	expiry := make(map[uint64]time.Time, len(r.expiry))
	for k, v := range r.expiry {
		expiry[k] = v
	}
	r.mu.Unlock()
	now := r.cfg.Now()
	if !leader || now.Before(since.Add(r.cfg.Lease)) {
		return nil, term
	}
	nodes, err := r.nodes.ListNodes(placementpb.NodeKind_NODE_KIND_UNSPECIFIED)
	if err != nil {
		r.log.Warn().Err(err).Msg("listing nodes for lease check")
		return nil, term
	}
	var out []*placementpb.ClusterNode
	for _, n := range nodes {
		if !serving(n.GetStatus()) {
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
	return out, term
}

// ExpireOnce declares every expired node dead through Raft. The command
// carries the incarnation, so a node that re-registered meanwhile is spared.
func (r *Registry) ExpireOnce(ctx context.Context) {
	nodes, term := r.expired()
	for _, n := range nodes {
		if _, err := r.declareDead(ctx, term, n, ReasonLease, fmt.Sprintf("lease lapsed after %s", r.cfg.Lease)); err != nil {
			r.log.Warn().Err(err).Uint64("node", n.GetNodeId()).Msg("declaring node dead")
		}
	}
}

// declareDead declares n dead through Raft, the one path for every reason,
// if this member still leads in term and n is still ALIVE or DRAINING at
// n's incarnation in the applied state (the Raft command carries the
// incarnation too, so a registration ordered before it spares the node).
// It reports whether the node was declared dead.
func (r *Registry) declareDead(ctx context.Context, term uint64, n *placementpb.ClusterNode, reason, detail string) (bool, error) {
	r.declareMu.Lock()
	defer r.declareMu.Unlock()
	if leader, cur, _ := r.leadership(); !leader || cur != term {
		return false, nil
	}
	cur, err := r.nodes.GetNode(n.GetNodeId())
	if status.Code(err) == codes.NotFound {
		return false, nil // unregistered meanwhile
	}
	if err != nil {
		return false, err
	}
	if cur.GetIncarnation() != n.GetIncarnation() || !serving(cur.GetStatus()) {
		return false, nil
	}
	// Forget before proposing: a registration racing with the proposal
	// renews the lease after this, not before.
	r.Forget(n.GetNodeId())
	pctx, cancel := context.WithTimeout(ctx, r.cfg.Lease)
	defer cancel()
	if _, err := r.prop.Propose(pctx, &placementpb.Command{Op: &placementpb.Command_SetNodeStatus{
		SetNodeStatus: &placementpb.SetNodeStatusCmd{
			NodeId: n.GetNodeId(), Status: placementpb.NodeStatus_NODE_STATUS_DEAD, Incarnation: n.GetIncarnation(),
		}}}); err != nil {
		return false, err
	}
	r.metrics.declared.WithLabelValues(reason).Inc()
	r.log.Info().Uint64("node", n.GetNodeId()).Str("kind", n.GetKind().String()).Str("addr", n.GetGrpcAddr()).
		Uint64("incarnation", n.GetIncarnation()).Str("reason", reason).Msg(detail + ": node declared dead")
	return true, nil
}
