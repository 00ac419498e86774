package fsm

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// applyCtx applies one command. r reads the state as of the previous entry
// (the database plus the earlier entries of the same batch); handlers stage
// their changes in eff and return either the command's result or a typed
// rejection (or a *storageError, which stops Apply).
type applyCtx struct {
	r     pebble.Reader
	index uint64
	atMs  int64
	eff   effects
}

func (c *applyCtx) execute(cmd *placementpb.Command) (proto.Message, error) {
	switch op := cmd.GetOp().(type) {
	case *placementpb.Command_RegisterNode:
		return c.registerNode(op.RegisterNode)
	case *placementpb.Command_SetNodeStatus:
		return c.setNodeStatus(op.SetNodeStatus)
	case *placementpb.Command_UnregisterNode:
		return c.unregisterNode(op.UnregisterNode)
	case *placementpb.Command_PutKv:
		return c.putKV(op.PutKv)
	case *placementpb.Command_DeleteKv:
		return c.deleteKV(op.DeleteKv)
	case *placementpb.Command_CreateTenant:
		return c.createTenant(op.CreateTenant)
	case *placementpb.Command_DeleteTenant:
		return c.deleteTenant(op.DeleteTenant)
	case *placementpb.Command_CreateUser:
		return c.createUser(op.CreateUser)
	case *placementpb.Command_DeleteUser:
		return c.deleteUser(op.DeleteUser)
	case *placementpb.Command_CreateAcl:
		return c.createACL(op.CreateAcl)
	case *placementpb.Command_DeleteAcl:
		return c.deleteACL(op.DeleteAcl)
	case *placementpb.Command_CreateShard:
		return c.createShard(op.CreateShard)
	case *placementpb.Command_DeleteShard:
		return c.deleteShard(op.DeleteShard)
	case *placementpb.Command_SealAndRoll:
		return c.sealAndRoll(op.SealAndRoll)
	case *placementpb.Command_DeleteSegments:
		return c.deleteSegments(op.DeleteSegments)
	default:
		return nil, rpcerr.InvalidArgument("command", fmt.Sprintf("unknown operation %T", op))
	}
}

// ---- names ------------------------------------------------------------------

func validateTenantName(field, name string) error {
	switch {
	case name == "":
		return rpcerr.InvalidArgument(field, "must not be empty")
	case strings.Contains(name, "/"):
		return rpcerr.InvalidArgument(field, "must not contain '/'")
	case len(name) > maxTenantNameLen:
		return rpcerr.InvalidArgument(field, fmt.Sprintf("longer than %d bytes", maxTenantNameLen))
	}
	return nil
}

func validateName(field, name string) error {
	if name == "" {
		return rpcerr.InvalidArgument(field, "must not be empty")
	}
	return nil
}

func (c *applyCtx) requireTenant(name string) error {
	found, err := getProto(c.r, tenantKey(name), &placementpb.Tenant{})
	if err != nil {
		return err
	}
	if !found {
		return rpcerr.NotFound("tenant", name)
	}
	return nil
}

// ---- nodes ------------------------------------------------------------------

