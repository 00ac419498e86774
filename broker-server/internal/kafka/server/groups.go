package server

import (
	"context"
	"sync"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/auth"
	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/group"
	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/wire"
)

func (s *Server) joinGroup(ctx context.Context, req *wire.JoinGroupRequest, v int16, c *conn) wire.Message {
	if !s.allowedGroup(ctx, auth.Subscribe, req.Group) {
		return &wire.JoinGroupResponse{ErrorCode: wire.ErrGroupAuthorizationFailed, Generation: -1, MemberID: req.MemberID, Members: []wire.JoinGroupMember{}}
	}
	if !s.isCoordinator(req.Group) {
		return &wire.JoinGroupResponse{ErrorCode: wire.ErrNotCoordinator, Generation: -1, MemberID: req.MemberID}
	}
	host := ""
	if c.info.Remote != nil {
		host = c.info.Remote.String()
	}
	r := s.groups.Join(ctx, req, group.JoinInfo{Version: v, ClientID: c.clientID, ClientHost: host})
	if r.Members == nil {
		r.Members = []wire.JoinGroupMember{}
	}
	return &r
}

func (s *Server) syncGroup(ctx context.Context, req *wire.SyncGroupRequest) wire.Message {
	if !s.allowedGroup(ctx, auth.Subscribe, req.Group) {
		return &wire.SyncGroupResponse{ErrorCode: wire.ErrGroupAuthorizationFailed, MemberAssignment: []byte{}}
	}
	if !s.isCoordinator(req.Group) {
		return &wire.SyncGroupResponse{ErrorCode: wire.ErrNotCoordinator, MemberAssignment: []byte{}}
	}
	r := s.groups.Sync(ctx, req)
	if r.MemberAssignment == nil {
		r.MemberAssignment = []byte{}
	}
	return &r
}

func (s *Server) heartbeat(req *wire.HeartbeatRequest) wire.Message {
	if !s.isCoordinator(req.Group) {
		return &wire.HeartbeatResponse{ErrorCode: wire.ErrNotCoordinator}
	}
	return &wire.HeartbeatResponse{ErrorCode: s.groups.Heartbeat(req)}
}

func (s *Server) leaveGroup(req *wire.LeaveGroupRequest, v int16) wire.Message {
	if !s.isCoordinator(req.Group) {
		return &wire.LeaveGroupResponse{ErrorCode: wire.ErrNotCoordinator}
	}
	if v <= 2 {
		code, _ := s.groups.Leave(req.Group, []string{req.MemberID})
		return &wire.LeaveGroupResponse{ErrorCode: code}
	}
	ids := make([]string, len(req.Members))
	for i, m := range req.Members {
		ids[i] = m.MemberID
	}
	_, codes := s.groups.Leave(req.Group, ids)
	resp := &wire.LeaveGroupResponse{}
	for i, m := range req.Members {
		resp.Members = append(resp.Members, wire.LeaveGroupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ErrorCode: codes[i]})
	}
	return resp
}

func (s *Server) offsetCommit(ctx context.Context, req *wire.OffsetCommitRequest) wire.Message {
	resp := &wire.OffsetCommitResponse{}
	code := wire.ErrNone
	switch {
	case req.Group == "":
		code = wire.ErrInvalidGroupID
	case !s.allowedGroup(ctx, auth.Subscribe, req.Group):
		code = wire.ErrGroupAuthorizationFailed
	case !s.isCoordinator(req.Group):
		code = wire.ErrNotCoordinator
	default:
		code = s.groups.CommitCheck(req.Group, req.MemberID, req.Generation)
	}
	now := time.Now().UnixMilli()
	var wg sync.WaitGroup
	for _, t := range req.Topics {
		rt := wire.OffsetCommitResponseTopic{Topic: t.Topic, Partitions: make([]wire.OffsetCommitResponsePartition, len(t.Partitions))}
		for i, p := range t.Partitions {
			rt.Partitions[i] = wire.OffsetCommitResponsePartition{Partition: p.Partition, ErrorCode: code}
			if code != wire.ErrNone {
				continue
			}
			if !s.allowed(ctx, auth.Subscribe, t.Topic) {
				rt.Partitions[i].ErrorCode = wire.ErrTopicAuthorizationFailed
				continue
			}
			if p.Metadata != nil && len(*p.Metadata) > 4096 {
				rt.Partitions[i].ErrorCode = wire.ErrOffsetMetadataTooLarge
				continue
			}
			o := group.Offset{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, CommitMs: now}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			out := &rt.Partitions[i].ErrorCode
			tpn := group.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := s.groups.Offsets().Commit(cctx, req.Group, tpn, o); err != nil {
					s.log.Warn().Err(err).Str("group", req.Group).Msg("offset commit failed")
					*out = wire.ErrCoordinatorNotAvailable
				}
			}()
		}
		resp.Topics = append(resp.Topics, rt)
	}
	wg.Wait()
	return resp
}

