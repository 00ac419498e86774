package scheduler

import (
	"fmt"
	"slices"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Defaults applied when a request leaves replica count or ack quorum at 0.
const (
	DefaultReplicas  = 3
	DefaultAckQuorum = 2
)

// Load counts, per journal node, the open segments it holds and leads.
type Load struct {
	Replicas map[uint64]int
	Leads    map[uint64]int
}

// NewLoad computes the load of every node from the open segments.
func NewLoad(segments []*placementpb.Segment) Load {
	l := Load{Replicas: map[uint64]int{}, Leads: map[uint64]int{}}
	for _, s := range segments {
		if s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
			continue
		}
		for _, r := range s.GetReplicas() {
			l.Replicas[r]++
		}
		l.Leads[s.GetLeader()]++
	}
	return l
}

// Placement is where a new segment goes.
type Placement struct {
	Replicas  []uint64
	Leader    uint64
	AckQuorum uint32
	// Warnings says what was adjusted (replicas clamped to the live nodes).
	Warnings []string
}

// Place chooses replicas among the live journal nodes not in exclude (ALIVE
// ones only: a DRAINING node gets no new segment, a DEAD one cannot): the
// least loaded first (ties broken by node id so the choice is reproducible),
// and as leader the chosen replica that leads the fewest open segments.
// replicas and ackQuorum 0 mean the defaults; both are clamped to the nodes
// available, with a warning, so a one-node development cluster works.
func Place(nodes []*placementpb.ClusterNode, load Load, replicas, ackQuorum uint32, exclude map[uint64]bool) (Placement, error) {
	var live []uint64
	for _, n := range nodes {
		if n.GetKind() == placementpb.NodeKind_NODE_KIND_JOURNAL &&
			n.GetStatus() == placementpb.NodeStatus_NODE_STATUS_ALIVE && !exclude[n.GetNodeId()] {
			live = append(live, n.GetNodeId())
		}
	}
	if len(live) == 0 {
		return Placement{}, status.Error(codes.FailedPrecondition, "no live journal node to place a segment on")
	}
	if replicas == 0 {
		replicas = DefaultReplicas
	}
	var p Placement
	if int(replicas) > len(live) {
		p.Warnings = append(p.Warnings, fmt.Sprintf("replicas clamped from %d to %d: only %d live journal nodes", replicas, len(live), len(live)))
		replicas = uint32(len(live))
	}
	if ackQuorum == 0 {
		ackQuorum = DefaultAckQuorum
		if replicas < 3 {
			ackQuorum = replicas/2 + 1
		}
	}
	if ackQuorum > replicas {
		p.Warnings = append(p.Warnings, fmt.Sprintf("ack quorum clamped from %d to %d", ackQuorum, replicas))
		ackQuorum = replicas
	}
	sort.Slice(live, func(i, j int) bool {
		a, b := live[i], live[j]
		if load.Replicas[a] != load.Replicas[b] {
			return load.Replicas[a] < load.Replicas[b]
		}
		return a < b
	})
	p.Replicas = append([]uint64(nil), live[:replicas]...)
	p.Leader = p.Replicas[0]
	for _, r := range p.Replicas[1:] {
		if load.Leads[r] < load.Leads[p.Leader] {
			p.Leader = r
		}
	}
	p.AckQuorum = ackQuorum
	return p, nil
}

// Replace chooses the node that takes over a replica of a sealed segment
// whose holder died (re-replication): among live (the ALIVE journal node
// ids; the caller leaves DRAINING ones out) those not in holders, the one holding the fewest segment replicas
// in stored (every segment, sealed included: it is a disk-space measure),
// ties broken by the lowest id. ok is false when no live node is spare.
// It is deterministic, so the state machine may call it while applying.
func Replace(live []uint64, stored map[uint64]int, holders []uint64) (node uint64, ok bool) {
	for _, id := range live {
		if slices.Contains(holders, id) {
			continue
		}
		if !ok || stored[id] < stored[node] || (stored[id] == stored[node] && id < node) {
			node, ok = id, true
		}
	}
	return node, ok
}