func (c *applyCtx) registerNode(cmd *placementpb.RegisterNodeCmd) (proto.Message, error) {
	req := cmd.GetNode()
	if req == nil {
		return nil, rpcerr.InvalidArgument("node", "missing")
	}
	switch req.GetKind() {
	case placementpb.NodeKind_NODE_KIND_BROKER, placementpb.NodeKind_NODE_KIND_JOURNAL:
	default:
		return nil, rpcerr.InvalidArgument("node.kind", "must be BROKER or JOURNAL")
	}
	if req.GetGrpcAddr() == "" {
		return nil, rpcerr.InvalidArgument("node.grpc_addr", "must not be empty")
	}
	maxID, _, err := getUint64(c.r, []byte(keyMaxNodeID))
	if err != nil {
		return nil, err
	}
	id := req.GetNodeId()
	if id == 0 {
		if maxID == math.MaxUint64 {
			return nil, rpcerr.ResourceExhausted("node ids", math.MaxUint64, math.MaxUint64)
		}
		// Assigned ids live above the ones operators configure, so a
		// broker that registers first never takes the id a journal node's
		// config names.
		id = max(maxID, FirstAssignedNodeID-1) + 1
	}
	node := &placementpb.ClusterNode{
		NodeId:         id,
		Kind:           req.GetKind(),
		GrpcAddr:       req.GetGrpcAddr(),
		ExtraAddrs:     req.GetExtraAddrs(),
		Incarnation:    1,
		Status:         placementpb.NodeStatus_NODE_STATUS_ALIVE,
		RegisteredAtMs: c.atMs,
		Version:        c.index,
	}
	old := &placementpb.ClusterNode{}
	found, err := getProto(c.r, nodeKey(id), old)
	if err != nil {
		return nil, err
	}
	if found {
		if old.GetKind() != req.GetKind() {
			return nil, rpcerr.InvalidArgument("node.kind",
				fmt.Sprintf("node %d is registered as %v, not %v", id, old.GetKind(), req.GetKind()))
		}
		node.Incarnation = old.GetIncarnation() + 1
		// A drain is the operator's decision about the node, not about
		// one process: a restart while draining stays draining.
		if old.GetStatus() == placementpb.NodeStatus_NODE_STATUS_DRAINING {
			node.Status = placementpb.NodeStatus_NODE_STATUS_DRAINING
		}
	}
	if id > maxID {
		c.eff.setCounter([]byte(keyMaxNodeID), id)
	}
	if err := c.eff.put(c.index, nodeKey(id), node); err != nil {
		return nil, err
	}
	if node.GetKind() == placementpb.NodeKind_NODE_KIND_JOURNAL {
		v, err := c.journals(node)
		if err != nil {
			return nil, err
		}
		// INVARIANT (a registration ends the node's leaderships): every
		// OPEN segment led by a journal node that registers goes
		// RECOVERING at epoch+1 in this same entry, exactly as on its
		// death (recovery node: the first live replica, which may be the
		// registering node itself). A registration of a node that has a
		// record is a new process (restart) or a node declared dead; its
		// previous process may have acknowledged writers with batches its
		// followers hold durably but it had not synced itself (leaders
		// replicate before their own fsync), so it must never append at
		// its old epoch again: its unsynced tail may be lost and those
		// offsets would be reused. Recovery takes the highest log end of
		// a quorum (followers' data included) and seals there; reconcile
		// completes the restarted replica. The journal leader relies on
		// this: it takes only segments whose version is above its own
		// registration's (docs/journal-protocol.md "Leader restart").
		// A first registration leads nothing, so this changes nothing
		// for it (an id reused after UnregisterNode included: safe too).
		if err := c.startRecoveries(node.GetNodeId(), v.recoverers()); err != nil {
			return nil, err
		}
		// A journal node (back) alive may be the spare that sealed
		// segments still listing a dead replica were waiting for.
		if err := c.rereplicate(v); err != nil {
			return nil, err
		}
		if err := c.reassignRecoveries(v); err != nil {
			return nil, err
		}
	}
	return proto.Clone(node), nil
}

func (c *applyCtx) getNode(id uint64) (*placementpb.ClusterNode, error) {
	node := &placementpb.ClusterNode{}
	found, err := getProto(c.r, nodeKey(id), node)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, rpcerr.NotFound("node", strconv.FormatUint(id, 10))
	}
	return node, nil
}

