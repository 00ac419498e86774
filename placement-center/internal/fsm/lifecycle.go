package fsm

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/placement-center/internal/scheduler"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// The sealed-segment lifecycle: retention (DeleteSegments) and
// re-replication of sealed segments whose replica died.

// segmentNotSealed is the typed rejection of a DeleteSegments that would
// remove a segment that is not SEALED.
func segmentNotSealed(seg *placementpb.Segment) error {
	st := status.New(codes.FailedPrecondition, fmt.Sprintf("segment %q is %v, not SEALED: only sealed segments are deleted",
		segmentName(seg.GetTenant(), seg.GetShard(), seg.GetSeq()), seg.GetStatus()))
	withDetail, err := st.WithDetails(&placementpb.SegmentNotSealed{
		Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq(), Status: seg.GetStatus()})
	if err != nil {
		return st.Err()
	}
	return withDetail.Err()
}

// nodeStatusMismatch is the typed rejection of a SetNodeStatus whose node
// is in none of the statuses the command may start from.
func nodeStatusMismatch(node *placementpb.ClusterNode, allowed []placementpb.NodeStatus) error {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = a.String()
	}
	st := status.New(codes.FailedPrecondition, fmt.Sprintf("node %d is %v, not %s", node.GetNodeId(), node.GetStatus(),
		strings.Join(names, " or ")))
	withDetail, err := st.WithDetails(&placementpb.NodeStatusMismatch{
		NodeId: node.GetNodeId(), Status: node.GetStatus(), Allowed: allowed})
	if err != nil {
		return st.Err()
	}
	return withDetail.Err()
}

// deleteSegments removes the SEALED segments of a shard below up_to_seq and
// records the first remaining segment on the shard. Deleting what is
// already gone is a no-op that succeeds (nothing is written).
func (c *applyCtx) deleteSegments(cmd *placementpb.DeleteSegmentsCmd) (proto.Message, error) {
	shard := &placementpb.Shard{}
	found, err := getProto(c.r, shardKey(cmd.GetTenant(), cmd.GetShard()), shard)
	if err != nil {
		return nil, err
	}
	if !found || validateTenantName("tenant", cmd.GetTenant()) != nil {
		return nil, rpcerr.NotFound("shard", cmd.GetTenant()+"/"+cmd.GetShard())
	}
	if ev := cmd.ExpectedVersion; ev != nil && *ev != shard.GetVersion() {
		return nil, rpcerr.VersionMismatch("shard", cmd.GetTenant()+"/"+cmd.GetShard(), *ev, shard.GetVersion())
	}
	segs, err := segmentsOf(c.r, cmd.GetTenant(), cmd.GetShard())
	if err != nil {
		return nil, err
	}
	var doomed []*placementpb.Segment
	var first *placementpb.Segment
	for _, seg := range segs {
		if seg.GetSeq() >= cmd.GetUpToSeq() {
			first = seg
			break
		}
		if seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED || seg.GetSeq() >= shard.GetActiveSegment() {
			return nil, segmentNotSealed(seg)
		}
		doomed = append(doomed, seg)
	}
	if first == nil {
		// Every segment would go, the open one included: refuse with the
		// last one (the active segment is never below up_to_seq otherwise).
		if len(segs) == 0 {
			return nil, status.Errorf(codes.Internal, "shard %q has no segments", cmd.GetTenant()+"/"+cmd.GetShard())
		}
		return nil, segmentNotSealed(segs[len(segs)-1])
	}
	resp := &placementpb.DeleteSegmentsResponse{}
	if len(doomed) > 0 {
		for _, seg := range doomed {
			c.eff.del(c.index, segmentKey(seg.GetTenant(), seg.GetShard(), seg.GetSeq()), seg)
		}
		shard.FirstSegment = first.GetSeq()
		shard.FirstOffset = first.GetStartOffset()
		shard.Version = c.index
		if err := c.eff.put(c.index, shardKey(shard.GetTenant(), shard.GetName()), shard); err != nil {
			return nil, err
		}
		resp.Deleted = doomed
	}
	resp.Shard = proto.Clone(shard).(*placementpb.Shard)
	return resp, nil
}

// journalView is the journal nodes as the entry being applied sees them.
type journalView struct {
	live     []uint64 // ALIVE journal nodes, by id
	draining []uint64 // DRAINING journal nodes, by id
	dead     map[uint64]bool
}

