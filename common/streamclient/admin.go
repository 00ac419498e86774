package streamclient

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Shard config keys of a stream partition (docs/journal-protocol.md).
const (
	ConfigStream          = "stream"
	ConfigPartition       = "partition"
	ConfigPartitions      = "partitions"
	ConfigSegmentMaxBytes = "segment.max_bytes"
	ConfigSegmentMaxAge   = "segment.max_age"
	ConfigRetentionTime   = "retention.time"
	ConfigRetentionBytes  = "retention.bytes"
)

// MaxPartitions bounds a stream's partition count.
const MaxPartitions = 4096

// StreamConfig is what CreateStream needs. Zero optional fields leave the
// journal's defaults in force.
type StreamConfig struct {
	Partitions int
	// Replicas and AckQuorum: 0 = the placement center's defaults
	// (3 and 2, clamped to the live journal nodes).
	Replicas  uint32
	AckQuorum uint32
	// Per-stream overrides stored in every partition's shard config.
	SegmentMaxBytes uint64
	SegmentMaxAge   time.Duration
	RetentionTime   time.Duration
	RetentionBytes  uint64
}

// PartitionName is the shard name of a stream partition.
func PartitionName(stream string, partition int) string {
	return stream + "/" + strconv.Itoa(partition)
}

// ValidateStreamName checks a stream name: non-empty, at most 200 bytes,
// no '/', no control characters or blanks.
func ValidateStreamName(name string) error {
	switch {
	case name == "":
		return rpcerr.InvalidArgument("stream", "empty name")
	case len(name) > 200:
		return rpcerr.InvalidArgument("stream", "name longer than 200 bytes")
	case strings.ContainsRune(name, '/'):
		return rpcerr.InvalidArgument("stream", "name contains '/'")
	case strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return rpcerr.InvalidArgument("stream", "name contains a blank or control character")
	}
	return nil
}

func (cfg StreamConfig) shardConfig(name string, partition int) map[string]string {
	m := map[string]string{
		ConfigStream:     name,
		ConfigPartition:  strconv.Itoa(partition),
		ConfigPartitions: strconv.Itoa(cfg.Partitions),
	}
	if cfg.SegmentMaxBytes > 0 {
		m[ConfigSegmentMaxBytes] = strconv.FormatUint(cfg.SegmentMaxBytes, 10)
	}
	if cfg.SegmentMaxAge > 0 {
		m[ConfigSegmentMaxAge] = cfg.SegmentMaxAge.String()
	}
	if cfg.RetentionTime > 0 {
		m[ConfigRetentionTime] = cfg.RetentionTime.String()
	}
	if cfg.RetentionBytes > 0 {
		m[ConfigRetentionBytes] = strconv.FormatUint(cfg.RetentionBytes, 10)
	}
	return m
}

// Partition is one partition of a stream as the placement center knows it.
type Partition struct {
	Index    int
	Shard    *placementpb.Shard
	Segments []*placementpb.Segment // ordered by seq
}

// Stream is a stream's partitions. Partitions holds those found; a stream
// with missing partitions (a create interrupted half way) has fewer than
// PartitionCount.
type Stream struct {
	Tenant         string
	Name           string
	PartitionCount int
	Replicas       uint32
	AckQuorum      uint32
	Config         map[string]string // per-stream settings (no stream/partition keys)
	Partitions     []Partition
}

// streamShards lists the shards of one stream (by config, not only by
// name prefix), ordered by partition.
func (c *Client) streamShards(ctx context.Context, name string) ([]*placementpb.Shard, error) {
	mctx, cancel := c.mdCtx(ctx)
	defer cancel()
	resp, err := c.placement.ListShards(mctx, &placementpb.ListShardsRequest{Tenant: c.tenant, Prefix: name + "/"})
	if err != nil {
		return nil, err
	}
	var out []*placementpb.Shard
	for _, sh := range resp.GetShards() {
		if sh.GetConfig()[ConfigStream] == name {
			out = append(out, sh)
		}
	}
	sort.Slice(out, func(i, j int) bool { return partitionOf(out[i]) < partitionOf(out[j]) })
	return out, nil
}

func partitionOf(sh *placementpb.Shard) int {
	p, err := strconv.Atoi(sh.GetConfig()[ConfigPartition])
	if err != nil {
		return -1
	}
	return p
}

func partitionsOf(sh *placementpb.Shard) int {
	p, err := strconv.Atoi(sh.GetConfig()[ConfigPartitions])
	if err != nil {
		return 0
	}
	return p
}

func streamNotFound(tenant, name string) error {
	return fmt.Errorf("%w: %w", ErrStreamNotFound, rpcerr.NotFound("stream", tenant+"/"+name))
}

