package replicatest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Meta is an in-memory stand-in for *metacache.Cache: tests put objects in
// and subscribers are notified.
type Meta struct {
	mu       sync.Mutex
	ready    chan struct{}
	isReady  bool
	nodes    map[uint64]*placementpb.ClusterNode
	shards   map[metacache.ShardKey]*placementpb.Shard
	segments map[metacache.SegmentKey]*placementpb.Segment
	subs     map[int]chan struct{}
	nextSub  int
}

// NewMeta returns an empty cache; ready says whether Ready returns at once.
func NewMeta(ready bool) *Meta {
	m := &Meta{
		ready:    make(chan struct{}),
		nodes:    map[uint64]*placementpb.ClusterNode{},
		shards:   map[metacache.ShardKey]*placementpb.Shard{},
		segments: map[metacache.SegmentKey]*placementpb.Segment{},
		subs:     map[int]chan struct{}{},
	}
	if ready {
		m.SetReady()
	}
	return m
}

// SetReady marks the first full sync done.
func (m *Meta) SetReady() {
	m.mu.Lock()
	if !m.isReady {
		m.isReady = true
		close(m.ready)
	}
	m.mu.Unlock()
	m.notify()
}

// Ready waits for SetReady.
func (m *Meta) Ready(ctx context.Context) error {
	select {
	case <-m.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe is metacache.Cache.Subscribe.
func (m *Meta) Subscribe() (<-chan struct{}, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextSub
	m.nextSub++
	ch := make(chan struct{}, 1)
	m.subs[id] = ch
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, id)
	}
}

func (m *Meta) notify() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// PutSegment stores (a clone of) seg and notifies.
func (m *Meta) PutSegment(seg *placementpb.Segment) {
	m.mu.Lock()
	m.segments[metacache.SegmentKey(segKey(seg))] = proto.Clone(seg).(*placementpb.Segment)
	m.mu.Unlock()
	m.notify()
}

// DeleteSegment removes a segment and notifies.
func (m *Meta) DeleteSegment(tenant, shard string, seq uint32) {
	m.mu.Lock()
	delete(m.segments, metacache.SegmentKey{Tenant: tenant, Shard: shard, Seq: seq})
	m.mu.Unlock()
	m.notify()
}

// PutShard stores (a clone of) sh and notifies.
func (m *Meta) PutShard(sh *placementpb.Shard) {
	m.mu.Lock()
	m.shards[metacache.ShardKey{Tenant: sh.GetTenant(), Name: sh.GetName()}] = proto.Clone(sh).(*placementpb.Shard)
	m.mu.Unlock()
	m.notify()
}

// DeleteShard removes a shard and its segments and notifies.
func (m *Meta) DeleteShard(tenant, name string) {
	m.mu.Lock()
	delete(m.shards, metacache.ShardKey{Tenant: tenant, Name: name})
	for k := range m.segments {
		if k.Tenant == tenant && k.Shard == name {
			delete(m.segments, k)
		}
	}
	m.mu.Unlock()
	m.notify()
}

// PutNode stores (a clone of) n and notifies.
func (m *Meta) PutNode(n *placementpb.ClusterNode) {
	m.mu.Lock()
	m.nodes[n.GetNodeId()] = proto.Clone(n).(*placementpb.ClusterNode)
	m.mu.Unlock()
	m.notify()
}

// Node is metacache.Cache.Node.
func (m *Meta) Node(id uint64) (*placementpb.ClusterNode, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(n).(*placementpb.ClusterNode), true
}

// Segment is metacache.Cache.Segment.
func (m *Meta) Segment(tenant, shard string, seq uint32) (*placementpb.Segment, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.segments[metacache.SegmentKey{Tenant: tenant, Shard: shard, Seq: seq}]
	if !ok {
		return nil, false
	}
	return proto.Clone(s).(*placementpb.Segment), true
}

// Segments is metacache.Cache.Segments.
func (m *Meta) Segments(keep func(*placementpb.Segment) bool) []*placementpb.Segment {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*placementpb.Segment
	for _, s := range m.segments {
		if keep == nil || keep(s) {
			out = append(out, proto.Clone(s).(*placementpb.Segment))
		}
	}
	sort.Slice(out, func(i, j int) bool { return segKey(out[i]).String() < segKey(out[j]).String() })
	return out
}