func (c *applyCtx) setNodeStatus(cmd *placementpb.SetNodeStatusCmd) (proto.Message, error) {
	switch cmd.GetStatus() {
	case placementpb.NodeStatus_NODE_STATUS_ALIVE, placementpb.NodeStatus_NODE_STATUS_DEAD,
		placementpb.NodeStatus_NODE_STATUS_DRAINING:
	default:
		return nil, rpcerr.InvalidArgument("status", "must be ALIVE, DEAD or DRAINING")
	}
	node, err := c.getNode(cmd.GetNodeId())
	if err != nil {
		return nil, err
	}
	if cmd.GetIncarnation() != 0 && cmd.GetIncarnation() != node.GetIncarnation() {
		return nil, rpcerr.VersionMismatch("node", strconv.FormatUint(node.GetNodeId(), 10),
			cmd.GetIncarnation(), node.GetIncarnation())
	}
	if from := cmd.GetFrom(); len(from) > 0 && !slices.Contains(from, node.GetStatus()) {
		return nil, nodeStatusMismatch(node, from)
	}
	if node.GetStatus() != cmd.GetStatus() {
		node.Status = cmd.GetStatus()
		node.Version = c.index
		if err := c.eff.put(c.index, nodeKey(node.GetNodeId()), node); err != nil {
			return nil, err
		}
	}
	// Run even when the node was already DEAD: it is idempotent and catches
	// an open segment that somehow still names a dead leader.
	if node.GetStatus() == placementpb.NodeStatus_NODE_STATUS_DEAD &&
		node.GetKind() == placementpb.NodeKind_NODE_KIND_JOURNAL {
		v, err := c.journals(node)
		if err != nil {
			return nil, err
		}
		if err := c.startRecoveries(node.GetNodeId(), v.recoverers()); err != nil {
			return nil, err
		}
	}
	// A dead journal's sealed segments get a live replacement replica in
	// this same entry (startRecoveries only touched OPEN ones); a journal
	// alive again may be the spare earlier deaths were waiting for.
	if node.GetKind() == placementpb.NodeKind_NODE_KIND_JOURNAL &&
		(node.GetStatus() == placementpb.NodeStatus_NODE_STATUS_DEAD || node.GetStatus() == placementpb.NodeStatus_NODE_STATUS_ALIVE) {
		v, err := c.journals(node)
		if err != nil {
			return nil, err
		}
		if err := c.rereplicate(v); err != nil {
			return nil, err
		}
		if err := c.reassignRecoveries(v); err != nil {
			return nil, err
		}
	}
	return proto.Clone(node), nil
}

