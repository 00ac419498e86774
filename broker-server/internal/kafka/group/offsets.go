package group

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Offset is one committed offset.
type Offset struct {
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
	CommitMs    int64  `json:"commit_ms"`
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// OffsetStore keeps committed offsets in the cluster.
type OffsetStore interface {
	Commit(ctx context.Context, group string, tp TopicPartition, o Offset) error
	// Fetch returns the group's committed offsets; with tps empty, all of
	// them.
	Fetch(ctx context.Context, group string, tps []TopicPartition) (map[TopicPartition]Offset, error)
	// Groups lists the groups with committed offsets.
	Groups(ctx context.Context) ([]string, error)
	// Delete removes every committed offset of the group.
	Delete(ctx context.Context, group string) error
}

// KVOffsets stores offsets in the placement center's KV under
// kafka/<tenant>/offsets/<group>/<topic>/<partition> (the group id
// path-escaped), one key per partition, the value JSON.
type KVOffsets struct {
	Placement placementpb.PlacementServiceClient
	Tenant    string
}

func (k KVOffsets) prefix() string { return "kafka/" + url.PathEscape(k.Tenant) + "/offsets/" }

func (k KVOffsets) groupPrefix(group string) string {
	return k.prefix() + url.PathEscape(group) + "/"
}

func (k KVOffsets) key(group string, tp TopicPartition) string {
	return k.groupPrefix(group) + url.PathEscape(tp.Topic) + "/" + strconv.Itoa(int(tp.Partition))
}

// Commit writes one offset.
func (k KVOffsets) Commit(ctx context.Context, group string, tp TopicPartition, o Offset) error {
	v, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if _, err := k.Placement.PutKV(ctx, &placementpb.PutKVRequest{Key: k.key(group, tp), Value: v}); err != nil {
		return fmt.Errorf("commit offset: %w", err)
	}
	return nil
}

// Fetch reads the group's offsets with one prefix listing.
func (k KVOffsets) Fetch(ctx context.Context, group string, tps []TopicPartition) (map[TopicPartition]Offset, error) {
	resp, err := k.Placement.ListKV(ctx, &placementpb.ListKVRequest{Prefix: k.groupPrefix(group),
		Consistency: placementpb.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets: %w", err)
	}
	want := map[TopicPartition]bool{}
	for _, tp := range tps {
		want[tp] = true
	}
	out := map[TopicPartition]Offset{}
	for _, kv := range resp.GetKvs() {
		rest := strings.TrimPrefix(kv.GetKey(), k.groupPrefix(group))
		i := strings.LastIndexByte(rest, '/')
		if i < 0 {
			continue
		}
		topic, err1 := url.PathUnescape(rest[:i])
		p, err2 := strconv.Atoi(rest[i+1:])
		var o Offset
		if err1 != nil || err2 != nil || json.Unmarshal(kv.GetValue(), &o) != nil {
			continue
		}
		tp := TopicPartition{Topic: topic, Partition: int32(p)}
		if len(tps) == 0 || want[tp] {
			out[tp] = o
		}
	}
	return out, nil
}

// Groups lists the groups with committed offsets.
func (k KVOffsets) Groups(ctx context.Context) ([]string, error) {
	resp, err := k.Placement.ListKV(ctx, &placementpb.ListKVRequest{Prefix: k.prefix()})
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, kv := range resp.GetKvs() {
		rest := strings.TrimPrefix(kv.GetKey(), k.prefix())
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			continue
		}
		g, err := url.PathUnescape(rest[:i])
		if err == nil && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out, nil
}

// Delete removes the group's offsets.
func (k KVOffsets) Delete(ctx context.Context, group string) error {
	resp, err := k.Placement.ListKV(ctx, &placementpb.ListKVRequest{Prefix: k.groupPrefix(group)})
	if err != nil {
		return fmt.Errorf("delete offsets: %w", err)
	}
	for _, kv := range resp.GetKvs() {
		if _, err := k.Placement.DeleteKV(ctx, &placementpb.DeleteKVRequest{Key: kv.GetKey()}); err != nil {
			return fmt.Errorf("delete offsets: %w", err)
		}
	}
	return nil
}

// MemoryOffsets is an OffsetStore in memory, for tests of this package
// and of code above it.
type MemoryOffsets struct {
	mu sync.Mutex
	m  map[string]map[TopicPartition]Offset
}

func (s *MemoryOffsets) Commit(_ context.Context, group string, tp TopicPartition, o Offset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[TopicPartition]Offset{}
	}
	if s.m[group] == nil {
		s.m[group] = map[TopicPartition]Offset{}
	}
	s.m[group][tp] = o
	return nil
}

func (s *MemoryOffsets) Fetch(_ context.Context, group string, tps []TopicPartition) (map[TopicPartition]Offset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[TopicPartition]Offset{}
	for tp, o := range s.m[group] {
		out[tp] = o
	}
	if len(tps) > 0 {
		keep := map[TopicPartition]Offset{}
		for _, tp := range tps {
			if o, ok := out[tp]; ok {
				keep[tp] = o
			}
		}
		out = keep
	}
	return out, nil
}

func (s *MemoryOffsets) Groups(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for g := range s.m {
		out = append(out, g)
	}
	return out, nil
}

func (s *MemoryOffsets) Delete(_ context.Context, group string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, group)
	return nil
}