// Shard is metacache.Cache.Shard.
func (m *Meta) Shard(tenant, name string) (*placementpb.Shard, []*placementpb.Segment, bool) {
	m.mu.Lock()
	sh, ok := m.shards[metacache.ShardKey{Tenant: tenant, Name: name}]
	m.mu.Unlock()
	if !ok {
		return nil, nil, false
	}
	segs := m.Segments(func(s *placementpb.Segment) bool { return s.GetTenant() == tenant && s.GetShard() == name })
	return proto.Clone(sh).(*placementpb.Shard), segs, true
}

type keyString metacache.SegmentKey

func (k keyString) String() string { return fmt.Sprintf("%s/%s/%010d", k.Tenant, k.Shard, k.Seq) }

func segKey(s *placementpb.Segment) keyString {
	return keyString{Tenant: s.GetTenant(), Shard: s.GetShard(), Seq: s.GetSeq()}
}

// Placement is an in-test placement center: authoritative shards and
// segments, SealAndRoll with the real compare-and-set rules, GetShard, and
// a record of calls. Every change is published to Meta (when set). Methods
// not implemented panic (the embedded nil interface).
type Placement struct {
	placementpb.PlacementServiceClient

	mu       sync.Mutex
	meta     *Meta
	version  uint64
	shards   map[metacache.ShardKey]*placementpb.Shard
	segments map[metacache.SegmentKey]*placementpb.Segment
	calls    []*placementpb.SealAndRollRequest
	getCalls int
	// failGetShard, when > 0, fails that many GetShard calls.
	failGetShard int
	// failSealAndRoll, when > 0, fails that many SealAndRoll calls with
	// Unavailable before applying.
	failSealAndRoll int
}

// NewPlacement returns an empty placement publishing to meta (may be nil).
func NewPlacement(meta *Meta) *Placement {
	return &Placement{meta: meta, version: 100,
		shards:   map[metacache.ShardKey]*placementpb.Shard{},
		segments: map[metacache.SegmentKey]*placementpb.Segment{}}
}

// PutShard creates or replaces a shard (new version) and publishes it.
func (p *Placement) PutShard(sh *placementpb.Shard) *placementpb.Shard {
	p.mu.Lock()
	p.version++
	sh = proto.Clone(sh).(*placementpb.Shard)
	sh.Version = p.version
	p.shards[metacache.ShardKey{Tenant: sh.GetTenant(), Name: sh.GetName()}] = sh
	p.mu.Unlock()
	if m := p.publisher(); m != nil {
		m.PutShard(sh)
	}
	return proto.Clone(sh).(*placementpb.Shard)
}

// PutSegment creates or replaces a segment (new version) and publishes it.
func (p *Placement) PutSegment(seg *placementpb.Segment) *placementpb.Segment {
	p.mu.Lock()
	p.version++
	seg = proto.Clone(seg).(*placementpb.Segment)
	seg.Version = p.version
	p.segments[metacache.SegmentKey{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}] = seg
	p.mu.Unlock()
	if m := p.publisher(); m != nil {
		m.PutSegment(seg)
	}
	return proto.Clone(seg).(*placementpb.Segment)
}

// RemoveShard deletes a shard and its segments and publishes it.
func (p *Placement) RemoveShard(tenant, name string) {
	p.mu.Lock()
	p.version++
	delete(p.shards, metacache.ShardKey{Tenant: tenant, Name: name})
	for k := range p.segments {
		if k.Tenant == tenant && k.Shard == name {
			delete(p.segments, k)
		}
	}
	p.mu.Unlock()
	if m := p.publisher(); m != nil {
		m.DeleteShard(tenant, name)
	}
}

// SetMeta changes (or with nil stops) where changes are published.
func (p *Placement) SetMeta(m *Meta) {
	p.mu.Lock()
	p.meta = m
	p.mu.Unlock()
}

func (p *Placement) publisher() *Meta {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.meta
}

// FailSealAndRoll makes the next n SealAndRoll calls fail with Unavailable.
func (p *Placement) FailSealAndRoll(n int) {
	p.mu.Lock()
	p.failSealAndRoll = n
	p.mu.Unlock()
}

// Calls returns the SealAndRoll requests received so far.
func (p *Placement) Calls() []*placementpb.SealAndRollRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*placementpb.SealAndRollRequest, len(p.calls))
	for i, c := range p.calls {
		out[i] = proto.Clone(c).(*placementpb.SealAndRollRequest)
	}
	return out
}

// FailGetShard makes the next n GetShard calls fail with Unavailable.
func (p *Placement) FailGetShard(n int) {
	p.mu.Lock()
	p.failGetShard = n
	p.mu.Unlock()
}

