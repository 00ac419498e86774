package server

import (
	"context"
	"net"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/placement-center/internal/raftnode"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Membership is the part of the Raft node the cluster API needs.
type Membership interface {
	Status() raftnode.Status
	AddMember(ctx context.Context, addr string) (*placementpb.Member, []*placementpb.Member, error)
	RemoveMember(ctx context.Context, id uint64) ([]*placementpb.Member, error)
}

// Cluster implements placementpb.ClusterServiceServer.
type Cluster struct {
	placementpb.UnimplementedClusterServiceServer
	node   Membership
	limits Limits
}

// NewCluster wires the cluster API to the Raft node.
func NewCluster(node Membership) *Cluster {
	return &Cluster{node: node, limits: DefaultLimits}
}

// Status reports this member's view of the Raft group.
func (c *Cluster) Status(context.Context, *placementpb.StatusRequest) (*placementpb.StatusResponse, error) {
	s := c.node.Status()
	return &placementpb.StatusResponse{
		MemberId:      s.ID,
		LeaderId:      s.LeaderID,
		LeaderAddr:    s.LeaderAddr,
		Term:          s.Term,
		CommitIndex:   s.CommitIndex,
		AppliedIndex:  s.AppliedIndex,
		Members:       s.Members,
		RaftState:     s.RaftState,
		SnapshotIndex: s.SnapshotIndex,
		FirstLogIndex: s.FirstIndex,
	}, nil
}

// AddMember adds a voter at addr; the cluster assigns its id.
func (c *Cluster) AddMember(ctx context.Context, req *placementpb.AddMemberRequest) (*placementpb.AddMemberResponse, error) {
	if err := c.limits.name("addr", req.GetAddr()); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(req.GetAddr()); err != nil {
		return nil, rpcerr.InvalidArgument("addr", err.Error())
	}
	m, ms, err := c.node.AddMember(ctx, req.GetAddr())
	if err != nil {
		return nil, err
	}
	return &placementpb.AddMemberResponse{Member: m, Members: ms}, nil
}

// RemoveMember removes the voter with the given id.
func (c *Cluster) RemoveMember(ctx context.Context, req *placementpb.RemoveMemberRequest) (*placementpb.RemoveMemberResponse, error) {
	if req.GetId() == 0 {
		return nil, rpcerr.InvalidArgument("id", "must be positive")
	}
	ms, err := c.node.RemoveMember(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &placementpb.RemoveMemberResponse{Members: ms}, nil
}