// CreateStream creates the stream's partitions. It resumes a create that
// stopped half way (partitions that exist with the same partition count
// are kept) and answers AlreadyExists when every partition exists. The
// warnings are the placement center's (e.g. replicas clamped).
func (c *Client) CreateStream(ctx context.Context, name string, cfg StreamConfig) (*Stream, []string, error) {
	if err := ValidateStreamName(name); err != nil {
		return nil, nil, err
	}
	if cfg.Partitions < 1 || cfg.Partitions > MaxPartitions {
		return nil, nil, rpcerr.InvalidArgument("partitions", fmt.Sprintf("%d is not in [1, %d]", cfg.Partitions, MaxPartitions))
	}
	if cfg.AckQuorum > 0 && cfg.Replicas > 0 && cfg.AckQuorum > cfg.Replicas {
		return nil, nil, rpcerr.InvalidArgument("ack_quorum", fmt.Sprintf("%d is above the replica count %d", cfg.AckQuorum, cfg.Replicas))
	}
	existing, err := c.streamShards(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	have := map[int]bool{}
	for _, sh := range existing {
		if partitionsOf(sh) != cfg.Partitions {
			return nil, nil, rpcerr.AlreadyExists("stream", fmt.Sprintf("%s/%s (with %d partitions)", c.tenant, name, partitionsOf(sh)))
		}
		have[partitionOf(sh)] = true
	}
	if len(have) == cfg.Partitions {
		return nil, nil, rpcerr.AlreadyExists("stream", c.tenant+"/"+name)
	}
	var warnings []string
	for i := 0; i < cfg.Partitions; i++ {
		if have[i] {
			continue
		}
		mctx, cancel := c.mdCtx(ctx)
		resp, err := c.placement.CreateShard(mctx, &placementpb.CreateShardRequest{
			Tenant: c.tenant, Name: PartitionName(name, i),
			ReplicaCount: cfg.Replicas, AckQuorum: cfg.AckQuorum, Config: cfg.shardConfig(name, i),
		})
		cancel()
		// AlreadyExists here is a retried create whose first attempt
		// was applied; keep going.
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return nil, warnings, fmt.Errorf("create partition %d: %w", i, err)
		}
		for _, w := range resp.GetWarnings() {
			warnings = append(warnings, fmt.Sprintf("partition %d: %s", i, w))
		}
	}
	st, err := c.DescribeStream(ctx, name)
	return st, warnings, err
}