// GetShardCalls counts GetShard requests.
func (p *Placement) GetShardCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.getCalls
}

// Segment returns the authoritative segment.
func (p *Placement) Segment(tenant, shard string, seq uint32) (*placementpb.Segment, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.segments[metacache.SegmentKey{Tenant: tenant, Shard: shard, Seq: seq}]
	if !ok {
		return nil, false
	}
	return proto.Clone(s).(*placementpb.Segment), true
}

// SealAndRoll applies the placement center's rules: the segment must exist
// and be OPEN or RECOVERING (SEALED -> SegmentSealed), at the expected
// version (else VersionMismatch); it seals it and opens seq+1 on the same
// replicas minus the excluded nodes, led by the first of them.
func (p *Placement) SealAndRoll(_ context.Context, req *placementpb.SealAndRollRequest, _ ...grpc.CallOption) (*placementpb.SealAndRollResponse, error) {
	p.mu.Lock()
	p.calls = append(p.calls, proto.Clone(req).(*placementpb.SealAndRollRequest))
	if p.failSealAndRoll > 0 {
		p.failSealAndRoll--
		p.mu.Unlock()
		return nil, rpcerr.NotLeader(0, "")
	}
	name := fmt.Sprintf("%s/%s/%d", req.GetTenant(), req.GetShard(), req.GetSeq())
	key := metacache.SegmentKey{Tenant: req.GetTenant(), Shard: req.GetShard(), Seq: req.GetSeq()}
	seg, ok := p.segments[key]
	switch {
	case !ok:
		p.mu.Unlock()
		return nil, rpcerr.NotFound("segment", name)
	case seg.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED:
		p.mu.Unlock()
		return nil, rpcerr.SegmentSealed(seg.GetEndOffset())
	case seg.GetVersion() != req.GetExpectedVersion():
		p.mu.Unlock()
		return nil, rpcerr.VersionMismatch("segment", name, req.GetExpectedVersion(), seg.GetVersion())
	}
	p.version++
	sealed := proto.Clone(seg).(*placementpb.Segment)
	sealed.Status = placementpb.SegmentStatus_SEGMENT_STATUS_SEALED
	sealed.EndOffset = req.GetEndOffset()
	sealed.Version = p.version
	excluded := map[uint64]bool{}
	for _, n := range req.GetExcludeNodes() {
		excluded[n] = true
	}
	var reps []uint64
	for _, n := range seg.GetReplicas() {
		if !excluded[n] {
			reps = append(reps, n)
		}
	}
	next := &placementpb.Segment{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq() + 1,
		Replicas: reps, Epoch: seg.GetEpoch() + 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN,
		StartOffset: req.GetEndOffset(), AckQuorum: seg.GetAckQuorum(), Version: p.version}
	if len(reps) > 0 {
		next.Leader = reps[0]
	}
	p.segments[key] = sealed
	p.segments[metacache.SegmentKey{Tenant: next.GetTenant(), Shard: next.GetShard(), Seq: next.GetSeq()}] = next
	p.mu.Unlock()
	if m := p.publisher(); m != nil {
		m.PutSegment(sealed)
		m.PutSegment(next)
	}
	return &placementpb.SealAndRollResponse{Sealed: proto.Clone(sealed).(*placementpb.Segment),
		Next: proto.Clone(next).(*placementpb.Segment)}, nil
}

// GetShard answers from the authoritative state (NotFound when absent).
func (p *Placement) GetShard(_ context.Context, req *placementpb.GetShardRequest, _ ...grpc.CallOption) (*placementpb.GetShardResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.getCalls++
	if p.failGetShard > 0 {
		p.failGetShard--
		return nil, rpcerr.NotLeader(0, "")
	}
	sh, ok := p.shards[metacache.ShardKey{Tenant: req.GetTenant(), Name: req.GetName()}]
	if !ok {
		return nil, rpcerr.NotFound("shard", req.GetTenant()+"/"+req.GetName())
	}
	resp := &placementpb.GetShardResponse{Shard: proto.Clone(sh).(*placementpb.Shard), Revision: p.version}
	for k, s := range p.segments {
		if k.Tenant == req.GetTenant() && k.Shard == req.GetName() {
			resp.Segments = append(resp.Segments, proto.Clone(s).(*placementpb.Segment))
		}
	}
	sort.Slice(resp.Segments, func(i, j int) bool { return resp.Segments[i].GetSeq() < resp.Segments[j].GetSeq() })
	return resp, nil
}
