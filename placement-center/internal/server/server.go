package server

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/password"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/placement-center/internal/registry"
	"github.com/robustmq/robustmq-go/placement-center/internal/scheduler"
	"github.com/robustmq/robustmq-go/placement-center/internal/watch"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Raft is the part of the Raft node the API needs.
type Raft interface {
	Propose(ctx context.Context, cmd *placementpb.Command) (proto.Message, error)
	ReadIndex(ctx context.Context) error
	IsLeader() bool
	LeaderAddr() (uint64, string)
}

// State is the applied state machine, read-only.
type State interface {
	GetNode(id uint64) (*placementpb.ClusterNode, error)
	ListNodes(kind placementpb.NodeKind) ([]*placementpb.ClusterNode, error)
	GetKV(key string) (*placementpb.KeyValue, error)
	ListKV(prefix string, limit int) ([]*placementpb.KeyValue, error)
	ListTenants() ([]*placementpb.Tenant, error)
	ListUsers(tenant string) ([]*placementpb.User, error)
	ListAcls(tenant string) ([]*placementpb.AclRule, error)
	GetShard(tenant, name string) (*placementpb.Shard, error)
	ListShards(tenant, prefix string) ([]*placementpb.Shard, error)
	ListSegments(tenant, shard string) ([]*placementpb.Segment, error)
	GetSegment(tenant, shard string, seq uint32) (*placementpb.Segment, error)
	AppliedIndex() uint64
}

// Placement implements placementpb.PlacementServiceServer.
type Placement struct {
	placementpb.UnimplementedPlacementServiceServer
	raft     Raft
	state    State
	hub      *watch.Hub
	registry *registry.Registry
	limits   Limits
	log      zerolog.Logger
}

// NewPlacement wires the API to the Raft node, the state and the registry.
func NewPlacement(r Raft, st State, hub *watch.Hub, reg *registry.Registry, limits Limits, log zerolog.Logger) *Placement {
	if limits.MaxNameBytes == 0 {
		limits.MaxNameBytes = DefaultLimits.MaxNameBytes
	}
	if limits.MaxValueBytes == 0 {
		limits.MaxValueBytes = DefaultLimits.MaxValueBytes
	}
	return &Placement{raft: r, state: st, hub: hub, registry: reg, limits: limits, log: log}
}

// propose runs cmd through Raft and returns the applied value as T.
func propose[T proto.Message](ctx context.Context, r Raft, cmd *placementpb.Command) (T, error) {
	var zero T
	v, err := r.Propose(ctx, cmd)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok && v != nil {
		return zero, status.Errorf(codes.Internal, "command applied with unexpected result %T", v)
	}
	return t, nil
}

// read runs the ReadIndex barrier unless the caller accepts stale data.
func (p *Placement) read(ctx context.Context, c placementpb.ReadConsistency) error {
	if !validConsistency(c) {
		return rpcerr.InvalidArgument("consistency", fmt.Sprintf("unknown value %d", c))
	}
	if c == placementpb.ReadConsistency_READ_CONSISTENCY_SERIALIZABLE {
		return nil
	}
	return p.raft.ReadIndex(ctx)
}

// leaderOnly rejects requests that need the leader's in-memory view.
func (p *Placement) leaderOnly() error {
	if p.raft.IsLeader() {
		return nil
	}
	id, addr := p.raft.LeaderAddr()
	return rpcerr.NotLeader(id, addr)
}