// recoverers are the journal nodes that may drive a segment's recovery:
// the ALIVE and the DRAINING ones. A draining node takes no new replicas
// (it is not in live, which the scheduler places on), but it still runs
// and holds its data, so a recovery it can drive must not wait for
// another node.
func (v journalView) recoverers() map[uint64]bool {
	m := make(map[uint64]bool, len(v.live)+len(v.draining))
	for _, id := range v.live {
		m[id] = true
	}
	for _, id := range v.draining {
		m[id] = true
	}
	return m
}

// journals reads the journal nodes; override, when not nil, is a node this
// very entry changed (its staged version is not readable yet).
func (c *applyCtx) journals(override *placementpb.ClusterNode) (journalView, error) {
	v := journalView{dead: map[uint64]bool{}}
	add := func(n *placementpb.ClusterNode) {
		if n.GetKind() != placementpb.NodeKind_NODE_KIND_JOURNAL {
			return
		}
		switch n.GetStatus() {
		case placementpb.NodeStatus_NODE_STATUS_ALIVE:
			v.live = append(v.live, n.GetNodeId())
		case placementpb.NodeStatus_NODE_STATUS_DRAINING:
			v.draining = append(v.draining, n.GetNodeId())
		case placementpb.NodeStatus_NODE_STATUS_DEAD:
			v.dead[n.GetNodeId()] = true
		}
	}
	err := scan(c.r, []byte(prefixNode), func(_, value []byte) (bool, error) {
		n := &placementpb.ClusterNode{}
		if err := proto.Unmarshal(value, n); err != nil {
			return false, &storageError{fmt.Errorf("decode node: %w", err)}
		}
		if override != nil && n.GetNodeId() == override.GetNodeId() {
			return true, nil
		}
		add(n)
		return true, nil
	})
	if override != nil {
		add(override)
		slices.Sort(v.live)
		slices.Sort(v.draining)
	}
	return v, err
}

// rereplicate gives every SEALED segment that lists a DEAD journal node a
// live replacement for it, so its replica count is restored; the new
// replica copies the sealed data from the survivors (journal reconcile).
// Segments this entry already staged must not be SEALED in the state it
// reads (they would be staged twice); callers only run it next to changes
// of OPEN segments. A segment with no spare live node keeps its dead
// replica until a journal node registers.
func (c *applyCtx) rereplicate(v journalView) error {
	if len(v.dead) == 0 {
		return nil
	}
	all, err := list(c.r, []byte(prefixSegment), newSegment, nil, 0)
	if err != nil {
		return err
	}
	stored := replicaCounts(all)
	for _, seg := range all {
		if seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
			continue
		}
		if !replaceDead(seg, v, stored) {
			continue
		}
		seg.Version = c.index
		if err := c.eff.put(c.index, segmentKey(seg.GetTenant(), seg.GetShard(), seg.GetSeq()), seg); err != nil {
			return err
		}
	}
	return nil
}

// replicaCounts counts the segment replicas every node holds.
func replicaCounts(segs []*placementpb.Segment) map[uint64]int {
	stored := map[uint64]int{}
	for _, s := range segs {
		for _, r := range s.GetReplicas() {
			stored[r]++
		}
	}
	return stored
}

// replaceDead replaces, in place, each dead replica of seg with the spare
// live node the scheduler chooses, keeping the replica's position; stored
// is updated with the moves. When the leader was replaced, the first
// surviving live replica becomes the leader (readers try it first). It
// reports whether seg changed.
func replaceDead(seg *placementpb.Segment, v journalView, stored map[uint64]int) bool {
	changed := false
	replicas := seg.GetReplicas()
	var added []uint64
	for i, r := range replicas {
		if !v.dead[r] {
			continue
		}
		next, ok := scheduler.Replace(v.live, stored, replicas)
		if !ok {
			break
		}
		replicas[i] = next
		stored[r]--
		stored[next]++
		added = append(added, next)
		changed = true
	}
	if !changed {
		return false
	}
	if !slices.Contains(replicas, seg.GetLeader()) {
		for _, r := range replicas {
			if !v.dead[r] && !slices.Contains(added, r) {
				seg.Leader = r
				break
			}
		}
	}
	return true
}

// rereplicateOne is rereplicate for a segment the caller is about to stage
// (SealAndRoll's sealed segment): it changes seg in place when it lists a
// dead journal node and a spare exists.
func (c *applyCtx) rereplicateOne(seg *placementpb.Segment) error {
	v, err := c.journals(nil)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(seg.GetReplicas(), func(r uint64) bool { return v.dead[r] }) {
		return nil
	}
	all, err := list(c.r, []byte(prefixSegment), newSegment, nil, 0)
	if err != nil {
		return err
	}
	replaceDead(seg, v, replicaCounts(all))
	return nil
}
