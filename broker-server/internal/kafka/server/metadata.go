package server

import (
	"context"
	"errors"
	"hash/fnv"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/broker-server/internal/auth"
	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/wire"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// broker is a live broker with a Kafka listener.
type broker struct {
	id   int32
	host string
	port int32
}

func splitAddr(addr string) (string, int32, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return "", 0, false
	}
	return host, int32(p), true
}

// brokers returns the live brokers serving Kafka, sorted by id; this
// broker is always among them.
func (s *Server) brokers() []broker {
	var out []broker
	selfID, registered := s.deps.Self()
	seenSelf := false
	if s.deps.Cache != nil {
		for _, n := range s.deps.Cache.Nodes(placementpb.NodeKind_NODE_KIND_BROKER) {
			if st := n.GetStatus(); st != placementpb.NodeStatus_NODE_STATUS_ALIVE && st != placementpb.NodeStatus_NODE_STATUS_UNSPECIFIED {
				continue
			}
			host, port, ok := splitAddr(n.GetExtraAddrs()[ListenerName])
			if !ok {
				continue
			}
			if registered && n.GetNodeId() == selfID {
				seenSelf = true
			}
			out = append(out, broker{id: int32(n.GetNodeId()), host: host, port: port})
		}
	}
	if !seenSelf {
		if host, port, ok := splitAddr(s.deps.Advertised()); ok {
			out = append(out, broker{id: int32(selfID), host: host, port: port})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// internalTopicMsg explains INVALID_TOPIC_EXCEPTION on an internal topic.
const internalTopicMsg = "internal topic: written and managed by the broker itself"

// internal reports whether topic is one of Config.InternalTopics.
func (s *Server) internal(topic string) bool {
	return slices.Contains(s.cfg.InternalTopics, topic)
}

func (s *Server) selfID() int32 {
	id, _ := s.deps.Self()
	return int32(id)
}

// leaderOf spreads partition leadership over the live brokers.
func leaderOf(bs []broker, partition int) int32 {
	if len(bs) == 0 {
		return -1
	}
	return bs[partition%len(bs)].id
}

// coordinatorOf picks a group's coordinator by a hash of its id.
func coordinatorOf(bs []broker, groupID string) (broker, bool) {
	if len(bs) == 0 {
		return broker{}, false
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(groupID))
	return bs[h.Sum32()%uint32(len(bs))], true
}

// partitions returns a topic's partition count, from the metadata cache
// when it has the stream, else from the placement center; 0 with a nil
// error means no such topic.
func (s *Server) partitions(ctx context.Context, topic string) (int, error) {
	if streamclient.ValidateStreamName(topic) != nil {
		return 0, nil
	}
	if s.deps.Cache != nil {
		if sh, _, ok := s.deps.Cache.Shard(s.deps.Streams.Tenant(), streamclient.PartitionName(topic, 0)); ok {
			if n, err := strconv.Atoi(sh.GetConfig()[streamclient.ConfigPartitions]); err == nil && n > 0 && sh.GetConfig()[streamclient.ConfigStream] == topic {
				return n, nil
			}
		}
	}
	n, err := s.deps.Streams.Partitions(ctx, topic)
	if errors.Is(err, streamclient.ErrStreamNotFound) {
		return 0, nil
	}
	return n, err
}

// validTopic follows Kafka's rule: 1-249 characters of [a-zA-Z0-9._-],
// not "." or "..".
func validTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// createTopic creates a stream; it reports TOPIC_ALREADY_EXISTS, or the
// partition count that exists after a concurrent create.
func (s *Server) createTopic(ctx context.Context, topic string, partitions int, replicas uint32) (int16, string) {
	if !validTopic(topic) {
		return wire.ErrInvalidTopicException, "topic names are 1-249 characters of [a-zA-Z0-9._-]"
	}
	if partitions < 1 || partitions > streamclient.MaxPartitions {
		return wire.ErrInvalidPartitions, "partitions must be in [1, " + strconv.Itoa(streamclient.MaxPartitions) + "]"
	}
	_, _, err := s.deps.Streams.CreateStream(ctx, topic, streamclient.StreamConfig{Partitions: partitions, Replicas: replicas})
	switch status.Code(err) {
	case codes.OK:
		return wire.ErrNone, ""
	case codes.AlreadyExists:
		return wire.ErrTopicAlreadyExists, "topic exists"
	case codes.InvalidArgument:
		return wire.ErrInvalidRequest, err.Error()
	}
	s.log.Warn().Err(err).Str("topic", topic).Msg("create topic failed")
	return wire.ErrRequestTimedOut, err.Error()
}

func (s *Server) metadata(ctx context.Context, req *wire.MetadataRequest, v int16) wire.Message {
	bs := s.brokers()
	resp := &wire.MetadataResponse{ControllerID: -1, AuthorizedOperations: -2147483648}
	cid := s.cfg.ClusterID
	resp.ClusterID = &cid
	for _, b := range bs {
		resp.Brokers = append(resp.Brokers, wire.MetadataBroker{NodeID: b.id, Host: b.host, Port: b.port})
	}
	if len(bs) > 0 {
		resp.ControllerID = bs[0].id
	}
	var names []string
	all := req.Topics == nil || (v == 0 && len(req.Topics) == 0)
	if all {
		list, err := s.deps.Streams.ListStreams(ctx)
		if err != nil {
			s.log.Warn().Err(err).Msg("list streams for metadata")
		}
		for _, st := range list {
			// Listing shows only what the user may see, as Kafka does.
			if s.describable(ctx, st.Name) {
				names = append(names, st.Name)
			}
		}
	} else {
		for _, t := range req.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
	}
	for _, name := range names {
		n := name
		mt := wire.MetadataTopic{Topic: &n, IsInternal: s.internal(name), AuthorizedOperations: -2147483648, Partitions: []wire.MetadataPartition{}}
		if !s.describable(ctx, name) {
			mt.ErrorCode = wire.ErrTopicAuthorizationFailed
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		count, err := s.partitions(ctx, name)
		switch {
		case err != nil:
			mt.ErrorCode = wire.ErrLeaderNotAvailable
		case count == 0 && !validTopic(name):
			mt.ErrorCode = wire.ErrInvalidTopicException
		case count == 0 && !all && req.AllowAutoTopicCreation && s.cfg.AutoCreateTopics && s.allowed(ctx, auth.Admin, name):
			code, _ := s.createTopic(ctx, name, s.cfg.DefaultPartitions, s.cfg.DefaultReplicas)
			if code == wire.ErrNone || code == wire.ErrTopicAlreadyExists {
				count, err = s.partitions(ctx, name)
			}
			if count == 0 || err != nil {
				// Created but not visible yet, or failed: clients retry.
				mt.ErrorCode = wire.ErrLeaderNotAvailable
			}
		case count == 0:
			mt.ErrorCode = wire.ErrUnknownTopicOrPartition
		}
		for p := 0; p < count; p++ {
			l := leaderOf(bs, p)
			mt.Partitions = append(mt.Partitions, wire.MetadataPartition{Partition: int32(p), Leader: l, LeaderEpoch: 0,
				Replicas: []int32{l}, ISR: []int32{l}, OfflineReplicas: []int32{}})
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func (s *Server) findCoordinator(req *wire.FindCoordinatorRequest) wire.Message {
	if req.CoordinatorType != 0 {
		msg := "transactions are not supported"
		return &wire.FindCoordinatorResponse{ErrorCode: wire.ErrCoordinatorNotAvailable, ErrorMessage: &msg, NodeID: -1}
	}
	b, ok := coordinatorOf(s.brokers(), req.CoordinatorKey)
	if !ok {
		return &wire.FindCoordinatorResponse{ErrorCode: wire.ErrCoordinatorNotAvailable, NodeID: -1}
	}
	return &wire.FindCoordinatorResponse{NodeID: b.id, Host: b.host, Port: b.port}
}

// isCoordinator says whether this broker coordinates the group now.
func (s *Server) isCoordinator(groupID string) bool {
	b, ok := coordinatorOf(s.brokers(), groupID)
	return ok && b.id == s.selfID()
}

func (s *Server) createTopics(ctx context.Context, req *wire.CreateTopicsRequest) wire.Message {
	resp := &wire.CreateTopicsResponse{}
	for _, t := range req.Topics {
		r := wire.CreateTopicsResponseTopic{Topic: t.Topic, NumPartitions: -1, ReplicationFactor: -1}
		parts := int(t.NumPartitions)
		if parts == -1 {
			parts = s.cfg.DefaultPartitions
		}
		if len(t.ReplicaAssignment) > 0 {
			parts = len(t.ReplicaAssignment)
		}
		var replicas uint32
		if t.ReplicationFactor > 0 {
			replicas = uint32(t.ReplicationFactor)
		} else {
			replicas = s.cfg.DefaultReplicas
		}
		var code int16
		var msg string
		switch {
		case !s.allowed(ctx, auth.Admin, t.Topic):
			code, msg = wire.ErrTopicAuthorizationFailed, "not authorized to create the topic"
		case !validTopic(t.Topic):
			code, msg = wire.ErrInvalidTopicException, "invalid topic name"
		case parts < 1 || parts > streamclient.MaxPartitions:
			code, msg = wire.ErrInvalidPartitions, "invalid partition count"
		case t.ReplicationFactor == 0 || t.ReplicationFactor < -1:
			code, msg = wire.ErrInvalidReplicationFactor, "invalid replication factor"
		case req.ValidateOnly:
			if n, err := s.partitions(ctx, t.Topic); err == nil && n > 0 {
				code, msg = wire.ErrTopicAlreadyExists, "topic exists"
			}
		default:
			code, msg = s.createTopic(ctx, t.Topic, parts, replicas)
		}
		r.ErrorCode = code
		if msg != "" {
			r.ErrorMessage = &msg
		}
		if code == wire.ErrNone {
			r.NumPartitions = int32(parts)
			r.ReplicationFactor = int16(max(replicas, 1))
		}
		resp.Topics = append(resp.Topics, r)
	}
	return resp
}

func (s *Server) deleteTopics(ctx context.Context, req *wire.DeleteTopicsRequest) wire.Message {
	resp := &wire.DeleteTopicsResponse{}
	for _, t := range req.TopicNames {
		r := wire.DeleteTopicsResult{Topic: t}
		if !s.allowed(ctx, auth.Admin, t) {
			r.ErrorCode = wire.ErrTopicAuthorizationFailed
		} else if streamclient.ValidateStreamName(t) != nil {
			r.ErrorCode = wire.ErrUnknownTopicOrPartition
		} else if s.internal(t) {
			r.ErrorCode = wire.ErrInvalidTopicException
			msg := internalTopicMsg
			r.ErrorMessage = &msg
		} else if _, err := s.deps.Streams.DeleteStream(ctx, t); err != nil {
			if errors.Is(err, streamclient.ErrStreamNotFound) {
				r.ErrorCode = wire.ErrUnknownTopicOrPartition
			} else {
				r.ErrorCode = wire.ErrRequestTimedOut
				msg := err.Error()
				r.ErrorMessage = &msg
			}
		} else {
			s.dropProducer(t)
		}
		resp.Topics = append(resp.Topics, r)
	}
	return resp
}

func (s *Server) createPartitions(ctx context.Context, req *wire.CreatePartitionsRequest) wire.Message {
	resp := &wire.CreatePartitionsResponse{}
	for _, t := range req.Topics {
		r := wire.CreatePartitionsResult{Topic: t.Topic}
		n, err := s.partitions(ctx, t.Topic)
		var msg string
		switch {
		case !s.allowed(ctx, auth.Admin, t.Topic):
			r.ErrorCode, msg = wire.ErrTopicAuthorizationFailed, "not authorized to alter the topic"
		case s.internal(t.Topic):
			r.ErrorCode, msg = wire.ErrInvalidTopicException, internalTopicMsg
		case err != nil:
			r.ErrorCode, msg = wire.ErrRequestTimedOut, err.Error()
		case n == 0:
			r.ErrorCode, msg = wire.ErrUnknownTopicOrPartition, "unknown topic"
		case int(t.Count) == n:
			r.ErrorCode, msg = wire.ErrInvalidPartitions, "topic already has "+strconv.Itoa(n)+" partitions"
		default:
			r.ErrorCode, msg = wire.ErrInvalidPartitions, "a stream's partition count is fixed at creation"
		}
		r.ErrorMessage = &msg
		resp.Topics = append(resp.Topics, r)
	}
	return resp
}

// Config resource types and sources (DescribeConfigs).
const (
	resourceTopic  = 2
	resourceBroker = 4
	sourceDefault  = 5
	sourceTopic    = 1
)

func (s *Server) describeConfigs(ctx context.Context, req *wire.DescribeConfigsRequest) wire.Message {
	resp := &wire.DescribeConfigsResponse{}
	for _, res := range req.Resources {
		r := wire.DescribeConfigsResponseResource{ResourceType: res.ResourceType, ResourceName: res.ResourceName}
		var entries [][2]string
		switch res.ResourceType {
		case resourceTopic:
			st, err := s.deps.Streams.DescribeStream(ctx, res.ResourceName)
			if err != nil {
				r.ErrorCode = wire.ErrUnknownTopicOrPartition
				if !errors.Is(err, streamclient.ErrStreamNotFound) {
					r.ErrorCode = wire.ErrRequestTimedOut
				}
				break
			}
			entries = [][2]string{{"cleanup.policy", "delete"}, {"max.message.bytes", strconv.Itoa(s.cfg.MaxMessageBytes)},
				{"message.timestamp.type", "CreateTime"}, {"min.insync.replicas", strconv.Itoa(int(max(st.AckQuorum, 1)))},
				{"replication.factor", strconv.Itoa(int(max(st.Replicas, 1)))}}
			if v := st.Config[streamclient.ConfigRetentionTime]; v != "" {
				entries = append(entries, [2]string{"retention.ms", v})
			}
			if v := st.Config[streamclient.ConfigRetentionBytes]; v != "" {
				entries = append(entries, [2]string{"retention.bytes", v})
			}
			if v := st.Config[streamclient.ConfigSegmentMaxBytes]; v != "" {
				entries = append(entries, [2]string{"segment.bytes", v})
			}
		case resourceBroker:
			entries = [][2]string{{"auto.create.topics.enable", strconv.FormatBool(s.cfg.AutoCreateTopics)},
				{"num.partitions", strconv.Itoa(s.cfg.DefaultPartitions)},
				{"message.max.bytes", strconv.Itoa(s.cfg.MaxMessageBytes)},
				{"socket.request.max.bytes", strconv.Itoa(s.cfg.MaxRequestBytes)}}
		default:
			r.ErrorCode = wire.ErrInvalidRequest
			msg := "only topic and broker resources are described"
			r.ErrorMessage = &msg
		}
		want := map[string]bool{}
		for _, n := range res.ConfigNames {
			want[n] = true
		}
		for _, e := range entries {
			if res.ConfigNames != nil && !want[e[0]] {
				continue
			}
			val := e[1]
			src := int8(sourceDefault)
			if res.ResourceType == resourceTopic && strings.Contains(e[0], "retention") {
				src = sourceTopic
			}
			r.Configs = append(r.Configs, wire.DescribeConfigsConfig{Name: e[0], Value: &val, ReadOnly: true,
				IsDefault: src == sourceDefault, Source: src, ConfigSynonyms: []wire.DescribeConfigsSynonym{}})
		}
		if r.Configs == nil {
			r.Configs = []wire.DescribeConfigsConfig{}
		}
		resp.Resources = append(resp.Resources, r)
	}
	return resp
}