// RegisterNode registers (or re-registers, bumping the incarnation) a node.
func (p *Placement) RegisterNode(ctx context.Context, req *placementpb.RegisterNodeRequest) (*placementpb.RegisterNodeResponse, error) {
	n := req.GetNode()
	if n == nil {
		return nil, rpcerr.InvalidArgument("node", "missing")
	}
	if !validNodeKind(n.GetKind()) || n.GetKind() == placementpb.NodeKind_NODE_KIND_UNSPECIFIED {
		return nil, rpcerr.InvalidArgument("node.kind", fmt.Sprintf("must be broker or journal, got %d", n.GetKind()))
	}
	if err := p.limits.name("node.grpc_addr", n.GetGrpcAddr()); err != nil {
		return nil, err
	}
	if err := p.leaderOnly(); err != nil {
		return nil, err
	}
	node := proto.Clone(n).(*placementpb.ClusterNode)
	node.Status = placementpb.NodeStatus_NODE_STATUS_ALIVE
	out, err := propose[*placementpb.ClusterNode](ctx, p.raft, &placementpb.Command{Op: &placementpb.Command_RegisterNode{
		RegisterNode: &placementpb.RegisterNodeCmd{Node: node}}})
	if err != nil {
		return nil, err
	}
	p.registry.Touch(out.GetNodeId())
	return &placementpb.RegisterNodeResponse{Node: out, LeaseMs: p.registry.Lease().Milliseconds()}, nil
}

// Heartbeat renews a node's lease; only the leader holds leases.
func (p *Placement) Heartbeat(_ context.Context, req *placementpb.HeartbeatRequest) (*placementpb.HeartbeatResponse, error) {
	if err := p.leaderOnly(); err != nil {
		return nil, err
	}
	if err := p.registry.Heartbeat(req.GetNodeId(), req.GetIncarnation()); err != nil {
		return nil, err
	}
	return &placementpb.HeartbeatResponse{LeaseMs: p.registry.Lease().Milliseconds()}, nil
}

