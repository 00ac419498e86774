package metacache

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// ShardKey names a shard.
type ShardKey struct{ Tenant, Name string }

// SegmentKey names a segment.
type SegmentKey struct {
	Tenant, Shard string
	Seq           uint32
}

// Cache is the local copy. Safe for concurrent use; getters return clones.
type Cache struct {
	client placementpb.PlacementServiceClient
	log    zerolog.Logger

	mu       sync.RWMutex
	nodes    map[uint64]*placementpb.ClusterNode
	shards   map[ShardKey]*placementpb.Shard
	segments map[SegmentKey]*placementpb.Segment
	revision uint64
	synced   bool
	ready    chan struct{}
	// notify holds one channel per subscriber; a change is a non-blocking
	// send of an empty struct (changes coalesce).
	notify map[int]chan struct{}
	nextID int
}

// New returns an empty cache; Run fills it.
func New(client placementpb.PlacementServiceClient, log zerolog.Logger) *Cache {
	return &Cache{
		client:   client,
		log:      log,
		nodes:    map[uint64]*placementpb.ClusterNode{},
		shards:   map[ShardKey]*placementpb.Shard{},
		segments: map[SegmentKey]*placementpb.Segment{},
		ready:    make(chan struct{}),
		notify:   map[int]chan struct{}{},
	}
}

// Ready waits for the first complete sync.
func (c *Cache) Ready(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe returns a channel that receives a value after changes (several
// changes may coalesce into one value) and a function to unsubscribe.
func (c *Cache) Subscribe() (<-chan struct{}, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextID
	c.nextID++
	ch := make(chan struct{}, 1)
	c.notify[id] = ch
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.notify, id)
	}
}