// DescribeStream returns the stream's partitions and their segments.
func (c *Client) DescribeStream(ctx context.Context, name string) (*Stream, error) {
	if err := ValidateStreamName(name); err != nil {
		return nil, err
	}
	shards, err := c.streamShards(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(shards) == 0 {
		return nil, streamNotFound(c.tenant, name)
	}
	st := summarize(c.tenant, name, shards)
	for _, sh := range shards {
		mctx, cancel := c.mdCtx(ctx)
		resp, err := c.placement.GetShard(mctx, &placementpb.GetShardRequest{Tenant: c.tenant, Name: sh.GetName()})
		cancel()
		if status.Code(err) == codes.NotFound {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		st.Partitions = append(st.Partitions, Partition{Index: partitionOf(resp.GetShard()), Shard: resp.GetShard(), Segments: resp.GetSegments()})
	}
	return st, nil
}

// summarize builds a Stream without segments from its shards.
func summarize(tenant, name string, shards []*placementpb.Shard) *Stream {
	st := &Stream{Tenant: tenant, Name: name, Config: map[string]string{}}
	for _, sh := range shards {
		st.PartitionCount = max(st.PartitionCount, partitionsOf(sh))
		st.Replicas = max(st.Replicas, sh.GetReplicaCount())
		st.AckQuorum = max(st.AckQuorum, sh.GetAckQuorum())
		for k, v := range sh.GetConfig() {
			if k != ConfigStream && k != ConfigPartition && k != ConfigPartitions {
				st.Config[k] = v
			}
		}
	}
	return st
}

// StreamSummary is one line of ListStreams.
type StreamSummary struct {
	Tenant         string
	Name           string
	PartitionCount int
	// PartitionsFound counts the partition shards that exist.
	PartitionsFound int
	Replicas        uint32
	AckQuorum       uint32
}

// ListStreams lists the tenant's streams (shards without stream config
// are not streams and are left out), ordered by name.
func (c *Client) ListStreams(ctx context.Context) ([]StreamSummary, error) {
	mctx, cancel := c.mdCtx(ctx)
	defer cancel()
	resp, err := c.placement.ListShards(mctx, &placementpb.ListShardsRequest{Tenant: c.tenant})
	if err != nil {
		return nil, err
	}
	byName := map[string][]*placementpb.Shard{}
	for _, sh := range resp.GetShards() {
		if n := sh.GetConfig()[ConfigStream]; n != "" && sh.GetName() == PartitionName(n, partitionOf(sh)) {
			byName[n] = append(byName[n], sh)
		}
	}
	out := make([]StreamSummary, 0, len(byName))
	for n, shards := range byName {
		st := summarize(c.tenant, n, shards)
		out = append(out, StreamSummary{Tenant: c.tenant, Name: n, PartitionCount: st.PartitionCount, PartitionsFound: len(shards),
			Replicas: st.Replicas, AckQuorum: st.AckQuorum})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteStream deletes every partition shard of the stream (the journal
// nodes then delete their replicas). It returns the number deleted.
func (c *Client) DeleteStream(ctx context.Context, name string) (int, error) {
	if err := ValidateStreamName(name); err != nil {
		return 0, err
	}
	shards, err := c.streamShards(ctx, name)
	if err != nil {
		return 0, err
	}
	if len(shards) == 0 {
		return 0, streamNotFound(c.tenant, name)
	}
	n := 0
	for _, sh := range shards {
		mctx, cancel := c.mdCtx(ctx)
		_, err := c.placement.DeleteShard(mctx, &placementpb.DeleteShardRequest{Tenant: c.tenant, Name: sh.GetName()})
		cancel()
		if err != nil && status.Code(err) != codes.NotFound {
			return n, fmt.Errorf("delete partition %d: %w", partitionOf(sh), err)
		}
		n++
	}
	return n, nil
}

// partitionCount returns the stream's partition count (from its shards'
// config), for producers and readers.
func (c *Client) partitionCount(ctx context.Context, name string) (int, error) {
	if err := ValidateStreamName(name); err != nil {
		return 0, err
	}
	shards, err := c.streamShards(ctx, name)
	if err != nil {
		return 0, err
	}
	if len(shards) == 0 {
		return 0, streamNotFound(c.tenant, name)
	}
	return summarize(c.tenant, name, shards).PartitionCount, nil
}

// Partitions returns the stream's partition count.
func (c *Client) Partitions(ctx context.Context, name string) (int, error) {
	return c.partitionCount(ctx, name)
}

// SegmentState is a replica's view of one segment (JournalService.Describe).
type SegmentState struct {
	Node uint64
	*journalpb.DescribeResponse
}

// DescribeSegment asks the segment's leader, then its other replicas, for
// their state of the segment; the first answer wins.
func (c *Client) DescribeSegment(ctx context.Context, seg *placementpb.Segment) (SegmentState, error) {
	var lastErr error
	for _, node := range replicaOrder(seg, 0) {
		j, _, err := c.journal(ctx, node, false)
		if err == nil {
			// One replica may be down: leave time for the others.
			mctx, cancel := context.WithTimeout(ctx, min(c.mdTimeout, 2*time.Second))
			var resp *journalpb.DescribeResponse
			resp, err = j.Describe(mctx, &journalpb.DescribeRequest{Segment: segRef(seg)})
			cancel()
			if err == nil {
				return SegmentState{Node: node, DescribeResponse: resp}, nil
			}
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = status.Error(codes.Unavailable, "segment has no replicas")
	}
	return SegmentState{}, lastErr
}

func segRef(seg *placementpb.Segment) *journalpb.SegmentRef {
	return &journalpb.SegmentRef{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}
}

// replicaOrder is the order to try a segment's replicas: the leader first,
// then the others starting at rotate (so retries spread over them).
func replicaOrder(seg *placementpb.Segment, rotate int) []uint64 {
	var others []uint64
	for _, r := range seg.GetReplicas() {
		if r != seg.GetLeader() {
			others = append(others, r)
		}
	}
	out := make([]uint64, 0, len(others)+1)
	leaderIn := false
	for _, r := range seg.GetReplicas() {
		leaderIn = leaderIn || r == seg.GetLeader()
	}
	if leaderIn && seg.GetLeader() != 0 {
		out = append(out, seg.GetLeader())
	}
	for i := range others {
		out = append(out, others[(i+rotate)%len(others)])
	}
	return out
}

// EndOffset is the offset the next record of a partition will get: the
// committed end (LAC) of its active segment. Every record acknowledged
// before the call has a smaller offset.
func (c *Client) EndOffset(ctx context.Context, stream string, partition int) (uint64, error) {
	sh, segs, err := c.shard(ctx, PartitionName(stream, partition), false)
	if err != nil {
		return 0, err
	}
	seg := activeSegment(sh, segs)
	if seg == nil {
		return sh.GetFirstOffset(), nil
	}
	if seg.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
		return seg.GetEndOffset(), nil
	}
	st, err := c.DescribeSegment(ctx, seg)
	if err != nil {
		return 0, err
	}
	if st.GetSealed() {
		return st.GetSealedEnd(), nil
	}
	return max(st.GetLac(), seg.GetStartOffset()), nil
}