// UnregisterNode removes a node that is shutting down cleanly.
func (p *Placement) UnregisterNode(ctx context.Context, req *placementpb.UnregisterNodeRequest) (*placementpb.UnregisterNodeResponse, error) {
	n, err := p.state.GetNode(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	if req.GetIncarnation() != 0 && req.GetIncarnation() != n.GetIncarnation() {
		return nil, rpcerr.VersionMismatch("node incarnation", fmt.Sprint(req.GetNodeId()), req.GetIncarnation(), n.GetIncarnation())
	}
	if _, err := p.raft.Propose(ctx, &placementpb.Command{Op: &placementpb.Command_UnregisterNode{
		UnregisterNode: &placementpb.UnregisterNodeCmd{NodeId: req.GetNodeId()}}}); err != nil {
		return nil, err
	}
	p.registry.Forget(req.GetNodeId())
	return &placementpb.UnregisterNodeResponse{}, nil
}

// ListNodes lists registered nodes, optionally of one kind.
func (p *Placement) ListNodes(ctx context.Context, req *placementpb.ListNodesRequest) (*placementpb.ListNodesResponse, error) {
	if !validNodeKind(req.GetKind()) {
		return nil, rpcerr.InvalidArgument("kind", fmt.Sprintf("unknown value %d", req.GetKind()))
	}
	if err := p.read(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	rev := p.state.AppliedIndex()
	nodes, err := p.state.ListNodes(req.GetKind())
	if err != nil {
		return nil, err
	}
	return &placementpb.ListNodesResponse{Nodes: nodes, Revision: rev}, nil
}

// DrainNode sets an ALIVE (or already DRAINING) node DRAINING through Raft.
// The registry keeps treating it as live: heartbeats renew its lease
// without changing its status, probes watch it, a lapse or failed probes
// still declare it DEAD.
func (p *Placement) DrainNode(ctx context.Context, req *placementpb.DrainNodeRequest) (*placementpb.DrainNodeResponse, error) {
	n, err := p.setNodeStatus(ctx, req.GetNodeId(), placementpb.NodeStatus_NODE_STATUS_DRAINING,
		placementpb.NodeStatus_NODE_STATUS_ALIVE, placementpb.NodeStatus_NODE_STATUS_DRAINING)
	if err != nil {
		return nil, err
	}
	return &placementpb.DrainNodeResponse{Node: n}, nil
}

// UndrainNode sets a DRAINING (or already ALIVE) node ALIVE through Raft.
func (p *Placement) UndrainNode(ctx context.Context, req *placementpb.UndrainNodeRequest) (*placementpb.UndrainNodeResponse, error) {
	n, err := p.setNodeStatus(ctx, req.GetNodeId(), placementpb.NodeStatus_NODE_STATUS_ALIVE,
		placementpb.NodeStatus_NODE_STATUS_DRAINING, placementpb.NodeStatus_NODE_STATUS_ALIVE)
	if err != nil {
		return nil, err
	}
	return &placementpb.UndrainNodeResponse{Node: n}, nil
}

// setNodeStatus proposes an operator's status change of nodeID, applied
// only when the node is in one of the from statuses (checked by the state
// machine, so a death declared meanwhile is never overwritten).
func (p *Placement) setNodeStatus(ctx context.Context, nodeID uint64, to placementpb.NodeStatus, from ...placementpb.NodeStatus) (*placementpb.ClusterNode, error) {
	if nodeID == 0 {
		return nil, rpcerr.InvalidArgument("node_id", "must not be 0")
	}
	return propose[*placementpb.ClusterNode](ctx, p.raft, &placementpb.Command{Op: &placementpb.Command_SetNodeStatus{
		SetNodeStatus: &placementpb.SetNodeStatusCmd{NodeId: nodeID, Status: to, From: from}}})
}

// PutKV writes a key, optionally compare-and-set on its version.
func (p *Placement) PutKV(ctx context.Context, req *placementpb.PutKVRequest) (*placementpb.PutKVResponse, error) {
	if err := p.limits.name("key", req.GetKey()); err != nil {
		return nil, err
	}
	if err := p.limits.value("value", req.GetValue()); err != nil {
		return nil, err
	}
	kv, err := propose[*placementpb.KeyValue](ctx, p.raft, &placementpb.Command{Op: &placementpb.Command_PutKv{
		PutKv: &placementpb.PutKVCmd{Key: req.GetKey(), Value: req.GetValue(), ExpectedVersion: req.ExpectedVersion}}})
	if err != nil {
		return nil, err
	}
	return &placementpb.PutKVResponse{Kv: kv}, nil
}

// GetKV reads a key.
func (p *Placement) GetKV(ctx context.Context, req *placementpb.GetKVRequest) (*placementpb.GetKVResponse, error) {
	if err := p.limits.name("key", req.GetKey()); err != nil {
		return nil, err
	}
	if err := p.read(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	rev := p.state.AppliedIndex()
	kv, err := p.state.GetKV(req.GetKey())
	if err != nil {
		return nil, err
	}
	return &placementpb.GetKVResponse{Kv: kv, Revision: rev}, nil
}

// DeleteKV deletes a key, optionally compare-and-set on its version.
func (p *Placement) DeleteKV(ctx context.Context, req *placementpb.DeleteKVRequest) (*placementpb.DeleteKVResponse, error) {
	if err := p.limits.name("key", req.GetKey()); err != nil {
		return nil, err
	}
	if _, err := p.raft.Propose(ctx, &placementpb.Command{Op: &placementpb.Command_DeleteKv{
		DeleteKv: &placementpb.DeleteKVCmd{Key: req.GetKey(), ExpectedVersion: req.ExpectedVersion}}}); err != nil {
		return nil, err
	}
	return &placementpb.DeleteKVResponse{}, nil
}

// ListKV lists keys under a prefix.
func (p *Placement) ListKV(ctx context.Context, req *placementpb.ListKVRequest) (*placementpb.ListKVResponse, error) {
	if err := p.read(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	rev := p.state.AppliedIndex()
	kvs, err := p.state.ListKV(req.GetPrefix(), int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	return &placementpb.ListKVResponse{Kvs: kvs, Revision: rev}, nil
}

// CreateTenant creates a tenant namespace.
func (p *Placement) CreateTenant(ctx context.Context, req *placementpb.CreateTenantRequest) (*placementpb.CreateTenantResponse, error) {
	if err := p.limits.name("name", req.GetName()); err != nil {
		return nil, err
	}
	if _, err := p.limits.tenant(req.GetName()); err != nil {
		return nil, err
	}
	t, err := propose[*placementpb.Tenant](ctx, p.raft, &placementpb.Command{Op: &placementpb.Command_CreateTenant{
		CreateTenant: &placementpb.CreateTenantCmd{Tenant: &placementpb.Tenant{Name: req.GetName(), Config: req.GetConfig()}}}})
	if err != nil {
		return nil, err
	}
	return &placementpb.CreateTenantResponse{Tenant: t}, nil
}

// DeleteTenant deletes an empty tenant; "default" cannot be deleted.
func (p *Placement) DeleteTenant(ctx context.Context, req *placementpb.DeleteTenantRequest) (*placementpb.DeleteTenantResponse, error) {
	if err := p.limits.name("name", req.GetName()); err != nil {
		return nil, err
	}
	if _, err := p.raft.Propose(ctx, &placementpb.Command{Op: &placementpb.Command_DeleteTenant{
		DeleteTenant: &placementpb.DeleteTenantCmd{Name: req.GetName()}}}); err != nil {
		return nil, err
	}
	return &placementpb.DeleteTenantResponse{}, nil
}

// ListTenants lists every tenant.
func (p *Placement) ListTenants(ctx context.Context, req *placementpb.ListTenantsRequest) (*placementpb.ListTenantsResponse, error) {
	if err := p.read(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	rev := p.state.AppliedIndex()
	ts, err := p.state.ListTenants()
	if err != nil {
		return nil, err
	}
	return &placementpb.ListTenantsResponse{Tenants: ts, Revision: rev}, nil
}

// CreateUser stores a user with a salted password hash. The hash is computed
// here, before proposing, so apply stays deterministic and the password never
// enters the log.
func (p *Placement) CreateUser(ctx context.Context, req *placementpb.CreateUserRequest) (*placementpb.CreateUserResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.limits.name("username", req.GetUsername()); err != nil {
		return nil, err
	}
	if req.GetPassword() == "" {
		return nil, rpcerr.InvalidArgument("password", "must not be empty")
	}
	if err := p.limits.value("password", []byte(req.GetPassword())); err != nil {
		return nil, err
	}
	salt, hash, err := password.Hash(req.GetPassword())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "hashing password: %v", err)
	}
	u, err := propose[*placementpb.User](ctx, p.raft, &placementpb.Command{Op: &placementpb.Command_CreateUser{
		CreateUser: &placementpb.CreateUserCmd{User: &placementpb.User{
			Tenant: tenant, Username: req.GetUsername(), Salt: salt, PasswordHash: hash, Superuser: req.GetSuperuser()}}}})
	if err != nil {
		return nil, err
	}
	return &placementpb.CreateUserResponse{User: u}, nil
}

// DeleteUser removes a user.
func (p *Placement) DeleteUser(ctx context.Context, req *placementpb.DeleteUserRequest) (*placementpb.DeleteUserResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.limits.name("username", req.GetUsername()); err != nil {
		return nil, err
	}
	if _, err := p.raft.Propose(ctx, &placementpb.Command{Op: &placementpb.Command_DeleteUser{
		DeleteUser: &placementpb.DeleteUserCmd{Tenant: tenant, Username: req.GetUsername()}}}); err != nil {
		return nil, err
	}
	return &placementpb.DeleteUserResponse{}, nil
}

// ListUsers lists a tenant's users (with their hashes: callers are brokers
// verifying passwords and operators).
func (p *Placement) ListUsers(ctx context.Context, req *placementpb.ListUsersRequest) (*placementpb.ListUsersResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.read(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	rev := p.state.AppliedIndex()
	us, err := p.state.ListUsers(tenant)
	if err != nil {
		return nil, err
	}
	return &placementpb.ListUsersResponse{Users: us, Revision: rev}, nil
}

// CreateAcl adds a rule; the state machine assigns its id.
func (p *Placement) CreateAcl(ctx context.Context, req *placementpb.CreateAclRequest) (*placementpb.CreateAclResponse, error) {
	r := req.GetRule()
	if r == nil {
		return nil, rpcerr.InvalidArgument("rule", "missing")
	}
	tenant, err := p.limits.tenant(r.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.limits.name("rule.principal", r.GetPrincipal()); err != nil {
		return nil, err
	}
	if err := p.limits.name("rule.resource", r.GetResource()); err != nil {
		return nil, err
	}
	if _, ok := placementpb.AclAction_name[int32(r.GetAction())]; !ok || r.GetAction() == placementpb.AclAction_ACL_ACTION_UNSPECIFIED {
		return nil, rpcerr.InvalidArgument("rule.action", fmt.Sprintf("unknown value %d", r.GetAction()))
	}
	if _, ok := placementpb.AclPermission_name[int32(r.GetPermission())]; !ok || r.GetPermission() == placementpb.AclPermission_ACL_PERMISSION_UNSPECIFIED {
		return nil, rpcerr.InvalidArgument("rule.permission", fmt.Sprintf("unknown value %d", r.GetPermission()))
	}
	rule := proto.Clone(r).(*placementpb.AclRule)
	rule.Tenant, rule.Id = tenant, 0
	out, err := propose[*placementpb.AclRule](ctx, p.raft, &placementpb.Command{Op: &placementpb.Command_CreateAcl{
		CreateAcl: &placementpb.CreateAclCmd{Rule: rule}}})
	if err != nil {
		return nil, err
	}
	return &placementpb.CreateAclResponse{Rule: out}, nil
}

// DeleteAcl removes a rule by id.
func (p *Placement) DeleteAcl(ctx context.Context, req *placementpb.DeleteAclRequest) (*placementpb.DeleteAclResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if _, err := p.raft.Propose(ctx, &placementpb.Command{Op: &placementpb.Command_DeleteAcl{
		DeleteAcl: &placementpb.DeleteAclCmd{Tenant: tenant, Id: req.GetId()}}}); err != nil {
		return nil, err
	}
	return &placementpb.DeleteAclResponse{}, nil
}

// ListAcls lists a tenant's rules.
func (p *Placement) ListAcls(ctx context.Context, req *placementpb.ListAclsRequest) (*placementpb.ListAclsResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.read(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	rev := p.state.AppliedIndex()
	rs, err := p.state.ListAcls(tenant)
	if err != nil {
		return nil, err
	}
	return &placementpb.ListAclsResponse{Rules: rs, Revision: rev}, nil
}

// load computes the open-segment load of every journal node.
func (p *Placement) load() (scheduler.Load, error) {
	shards, err := p.state.ListShards("", "")
	if err != nil {
		return scheduler.Load{}, err
	}
	var open []*placementpb.Segment
	for _, sh := range shards {
		seg, err := p.state.GetSegment(sh.GetTenant(), sh.GetName(), sh.GetActiveSegment())
		if err != nil {
			continue
		}
		open = append(open, seg)
	}
	return scheduler.NewLoad(open), nil
}

// CreateShard places the first segment on the least-loaded live journals
// and creates the shard with it in one Raft entry.
func (p *Placement) CreateShard(ctx context.Context, req *placementpb.CreateShardRequest) (*placementpb.CreateShardResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.limits.name("name", req.GetName()); err != nil {
		return nil, err
	}
	if req.GetReplicaCount() > 16 {
		return nil, rpcerr.InvalidArgument("replica_count", "at most 16")
	}
	if err := p.leaderOnly(); err != nil {
		return nil, err
	}
	nodes, err := p.state.ListNodes(placementpb.NodeKind_NODE_KIND_JOURNAL)
	if err != nil {
		return nil, err
	}
	load, err := p.load()
	if err != nil {
		return nil, err
	}
	pl, err := scheduler.Place(nodes, load, req.GetReplicaCount(), req.GetAckQuorum(), nil)
	if err != nil {
		return nil, err
	}
	for _, w := range pl.Warnings {
		p.log.Warn().Str("tenant", tenant).Str("shard", req.GetName()).Msg(w)
	}
	seg := &placementpb.Segment{Tenant: tenant, Shard: req.GetName(), Seq: 0, Replicas: pl.Replicas, Leader: pl.Leader,
		Epoch: 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, AckQuorum: pl.AckQuorum}
	shard := &placementpb.Shard{Tenant: tenant, Name: req.GetName(), ReplicaCount: uint32(len(pl.Replicas)),
		AckQuorum: pl.AckQuorum, Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, Config: req.GetConfig()}
	// The applied outcome is the shard and segment as stored by this very
	// entry; reading the state again could see a later change instead.
	resp, err := propose[*placementpb.CreateShardResponse](ctx, p.raft, &placementpb.Command{Op: &placementpb.Command_CreateShard{
		CreateShard: &placementpb.CreateShardCmd{Shard: shard, FirstSegment: seg}}})
	if err != nil {
		return nil, err
	}
	resp.Warnings = pl.Warnings
	return resp, nil
}

// DeleteShard deletes a shard and its segments' metadata.
func (p *Placement) DeleteShard(ctx context.Context, req *placementpb.DeleteShardRequest) (*placementpb.DeleteShardResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.limits.name("name", req.GetName()); err != nil {
		return nil, err
	}
	if _, err := p.raft.Propose(ctx, &placementpb.Command{Op: &placementpb.Command_DeleteShard{
		DeleteShard: &placementpb.DeleteShardCmd{Tenant: tenant, Name: req.GetName()}}}); err != nil {
		return nil, err
	}
	return &placementpb.DeleteShardResponse{}, nil
}

// GetShard returns a shard with all its segments.
func (p *Placement) GetShard(ctx context.Context, req *placementpb.GetShardRequest) (*placementpb.GetShardResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.limits.name("name", req.GetName()); err != nil {
		return nil, err
	}
	if err := p.read(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	rev := p.state.AppliedIndex()
	sh, err := p.state.GetShard(tenant, req.GetName())
	if err != nil {
		return nil, err
	}
	segs, err := p.state.ListSegments(tenant, req.GetName())
	if err != nil {
		return nil, err
	}
	return &placementpb.GetShardResponse{Shard: sh, Segments: segs, Revision: rev}, nil
}

// ListShards lists shards of a tenant ("" lists every tenant's).
func (p *Placement) ListShards(ctx context.Context, req *placementpb.ListShardsRequest) (*placementpb.ListShardsResponse, error) {
	if err := p.read(ctx, req.GetConsistency()); err != nil {
		return nil, err
	}
	rev := p.state.AppliedIndex()
	shs, err := p.state.ListShards(req.GetTenant(), req.GetPrefix())
	if err != nil {
		return nil, err
	}
	return &placementpb.ListShardsResponse{Shards: shs, Revision: rev}, nil
}

// SealAndRoll seals segment seq at end_offset and opens the next segment on
// a fresh placement (a new leader and epoch) in one Raft entry, guarded by
// the segment's version.
func (p *Placement) SealAndRoll(ctx context.Context, req *placementpb.SealAndRollRequest) (*placementpb.SealAndRollResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.limits.name("shard", req.GetShard()); err != nil {
		return nil, err
	}
	if err := p.leaderOnly(); err != nil {
		return nil, err
	}
	cur, err := p.state.GetSegment(tenant, req.GetShard(), req.GetSeq())
	if err != nil {
		return nil, err
	}
	sh, err := p.state.GetShard(tenant, req.GetShard())
	if err != nil {
		return nil, err
	}
	nodes, err := p.state.ListNodes(placementpb.NodeKind_NODE_KIND_JOURNAL)
	if err != nil {
		return nil, err
	}
	load, err := p.load()
	if err != nil {
		return nil, err
	}
	exclude := map[uint64]bool{}
	for _, id := range req.GetExcludeNodes() {
		exclude[id] = true
	}
	pl, err := scheduler.Place(nodes, load, sh.GetReplicaCount(), sh.GetAckQuorum(), exclude)
	if err != nil {
		return nil, err
	}
	// The next segment may have fewer replicas than the shard asks for (a
	// node is down) but never fewer than its ack quorum: a write
	// acknowledged on fewer nodes than the quorum the stream was created
	// with would break the promise that an acked record survives the loss
	// of any single node. The caller (recovery, a rolling leader) retries
	// until enough journal nodes are alive; the partition is unavailable
	// for writes meanwhile, never silently less durable.
	if uint32(len(pl.Replicas)) < sh.GetAckQuorum() {
		return nil, status.Errorf(codes.Unavailable,
			"only %d live journal node(s) can take the next segment of %q; its ack quorum is %d",
			len(pl.Replicas), req.GetShard(), sh.GetAckQuorum())
	}
	next := &placementpb.Segment{Tenant: tenant, Shard: req.GetShard(), Seq: req.GetSeq() + 1, Replicas: pl.Replicas,
		Leader: pl.Leader, Epoch: cur.GetEpoch() + 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN,
		StartOffset: req.GetEndOffset(), AckQuorum: pl.AckQuorum}
	return propose[*placementpb.SealAndRollResponse](ctx, p.raft, &placementpb.Command{Op: &placementpb.Command_SealAndRoll{SealAndRoll: &placementpb.SealAndRollCmd{
		Tenant: tenant, Shard: req.GetShard(), Seq: req.GetSeq(), EndOffset: req.GetEndOffset(),
		ExpectedVersion: req.GetExpectedVersion(), NextSegment: next}}})
}

// DeleteSegments removes a shard's sealed segments below up_to_seq
// (retention) in one Raft entry; see DeleteSegmentsCmd.
func (p *Placement) DeleteSegments(ctx context.Context, req *placementpb.DeleteSegmentsRequest) (*placementpb.DeleteSegmentsResponse, error) {
	tenant, err := p.limits.tenant(req.GetTenant())
	if err != nil {
		return nil, err
	}
	if err := p.limits.name("shard", req.GetShard()); err != nil {
		return nil, err
	}
	if req.GetUpToSeq() == 0 {
		return nil, rpcerr.InvalidArgument("up_to_seq", "must be at least 1 (it is exclusive)")
	}
	return propose[*placementpb.DeleteSegmentsResponse](ctx, p.raft, &placementpb.Command{Op: &placementpb.Command_DeleteSegments{
		DeleteSegments: &placementpb.DeleteSegmentsCmd{Tenant: tenant, Shard: req.GetShard(), UpToSeq: req.GetUpToSeq(),
			ExpectedVersion: req.ExpectedVersion}}})
}

// watchBuffer bounds how many responses a watcher may have queued before it
// is told to resync.
const watchBuffer = 1024

// Watch streams changes from the requested revision.
func (p *Placement) Watch(req *placementpb.WatchRequest, stream placementpb.PlacementService_WatchServer) error {
	for _, k := range req.GetKinds() {
		if _, ok := placementpb.ResourceKind_name[int32(k)]; !ok {
			return rpcerr.InvalidArgument("kinds", fmt.Sprintf("unknown value %d", k))
		}
	}
	w, err := p.hub.SubscribeFiltered(req.GetStartRevision(), watch.Filter{Kinds: req.GetKinds(), KVPrefixes: req.GetKvPrefixes()}, watchBuffer)
	if err != nil {
		return err
	}
	defer w.Close()
	// An empty first response tells the watcher the stream is established
	// and at which revision the member is.
	if err := stream.Send(&placementpb.WatchResponse{Revision: p.state.AppliedIndex()}); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case resp, ok := <-w.C():
			if !ok {
				return nil
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
			if resp.GetResync() {
				return nil
			}
		}
	}
}