func (s *Server) offsetFetch(ctx context.Context, req *wire.OffsetFetchRequest, v int16) wire.Message {
	resp := &wire.OffsetFetchResponse{}
	code := wire.ErrNone
	switch {
	case !s.allowedGroup(ctx, auth.Subscribe, req.Group):
		code = wire.ErrGroupAuthorizationFailed
	case !s.isCoordinator(req.Group):
		code = wire.ErrNotCoordinator
	}
	var got map[group.TopicPartition]group.Offset
	if code == wire.ErrNone {
		var tps []group.TopicPartition
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		got, err = s.groups.Offsets().Fetch(fctx, req.Group, tps)
		cancel()
		if err != nil {
			s.log.Warn().Err(err).Str("group", req.Group).Msg("offset fetch failed")
			code = wire.ErrCoordinatorNotAvailable
		}
	}
	if code != wire.ErrNone && v >= 2 {
		resp.ErrorCode = code
		return resp
	}
	part := func(tpn group.TopicPartition) wire.OffsetFetchResponsePartition {
		rp := wire.OffsetFetchResponsePartition{Partition: tpn.Partition, Offset: -1, LeaderEpoch: -1, ErrorCode: code}
		empty := ""
		rp.Metadata = &empty
		if !s.allowed(ctx, auth.Subscribe, tpn.Topic) {
			rp.ErrorCode = wire.ErrTopicAuthorizationFailed
			return rp
		}
		if o, ok := got[tpn]; ok {
			rp.Offset, rp.LeaderEpoch = o.Offset, o.LeaderEpoch
			md := o.Metadata
			rp.Metadata = &md
		}
		return rp
	}
	if req.Topics == nil {
		byTopic := map[string]*wire.OffsetFetchResponseTopic{}
		var order []string
		for tpn := range got {
			rt := byTopic[tpn.Topic]
			if rt == nil {
				rt = &wire.OffsetFetchResponseTopic{Topic: tpn.Topic}
				byTopic[tpn.Topic] = rt
				order = append(order, tpn.Topic)
			}
			rt.Partitions = append(rt.Partitions, part(tpn))
		}
		for _, t := range order {
			resp.Topics = append(resp.Topics, *byTopic[t])
		}
		return resp
	}
	for _, t := range req.Topics {
		rt := wire.OffsetFetchResponseTopic{Topic: t.Topic}
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, part(group.TopicPartition{Topic: t.Topic, Partition: p}))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Server) describeGroups(ctx context.Context, req *wire.DescribeGroupsRequest) wire.Message {
	resp := &wire.DescribeGroupsResponse{}
	for _, g := range req.Groups {
		if !s.groupVisible(ctx, g) {
			resp.Groups = append(resp.Groups, wire.DescribeGroupsGroup{Group: g, ErrorCode: wire.ErrGroupAuthorizationFailed, AuthorizedOperations: -2147483648, Members: []wire.DescribeGroupsMember{}})
			continue
		}
		if !s.isCoordinator(g) {
			resp.Groups = append(resp.Groups, wire.DescribeGroupsGroup{Group: g, ErrorCode: wire.ErrNotCoordinator, AuthorizedOperations: -2147483648})
			continue
		}
		d := s.groups.Describe(g)
		if d.Members == nil {
			d.Members = []wire.DescribeGroupsMember{}
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

func (s *Server) listGroups(ctx context.Context, req *wire.ListGroupsRequest) wire.Message {
	resp := &wire.ListGroupsResponse{Groups: []wire.ListGroupsGroup{}}
	seen := map[string]bool{}
	want := map[string]bool{}
	for _, st := range req.StatesFilter {
		want[st] = true
	}
	add := func(g, pt, state string) {
		// A listing shows only the groups the user may see, as Kafka's.
		if seen[g] || (len(want) > 0 && !want[state]) || !s.groupVisible(ctx, g) {
			return
		}
		seen[g] = true
		resp.Groups = append(resp.Groups, wire.ListGroupsGroup{Group: g, ProtocolType: pt, GroupState: state})
	}
	for _, g := range s.groups.List() {
		if s.isCoordinator(g.Group) {
			add(g.Group, g.ProtocolType, g.State)
		}
	}
	// Groups known only by their committed offsets are Empty.
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	names, err := s.groups.Offsets().Groups(lctx)
	if err != nil {
		resp.ErrorCode = wire.ErrCoordinatorNotAvailable
		return resp
	}
	for _, g := range names {
		if s.isCoordinator(g) {
			add(g, "consumer", group.StateEmpty)
		}
	}
	return resp
}

func (s *Server) deleteGroups(ctx context.Context, req *wire.DeleteGroupsRequest) wire.Message {
	resp := &wire.DeleteGroupsResponse{}
	for _, g := range req.Groups {
		r := wire.DeleteGroupsResult{Group: g}
		switch {
		case !s.allowedGroup(ctx, auth.Admin, g):
			r.ErrorCode = wire.ErrGroupAuthorizationFailed
		case !s.isCoordinator(g):
			r.ErrorCode = wire.ErrNotCoordinator
		default:
			r.ErrorCode = s.groups.Delete(ctx, g)
		}
		resp.Groups = append(resp.Groups, r)
	}
	return resp
}
