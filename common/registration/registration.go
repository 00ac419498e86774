package registration

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

// Config describes the node to register.
type Config struct {
	// Node is the node as it registers: kind, addresses, and node_id (0
	// lets the center assign one — fine for stateless brokers; a journal
	// node must keep its id because its data belongs to it).
	Node *placementpb.ClusterNode
	// Interval between heartbeats; zero means a third of the lease the
	// center returns.
	Interval time.Duration
	// RetryInterval between failed registration attempts (default 500ms).
	RetryInterval time.Duration
	// UnregisterOnStop removes the node from the registry on a clean stop.
	// Brokers set it; journal nodes do not, because their segments name
	// them as replicas and they come back with the same id.
	UnregisterOnStop bool
	Logger           zerolog.Logger
}

// Registration is one process's registration. Safe for concurrent use.
type Registration struct {
	client placementpb.PlacementServiceClient
	cfg    Config

	mu      sync.Mutex
	current *placementpb.ClusterNode
	lease   time.Duration
	changed []func(*placementpb.ClusterNode)
}

// New returns an unregistered Registration.
func New(client placementpb.PlacementServiceClient, cfg Config) *Registration {
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 500 * time.Millisecond
	}
	return &Registration{client: client, cfg: cfg}
}

// OnRegistered calls f after every successful registration (the first and
// each re-registration with a new incarnation). Call before Register.
func (r *Registration) OnRegistered(f func(*placementpb.ClusterNode)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changed = append(r.changed, f)
}

// Current returns the node as last registered (nil before Register).
func (r *Registration) Current() *placementpb.ClusterNode {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil {
		return nil
	}
	return proto.Clone(r.current).(*placementpb.ClusterNode)
}

// ID returns the node id and incarnation (zeros before Register).
func (r *Registration) ID() (nodeID, incarnation uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current.GetNodeId(), r.current.GetIncarnation()
}

// Register registers, retrying until it succeeds or ctx ends.
func (r *Registration) Register(ctx context.Context) (*placementpb.ClusterNode, error) {
	for {
		n, err := r.registerOnce(ctx)
		if err == nil {
			return n, nil
		}
		code := status.Code(err)
		if code == codes.InvalidArgument || code == codes.ResourceExhausted {
			return nil, fmt.Errorf("register: %w", err)
		}
		r.cfg.Logger.Warn().Err(err).Msg("registering with the placement center; retrying")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("register: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(r.cfg.RetryInterval):
		}
	}
}

func (r *Registration) registerOnce(ctx context.Context) (*placementpb.ClusterNode, error) {
	r.mu.Lock()
	node := proto.Clone(r.cfg.Node).(*placementpb.ClusterNode)
	if r.current != nil {
		// Keep an assigned id across re-registrations.
		node.NodeId = r.current.GetNodeId()
	}
	r.mu.Unlock()
	resp, err := r.client.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: node})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.current = resp.GetNode()
	r.lease = time.Duration(resp.GetLeaseMs()) * time.Millisecond
	hooks := append([]func(*placementpb.ClusterNode){}, r.changed...)
	cur := proto.Clone(r.current).(*placementpb.ClusterNode)
	r.mu.Unlock()
	r.cfg.Logger.Info().Uint64("node_id", cur.GetNodeId()).Uint64("incarnation", cur.GetIncarnation()).
		Str("kind", cur.GetKind().String()).Msg("registered with the placement center")
	for _, f := range hooks {
		f(cur)
	}
	return cur, nil
}

func (r *Registration) interval() time.Duration {
	if r.cfg.Interval > 0 {
		return r.cfg.Interval
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lease <= 0 {
		return time.Second
	}
	return r.lease / 3
}

// Run heartbeats until ctx ends, re-registering when needed, then
// unregisters (best effort, bounded). Register must have succeeded first.
func (r *Registration) Run(ctx context.Context) error {
	t := time.NewTimer(r.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if r.cfg.UnregisterOnStop {
				r.unregister()
			}
			return nil
		case <-t.C:
		}
		id, inc := r.ID()
		hctx, cancel := context.WithTimeout(ctx, r.interval())
		_, err := r.client.Heartbeat(hctx, &placementpb.HeartbeatRequest{NodeId: id, Incarnation: inc})
		cancel()
		switch code := status.Code(err); {
		case err == nil:
		case code == codes.NotFound || code == codes.FailedPrecondition:
			r.cfg.Logger.Warn().Err(err).Msg("registration lost; registering again")
			if _, err := r.Register(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Logger.Error().Err(err).Msg("re-registering")
			}
		default:
			r.cfg.Logger.Warn().Err(err).Msg("heartbeat failed")
		}
		t.Reset(r.interval())
	}
}

// unregister tells the center this node is leaving, so it is not declared
// dead a lease later.
func (r *Registration) unregister() {
	id, inc := r.ID()
	if id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := r.client.UnregisterNode(ctx, &placementpb.UnregisterNodeRequest{NodeId: id, Incarnation: inc}); err != nil {
		r.cfg.Logger.Warn().Err(err).Msg("unregistering")
	}
}