// reassignRecoveries keeps every RECOVERING segment driven by a live node:
// one whose recovery node is 0 (no replica was alive when its leader died,
// e.g. every journal node went down) or is no longer ALIVE or DRAINING
// (journalView.recoverers) gets the first replica that is, so a recovery never waits forever for a node that will
// not run it. It reads the state before this entry, so segments this entry
// moved to RECOVERING (startRecoveries, which chose among the live nodes
// already) are not touched twice. The version is bumped so the recovery
// driver of the new node starts a fresh attempt.
func (c *applyCtx) reassignRecoveries(v journalView) error {
	live := v.recoverers()
	var changed []*placementpb.Segment
	err := scan(c.r, []byte(prefixSegment), func(key, value []byte) (bool, error) {
		seg := &placementpb.Segment{}
		if err := proto.Unmarshal(value, seg); err != nil {
			return false, &storageError{fmt.Errorf("decode %q: %w", key, err)}
		}
		if seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING || live[seg.GetRecoveryNode()] {
			return true, nil
		}
		for _, r := range seg.GetReplicas() {
			if live[r] {
				seg.RecoveryNode = r
				changed = append(changed, seg)
				break
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, seg := range changed {
		seg.Version = c.index
		if err := c.eff.put(c.index, segmentKey(seg.GetTenant(), seg.GetShard(), seg.GetSeq()), seg); err != nil {
			return err
		}
	}
	return nil
}

// startRecoveries moves every OPEN segment led by journal node leader
// (dead, or registering again: see registerNode) to RECOVERING at the next
// epoch, naming as recovery node the first replica in live (the ALIVE and
// DRAINING journal nodes as this entry leaves them: journalView.recoverers).
func (c *applyCtx) startRecoveries(leader uint64, live map[uint64]bool) error {
	// Collect first, then stage: staging while iterating would be fine
	// (nothing is written yet) but keeps the scan and the decision apart.
	var recovering []*placementpb.Segment
	err := scan(c.r, []byte(prefixSegment), func(key, value []byte) (bool, error) {
		seg := &placementpb.Segment{}
		if err := proto.Unmarshal(value, seg); err != nil {
			return false, &storageError{fmt.Errorf("decode %q: %w", key, err)}
		}
		if seg.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_OPEN && seg.GetLeader() == leader {
			recovering = append(recovering, seg)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, seg := range recovering {
		seg.Status = placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING
		seg.Epoch++
		seg.RecoveryNode = 0
		for _, r := range seg.GetReplicas() {
			if live[r] {
				seg.RecoveryNode = r
				break
			}
		}
		seg.Version = c.index
		if err := c.eff.put(c.index, segmentKey(seg.GetTenant(), seg.GetShard(), seg.GetSeq()), seg); err != nil {
			return err
		}
	}
	return nil
}

func (c *applyCtx) unregisterNode(cmd *placementpb.UnregisterNodeCmd) (proto.Message, error) {
	node, err := c.getNode(cmd.GetNodeId())
	if err != nil {
		return nil, err
	}
	c.eff.del(c.index, nodeKey(node.GetNodeId()), node)
	return proto.Clone(node), nil
}

// ---- KV ---------------------------------------------------------------------

// checkKVVersion applies the compare-and-set rule: expected absent =
// unconditional, 0 = must not exist, otherwise must equal the version.
func checkKVVersion(key string, expected *uint64, current *placementpb.KeyValue) error {
	if expected == nil {
		return nil
	}
	if *expected != current.GetVersion() {
		return rpcerr.VersionMismatch("kv", key, *expected, current.GetVersion())
	}
	return nil
}

func (c *applyCtx) getKV(key string) (*placementpb.KeyValue, error) {
	kv := &placementpb.KeyValue{}
	found, err := getProto(c.r, kvKey(key), kv)
	if err != nil || !found {
		return nil, err
	}
	return kv, nil
}

func (c *applyCtx) putKV(cmd *placementpb.PutKVCmd) (proto.Message, error) {
	if cmd.GetKey() == "" {
		return nil, rpcerr.InvalidArgument("key", "must not be empty")
	}
	current, err := c.getKV(cmd.GetKey())
	if err != nil {
		return nil, err
	}
	if err := checkKVVersion(cmd.GetKey(), cmd.ExpectedVersion, current); err != nil {
		return nil, err
	}
	kv := &placementpb.KeyValue{Key: cmd.GetKey(), Value: cmd.GetValue(), Version: c.index, CreateVersion: c.index}
	if current != nil {
		kv.CreateVersion = current.GetCreateVersion()
	}
	if err := c.eff.put(c.index, kvKey(kv.GetKey()), kv); err != nil {
		return nil, err
	}
	return proto.Clone(kv), nil
}

func (c *applyCtx) deleteKV(cmd *placementpb.DeleteKVCmd) (proto.Message, error) {
	if cmd.GetKey() == "" {
		return nil, rpcerr.InvalidArgument("key", "must not be empty")
	}
	current, err := c.getKV(cmd.GetKey())
	if err != nil {
		return nil, err
	}
	if err := checkKVVersion(cmd.GetKey(), cmd.ExpectedVersion, current); err != nil {
		return nil, err
	}
	if current == nil {
		return nil, rpcerr.NotFound("kv", cmd.GetKey())
	}
	c.eff.del(c.index, kvKey(cmd.GetKey()), current)
	return proto.Clone(current), nil
}

// ---- tenants, users, ACLs ---------------------------------------------------

func (c *applyCtx) createTenant(cmd *placementpb.CreateTenantCmd) (proto.Message, error) {
	req := cmd.GetTenant()
	if err := validateTenantName("tenant.name", req.GetName()); err != nil {
		return nil, err
	}
	found, err := getProto(c.r, tenantKey(req.GetName()), &placementpb.Tenant{})
	if err != nil {
		return nil, err
	}
	if found {
		return nil, rpcerr.AlreadyExists("tenant", req.GetName())
	}
	t := &placementpb.Tenant{Name: req.GetName(), CreatedAtMs: c.atMs, Config: req.GetConfig(), Version: c.index}
	if err := c.eff.put(c.index, tenantKey(t.GetName()), t); err != nil {
		return nil, err
	}
	return proto.Clone(t), nil
}

func (c *applyCtx) deleteTenant(cmd *placementpb.DeleteTenantCmd) (proto.Message, error) {
	name := cmd.GetName()
	if name == DefaultTenant {
		return nil, rpcerr.InvalidArgument("name", "the default tenant cannot be deleted")
	}
	if err := validateTenantName("name", name); err != nil {
		return nil, err
	}
	t := &placementpb.Tenant{}
	found, err := getProto(c.r, tenantKey(name), t)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, rpcerr.NotFound("tenant", name)
	}
	hasShards := false
	if err := scan(c.r, shardPrefix(name), func(_, _ []byte) (bool, error) {
		hasShards = true
		return false, nil
	}); err != nil {
		return nil, err
	}
	if hasShards {
		return nil, status.Errorf(codes.FailedPrecondition, "tenant %q still has shards", name)
	}
	users, err := list(c.r, userPrefix(name), newUser, nil, 0)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		c.eff.del(c.index, userKey(name, u.GetUsername()), u)
	}
	acls, err := list(c.r, aclPrefix(name), newACL, nil, 0)
	if err != nil {
		return nil, err
	}
	for _, a := range acls {
		c.eff.del(c.index, aclKey(name, a.GetId()), a)
	}
	c.eff.del(c.index, tenantKey(name), t)
	return proto.Clone(t), nil
}

func (c *applyCtx) createUser(cmd *placementpb.CreateUserCmd) (proto.Message, error) {
	req := cmd.GetUser()
	if err := validateTenantName("user.tenant", req.GetTenant()); err != nil {
		return nil, err
	}
	if err := validateName("user.username", req.GetUsername()); err != nil {
		return nil, err
	}
	if err := c.requireTenant(req.GetTenant()); err != nil {
		return nil, err
	}
	found, err := getProto(c.r, userKey(req.GetTenant(), req.GetUsername()), &placementpb.User{})
	if err != nil {
		return nil, err
	}
	if found {
		return nil, rpcerr.AlreadyExists("user", req.GetTenant()+"/"+req.GetUsername())
	}
	u := proto.Clone(req).(*placementpb.User)
	u.CreatedAtMs = c.atMs
	u.Version = c.index
	if err := c.eff.put(c.index, userKey(u.GetTenant(), u.GetUsername()), u); err != nil {
		return nil, err
	}
	return proto.Clone(u), nil
}

func (c *applyCtx) deleteUser(cmd *placementpb.DeleteUserCmd) (proto.Message, error) {
	u := &placementpb.User{}
	found, err := getProto(c.r, userKey(cmd.GetTenant(), cmd.GetUsername()), u)
	if err != nil {
		return nil, err
	}
	if !found || validateTenantName("tenant", cmd.GetTenant()) != nil {
		return nil, rpcerr.NotFound("user", cmd.GetTenant()+"/"+cmd.GetUsername())
	}
	c.eff.del(c.index, userKey(cmd.GetTenant(), cmd.GetUsername()), u)
	return proto.Clone(u), nil
}

func (c *applyCtx) createACL(cmd *placementpb.CreateAclCmd) (proto.Message, error) {
	req := cmd.GetRule()
	if err := validateTenantName("rule.tenant", req.GetTenant()); err != nil {
		return nil, err
	}
	if err := validateName("rule.principal", req.GetPrincipal()); err != nil {
		return nil, err
	}
	if req.GetAction() == placementpb.AclAction_ACL_ACTION_UNSPECIFIED {
		return nil, rpcerr.InvalidArgument("rule.action", "must be set")
	}
	if req.GetPermission() == placementpb.AclPermission_ACL_PERMISSION_UNSPECIFIED {
		return nil, rpcerr.InvalidArgument("rule.permission", "must be set")
	}
	if err := c.requireTenant(req.GetTenant()); err != nil {
		return nil, err
	}
	next, found, err := getUint64(c.r, nextACLIDKey(req.GetTenant()))
	if err != nil {
		return nil, err
	}
	if !found {
		next = 1
	}
	rule := proto.Clone(req).(*placementpb.AclRule)
	rule.Id = next
	rule.Version = c.index
	c.eff.setCounter(nextACLIDKey(rule.GetTenant()), next+1)
	if err := c.eff.put(c.index, aclKey(rule.GetTenant(), rule.GetId()), rule); err != nil {
		return nil, err
	}
	return proto.Clone(rule), nil
}

func (c *applyCtx) deleteACL(cmd *placementpb.DeleteAclCmd) (proto.Message, error) {
	rule := &placementpb.AclRule{}
	found, err := getProto(c.r, aclKey(cmd.GetTenant(), cmd.GetId()), rule)
	if err != nil {
		return nil, err
	}
	if !found || validateTenantName("tenant", cmd.GetTenant()) != nil {
		return nil, rpcerr.NotFound("acl", fmt.Sprintf("%s/%d", cmd.GetTenant(), cmd.GetId()))
	}
	c.eff.del(c.index, aclKey(cmd.GetTenant(), cmd.GetId()), rule)
	return proto.Clone(rule), nil
}

// ---- shards and segments ----------------------------------------------------

// validatePlacement checks the replica set, leader, ack quorum and epoch the
// caller's scheduler chose for a segment.
func validatePlacement(field string, seg *placementpb.Segment) error {
	replicas := seg.GetReplicas()
	if len(replicas) == 0 {
		return rpcerr.InvalidArgument(field+".replicas", "must not be empty")
	}
	for i, r := range replicas {
		if r == 0 {
			return rpcerr.InvalidArgument(field+".replicas", "node id 0 is not a node")
		}
		if slices.Contains(replicas[:i], r) {
			return rpcerr.InvalidArgument(field+".replicas", fmt.Sprintf("node %d listed twice", r))
		}
	}
	if !slices.Contains(replicas, seg.GetLeader()) {
		return rpcerr.InvalidArgument(field+".leader", fmt.Sprintf("leader %d is not a replica", seg.GetLeader()))
	}
	if q := seg.GetAckQuorum(); q < 1 || int(q) > len(replicas) {
		return rpcerr.InvalidArgument(field+".ack_quorum",
			fmt.Sprintf("%d is not between 1 and %d replicas", q, len(replicas)))
	}
	if seg.GetEpoch() < 1 {
		return rpcerr.InvalidArgument(field+".epoch", "must be at least 1")
	}
	return nil
}

func segmentName(tenant, shard string, seq uint32) string {
	return fmt.Sprintf("%s/%s/%d", tenant, shard, seq)
}

func (c *applyCtx) createShard(cmd *placementpb.CreateShardCmd) (proto.Message, error) {
	req, first := cmd.GetShard(), cmd.GetFirstSegment()
	if req == nil {
		return nil, rpcerr.InvalidArgument("shard", "missing")
	}
	if first == nil {
		return nil, rpcerr.InvalidArgument("first_segment", "missing")
	}
	if err := validateTenantName("shard.tenant", req.GetTenant()); err != nil {
		return nil, err
	}
	if err := validateName("shard.name", req.GetName()); err != nil {
		return nil, err
	}
	if err := validatePlacement("first_segment", first); err != nil {
		return nil, err
	}
	if err := c.requireTenant(req.GetTenant()); err != nil {
		return nil, err
	}
	found, err := getProto(c.r, shardKey(req.GetTenant(), req.GetName()), &placementpb.Shard{})
	if err != nil {
		return nil, err
	}
	if found {
		return nil, rpcerr.AlreadyExists("shard", req.GetTenant()+"/"+req.GetName())
	}
	shard := &placementpb.Shard{
		Tenant:        req.GetTenant(),
		Name:          req.GetName(),
		ReplicaCount:  req.GetReplicaCount(),
		AckQuorum:     req.GetAckQuorum(),
		Status:        placementpb.ShardStatus_SHARD_STATUS_ACTIVE,
		ActiveSegment: 0,
		CreatedAtMs:   c.atMs,
		Version:       c.index,
		Config:        req.GetConfig(),
	}
	if shard.ReplicaCount == 0 {
		shard.ReplicaCount = uint32(len(first.GetReplicas()))
	}
	if shard.AckQuorum == 0 {
		shard.AckQuorum = first.GetAckQuorum()
	}
	seg := c.openSegment(shard, 0, 0, first)
	if err := c.eff.put(c.index, shardKey(shard.GetTenant(), shard.GetName()), shard); err != nil {
		return nil, err
	}
	if err := c.eff.put(c.index, segmentKey(seg.GetTenant(), seg.GetShard(), 0), seg); err != nil {
		return nil, err
	}
	return &placementpb.CreateShardResponse{
		Shard:   proto.Clone(shard).(*placementpb.Shard),
		Segment: proto.Clone(seg).(*placementpb.Segment),
	}, nil
}

// openSegment builds an OPEN segment of shard at seq starting at start, on
// the placement of p (already validated).
func (c *applyCtx) openSegment(shard *placementpb.Shard, seq uint32, start uint64, p *placementpb.Segment) *placementpb.Segment {
	return &placementpb.Segment{
		Tenant:      shard.GetTenant(),
		Shard:       shard.GetName(),
		Seq:         seq,
		Replicas:    slices.Clone(p.GetReplicas()),
		Leader:      p.GetLeader(),
		Epoch:       p.GetEpoch(),
		Status:      placementpb.SegmentStatus_SEGMENT_STATUS_OPEN,
		StartOffset: start,
		AckQuorum:   p.GetAckQuorum(),
		Version:     c.index,
		CreatedAtMs: c.atMs,
	}
}

// segmentsOf lists the segments of one shard in seq order. Keys are matched
// by exact length so that shard "a" does not pick up segments of "a/b".
func segmentsOf(r pebble.Reader, tenant, shard string) ([]*placementpb.Segment, error) {
	prefix := segmentPrefix(tenant, shard)
	return list(r, prefix, newSegment, func(key []byte) bool {
		return len(key) == len(prefix)+seqSuffixLength
	}, 0)
}

func (c *applyCtx) deleteShard(cmd *placementpb.DeleteShardCmd) (proto.Message, error) {
	shard := &placementpb.Shard{}
	found, err := getProto(c.r, shardKey(cmd.GetTenant(), cmd.GetName()), shard)
	if err != nil {
		return nil, err
	}
	if !found || validateTenantName("tenant", cmd.GetTenant()) != nil {
		return nil, rpcerr.NotFound("shard", cmd.GetTenant()+"/"+cmd.GetName())
	}
	segs, err := segmentsOf(c.r, cmd.GetTenant(), cmd.GetName())
	if err != nil {
		return nil, err
	}
	for _, seg := range segs {
		c.eff.del(c.index, segmentKey(seg.GetTenant(), seg.GetShard(), seg.GetSeq()), seg)
	}
	c.eff.del(c.index, shardKey(cmd.GetTenant(), cmd.GetName()), shard)
	return proto.Clone(shard), nil
}

func (c *applyCtx) sealAndRoll(cmd *placementpb.SealAndRollCmd) (proto.Message, error) {
	name := segmentName(cmd.GetTenant(), cmd.GetShard(), cmd.GetSeq())
	sealed := &placementpb.Segment{}
	found, err := getProto(c.r, segmentKey(cmd.GetTenant(), cmd.GetShard(), cmd.GetSeq()), sealed)
	if err != nil {
		return nil, err
	}
	if !found || validateTenantName("tenant", cmd.GetTenant()) != nil {
		return nil, rpcerr.NotFound("segment", name)
	}
	switch sealed.GetStatus() {
	case placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING:
	case placementpb.SegmentStatus_SEGMENT_STATUS_SEALED:
		return nil, rpcerr.SegmentSealed(sealed.GetEndOffset())
	default:
		return nil, status.Errorf(codes.FailedPrecondition, "segment %q is %v", name, sealed.GetStatus())
	}
	if sealed.GetVersion() != cmd.GetExpectedVersion() {
		return nil, rpcerr.VersionMismatch("segment", name, cmd.GetExpectedVersion(), sealed.GetVersion())
	}
	if cmd.GetEndOffset() < sealed.GetStartOffset() {
		return nil, rpcerr.InvalidArgument("end_offset",
			fmt.Sprintf("%d is below the segment's start offset %d", cmd.GetEndOffset(), sealed.GetStartOffset()))
	}
	if cmd.GetNextSegment() == nil {
		return nil, rpcerr.InvalidArgument("next_segment", "missing")
	}
	if err := validatePlacement("next_segment", cmd.GetNextSegment()); err != nil {
		return nil, err
	}
	if cmd.GetSeq() == math.MaxUint32 {
		return nil, rpcerr.ResourceExhausted("segments per shard", math.MaxUint32, math.MaxUint32)
	}
	shard := &placementpb.Shard{}
	found, err = getProto(c.r, shardKey(cmd.GetTenant(), cmd.GetShard()), shard)
	if err != nil {
		return nil, err
	}
	if !found {
		// A segment without its shard would be a bug in this package;
		// reject the command (on every member alike) rather than stop.
		return nil, status.Errorf(codes.Internal, "segment %q has no shard", name)
	}
	sealed.Status = placementpb.SegmentStatus_SEGMENT_STATUS_SEALED
	sealed.EndOffset = cmd.GetEndOffset()
	sealed.Version = c.index
	// A segment sealed by recovery (or early because a replica died) still
	// lists the dead node: replace it now that the segment is immutable.
	if err := c.rereplicateOne(sealed); err != nil {
		return nil, err
	}
	next := c.openSegment(shard, cmd.GetSeq()+1, cmd.GetEndOffset(), cmd.GetNextSegment())
	shard.ActiveSegment = next.GetSeq()
	shard.Version = c.index
	for _, w := range []struct {
		key []byte
		m   proto.Message
	}{
		{segmentKey(sealed.GetTenant(), sealed.GetShard(), sealed.GetSeq()), sealed},
		{segmentKey(next.GetTenant(), next.GetShard(), next.GetSeq()), next},
		{shardKey(shard.GetTenant(), shard.GetName()), shard},
	} {
		if err := c.eff.put(c.index, w.key, w.m); err != nil {
			return nil, err
		}
	}
	return &placementpb.SealAndRollResponse{
		Sealed: proto.Clone(sealed).(*placementpb.Segment),
		Next:   proto.Clone(next).(*placementpb.Segment),
	}, nil
}

func newNode() *placementpb.ClusterNode { return &placementpb.ClusterNode{} }
func newShard() *placementpb.Shard      { return &placementpb.Shard{} }
func newSegment() *placementpb.Segment  { return &placementpb.Segment{} }
func newTenant() *placementpb.Tenant    { return &placementpb.Tenant{} }
func newUser() *placementpb.User        { return &placementpb.User{} }
func newACL() *placementpb.AclRule      { return &placementpb.AclRule{} }
func newKV() *placementpb.KeyValue      { return &placementpb.KeyValue{} }