// Run lists and watches until ctx ends, listing again after any resync or
// stream failure (with a short pause so a down center is not hammered).
func (c *Cache) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		rev, err := c.list(ctx)
		if err == nil {
			err = c.watch(ctx, rev+1)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.log.Warn().Err(err).Msg("metadata watch ended; listing again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// list replaces the cache with a full listing and returns the lowest
// revision among the lists, so the watch that follows misses nothing
// (events already reflected are ignored by version).
func (c *Cache) list(ctx context.Context) (uint64, error) {
	nodes, err := c.client.ListNodes(ctx, &placementpb.ListNodesRequest{})
	if err != nil {
		return 0, err
	}
	shards, err := c.client.ListShards(ctx, &placementpb.ListShardsRequest{})
	if err != nil {
		return 0, err
	}
	rev := min(nodes.GetRevision(), shards.GetRevision())
	newNodes := map[uint64]*placementpb.ClusterNode{}
	for _, n := range nodes.GetNodes() {
		newNodes[n.GetNodeId()] = n
	}
	newShards := map[ShardKey]*placementpb.Shard{}
	newSegments := map[SegmentKey]*placementpb.Segment{}
	for _, sh := range shards.GetShards() {
		got, err := c.client.GetShard(ctx, &placementpb.GetShardRequest{Tenant: sh.GetTenant(), Name: sh.GetName()})
		if err != nil {
			continue // deleted meanwhile; the watch will tell
		}
		newShards[ShardKey{sh.GetTenant(), sh.GetName()}] = got.GetShard()
		for _, s := range got.GetSegments() {
			newSegments[SegmentKey{s.GetTenant(), s.GetShard(), s.GetSeq()}] = s
		}
	}
	c.mu.Lock()
	c.nodes, c.shards, c.segments = newNodes, newShards, newSegments
	c.revision = rev
	first := !c.synced
	c.synced = true
	c.mu.Unlock()
	if first {
		close(c.ready)
	}
	c.changed()
	return rev, nil
}

func (c *Cache) watch(ctx context.Context, from uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.client.Watch(ctx, &placementpb.WatchRequest{StartRevision: from, Kinds: []placementpb.ResourceKind{
		placementpb.ResourceKind_RESOURCE_KIND_NODE, placementpb.ResourceKind_RESOURCE_KIND_SHARD, placementpb.ResourceKind_RESOURCE_KIND_SEGMENT}})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if resp.GetResync() {
			return nil
		}
		if len(resp.GetEvents()) == 0 {
			continue
		}
		c.apply(resp)
		c.changed()
	}
}

// apply merges events; an event older than the cached object's version is
// already reflected and skipped.
func (c *Cache) apply(resp *placementpb.WatchResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range resp.GetEvents() {
		del := ev.GetType() == placementpb.EventType_EVENT_TYPE_DELETE
		switch o := ev.GetObject().(type) {
		case *placementpb.WatchEvent_Node:
			merge(c.nodes, o.Node.GetNodeId(), o.Node, ev.GetRevision(), del)
		case *placementpb.WatchEvent_Shard:
			merge(c.shards, ShardKey{o.Shard.GetTenant(), o.Shard.GetName()}, o.Shard, ev.GetRevision(), del)
		case *placementpb.WatchEvent_Segment:
			merge(c.segments, SegmentKey{o.Segment.GetTenant(), o.Segment.GetShard(), o.Segment.GetSeq()}, o.Segment, ev.GetRevision(), del)
		}
		if ev.GetRevision() > c.revision {
			c.revision = ev.GetRevision()
		}
	}
	if resp.GetRevision() > c.revision {
		c.revision = resp.GetRevision()
	}
}

func (c *Cache) changed() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, ch := range c.notify {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Revision is the placement revision the cache reflects.
func (c *Cache) Revision() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.revision
}

// Node returns a node by id.
func (c *Cache) Node(id uint64) (*placementpb.ClusterNode, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.nodes[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(n).(*placementpb.ClusterNode), true
}

// Nodes returns the nodes of a kind (UNSPECIFIED: all), ordered by id.
func (c *Cache) Nodes(kind placementpb.NodeKind) []*placementpb.ClusterNode {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*placementpb.ClusterNode
	for _, n := range c.nodes {
		if kind == placementpb.NodeKind_NODE_KIND_UNSPECIFIED || n.GetKind() == kind {
			out = append(out, proto.Clone(n).(*placementpb.ClusterNode))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetNodeId() < out[j].GetNodeId() })
	return out
}

// Shard returns a shard and its segments ordered by seq.
func (c *Cache) Shard(tenant, name string) (*placementpb.Shard, []*placementpb.Segment, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sh, ok := c.shards[ShardKey{tenant, name}]
	if !ok {
		return nil, nil, false
	}
	var segs []*placementpb.Segment
	for k, s := range c.segments {
		if k.Tenant == tenant && k.Shard == name {
			segs = append(segs, proto.Clone(s).(*placementpb.Segment))
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].GetSeq() < segs[j].GetSeq() })
	return proto.Clone(sh).(*placementpb.Shard), segs, true
}

// Segment returns one segment.
func (c *Cache) Segment(tenant, shard string, seq uint32) (*placementpb.Segment, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.segments[SegmentKey{tenant, shard, seq}]
	if !ok {
		return nil, false
	}
	return proto.Clone(s).(*placementpb.Segment), true
}

// Segments returns every cached segment for which keep returns true.
func (c *Cache) Segments(keep func(*placementpb.Segment) bool) []*placementpb.Segment {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*placementpb.Segment
	for _, s := range c.segments {
		if keep == nil || keep(s) {
			out = append(out, proto.Clone(s).(*placementpb.Segment))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.GetTenant() != b.GetTenant() {
			return a.GetTenant() < b.GetTenant()
		}
		if a.GetShard() != b.GetShard() {
			return a.GetShard() < b.GetShard()
		}
		return a.GetSeq() < b.GetSeq()
	})
	return out
}

// versioned is every cached object: its version is the Raft index of its
// last change.
type versioned interface{ GetVersion() uint64 }

// merge applies one event to m. An event older than the cached object's
// version is already reflected (the list that filled the cache was newer)
// and is skipped.
func merge[K comparable, V versioned](m map[K]V, k K, v V, revision uint64, del bool) {
	if cur, ok := m[k]; ok && cur.GetVersion() > revision {
		return
	}
	if del {
		delete(m, k)
		return
	}
	m[k] = v
}
