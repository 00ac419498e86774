// Package streamtest is an in-memory placement center and journal cluster
// served over real gRPC on 127.0.0.1, for tests of the stream client and of
// the commands built on it. It keeps one log per segment shared by every
// replica (replication is the journal's business, not the client's) and
// follows docs/journal-protocol.md's rules for leaders, epochs, seals, reads
// and the idempotent producer table, with hooks to inject the failures a
// client must survive. Test code only: it must never be linked into a
// binary.
package streamtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Cluster is an in-memory placement center plus journal nodes, served
// over real gRPC on 127.0.0.1. It sits below the unit under test: it keeps
// one log per segment shared by every replica (replication is the
// journal's business, not the client's) and follows the contract's rules
// for leaders, epochs, seals and the idempotent producer table, with hooks
// to inject the failures the client must survive.
type Cluster struct {
	t         *testing.T
	placement *placement
	nodes     map[uint64]*node
	center    string // placement address

	mu       sync.Mutex
	shards   map[string]*placementpb.Shard
	segments map[string][]*placementpb.Segment // shard -> by seq
	logs     map[string]*segLog                // "shard#seq" -> log
	dedupe   map[string]*producerState         // "shard/pid"
	version  uint64
	appends  int // append requests handled, all nodes
	// onAppend, when set, decides a fault for each append request.
	onAppend func(node uint64, req *journalpb.AppendRequest) Fault
}

type segLog struct {
	start   uint64
	end     uint64 // log end
	batches [][]byte
	sealed  bool
}

type producerState struct {
	epoch   uint32
	lastSeq int32
	recent  map[int32][2]uint64 // base seq -> offsets
}

// Fault is what a hook makes the node do with one append.
type Fault struct {
	Err        error // answer with this error, write nothing
	DropAfter  bool  // write, then break the stream without answering
	BreakFirst bool  // break the stream without writing or answering
	Hang       bool  // write, then never answer (nor read) on this stream again
}

type node struct {
	journalpb.UnimplementedJournalServiceServer
	id   uint64
	c    *Cluster
	addr string
	mu   sync.Mutex
	down bool // every call answers Unavailable
	// readHang: Read streams open and then never send anything.
	readHang bool
}

func NewCluster(t *testing.T, nodes int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, nodes: map[uint64]*node{}, shards: map[string]*placementpb.Shard{},
		segments: map[string][]*placementpb.Segment{}, logs: map[string]*segLog{}, dedupe: map[string]*producerState{}}
	c.placement = &placement{c: c}
	c.center = serveGRPC(t, func(s *grpc.Server) { placementpb.RegisterPlacementServiceServer(s, c.placement) })
	for id := uint64(1); id <= uint64(nodes); id++ {
		n := &node{id: id, c: c}
		n.addr = serveGRPC(t, func(s *grpc.Server) { journalpb.RegisterJournalServiceServer(s, n) })
		c.nodes[id] = n
	}
	return c
}

func serveGRPC(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-served
	})
	return lis.Addr().String()
}

// Center is the placement center's address.
func (c *Cluster) Center() string { return c.center }

// NodeAddr is a journal node's address.
func (c *Cluster) NodeAddr(id uint64) string { return c.nodes[id].addr }

// SetAppendHook installs (nil: removes) a function that picks a fault for
// every append request, called under the cluster's lock.
func (c *Cluster) SetAppendHook(h func(node uint64, req *journalpb.AppendRequest) Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onAppend = h
}

// Appends counts the append requests the nodes handled.
func (c *Cluster) Appends() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.appends
}

// Segments returns copies of a shard's segments, by seq.
func (c *Cluster) Segments(shard string) []*placementpb.Segment {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*placementpb.Segment
	for _, s := range c.segments[shard] {
		out = append(out, proto.Clone(s).(*placementpb.Segment))
	}
	return out
}

// TrimStart makes an empty shard start at offset, as if retention had
// deleted everything below it.
func (c *Cluster) TrimStart(shard string, offset uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	segs := c.segments[shard]
	segs[0].StartOffset = offset
	lg := c.logs[logKey(shard, segs[0].GetSeq())]
	lg.start, lg.end = offset, offset
}

// Placement is the placement service, for calls a test makes directly.
func (c *Cluster) Placement() placementpb.PlacementServiceServer { return c.placement }

func logKey(shard string, seq uint32) string { return fmt.Sprintf("%s#%d", shard, seq) }

// segment returns the placement segment (the live object, under c.mu).
func (c *Cluster) segmentLocked(shard string, seq uint32) *placementpb.Segment {
	for _, s := range c.segments[shard] {
		if s.GetSeq() == seq {
			return s
		}
	}
	return nil
}

// Roll seals the shard's open segment at its log end and opens the next
// one led by leader, as a leader's roll or a recovery would.
func (c *Cluster) Roll(shard string, leader uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	segs := c.segments[shard]
	cur := segs[len(segs)-1]
	lg := c.logs[logKey(shard, cur.GetSeq())]
	lg.sealed = true
	c.version++
	cur.Status = placementpb.SegmentStatus_SEGMENT_STATUS_SEALED
	cur.EndOffset = lg.end
	cur.Version = c.version
	next := &placementpb.Segment{Tenant: cur.GetTenant(), Shard: shard, Seq: cur.GetSeq() + 1, Replicas: cur.GetReplicas(),
		Leader: leader, Epoch: cur.GetEpoch() + 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN,
		StartOffset: lg.end, AckQuorum: cur.GetAckQuorum(), Version: c.version}
	c.segments[shard] = append(segs, next)
	c.logs[logKey(shard, next.GetSeq())] = &segLog{start: lg.end, end: lg.end}
	c.shards[shard].ActiveSegment = next.GetSeq()
}

// Record is a stored record and its offset.
type Record struct {
	Offset uint64
	recordbatch.Record
}

// Records returns every record of a shard in offset order, failing the
// test unless the segments' offsets are contiguous.
func (c *Cluster) Records(shard string) []Record {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Record
	var want uint64
	for _, seg := range c.segments[shard] {
		lg := c.logs[logKey(shard, seg.GetSeq())]
		for _, buf := range lg.batches {
			b, err := recordbatch.Decode(buf, recordbatch.Limits{})
			if err != nil {
				c.t.Fatal(err)
			}
			if b.FirstOffset != want {
				c.t.Fatalf("%s: batch at %d, expected %d", shard, b.FirstOffset, want)
			}
			for i, r := range b.Records {
				out = append(out, Record{Offset: b.FirstOffset + uint64(i), Record: r})
			}
			want = b.NextOffset()
		}
	}
	return out
}

// SetDown makes a node answer every call with Unavailable (or serve again).
func (c *Cluster) SetDown(id uint64, down bool) {
	n := c.nodes[id]
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = down
}

// SetReadHang makes a node's Read streams silent (a stopped process that
// still accepts connections), or normal again.
func (c *Cluster) SetReadHang(id uint64, hang bool) {
	n := c.nodes[id]
	n.mu.Lock()
	defer n.mu.Unlock()
	n.readHang = hang
}

func (n *node) isDown() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.down
}

var errDown = status.Error(codes.Unavailable, "fake node is down")

func (n *node) Append(stream journalpb.JournalService_AppendServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n.isDown() {
			return errDown
		}
		resp, fault := n.c.append(n.id, req)
		if fault.Hang {
			<-stream.Context().Done()
			return stream.Context().Err()
		}
		if fault.BreakFirst || fault.DropAfter {
			return status.Error(codes.Unavailable, "fake stream break")
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// append applies one request under the contract's checks.
func (c *Cluster) append(node uint64, req *journalpb.AppendRequest) (*journalpb.AppendResponse, Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.appends++
	resp := &journalpb.AppendResponse{RequestId: req.GetRequestId()}
	var fault Fault
	if c.onAppend != nil {
		fault = c.onAppend(node, req)
	}
	if fault.BreakFirst {
		return nil, fault
	}
	if fault.Err != nil {
		resp.Error = rpcerr.ToProto(fault.Err)
		return resp, fault
	}
	fail := func(err error) (*journalpb.AppendResponse, Fault) {
		resp.Error = rpcerr.ToProto(err)
		return resp, fault
	}
	ref := req.GetSegment()
	seg := c.segmentLocked(ref.GetShard(), ref.GetSeq())
	if seg == nil {
		return fail(rpcerr.NotFound("segment", logKey(ref.GetShard(), ref.GetSeq())))
	}
	if seg.GetLeader() != node {
		return fail(rpcerr.NotLeader(seg.GetLeader(), c.nodes[seg.GetLeader()].addr))
	}
	lg := c.logs[logKey(ref.GetShard(), ref.GetSeq())]
	if lg.sealed {
		return fail(rpcerr.SegmentSealed(lg.end))
	}
	if req.GetEpoch() < seg.GetEpoch() {
		return fail(rpcerr.Fenced(seg.GetEpoch()))
	}
	h, err := recordbatch.Validate(req.GetBatch(), recordbatch.Limits{})
	if err != nil {
		return fail(rpcerr.InvalidArgument("batch", err.Error()))
	}
	var ps *producerState
	if h.ProducerID > 0 {
		key := fmt.Sprintf("%s/%d", ref.GetShard(), h.ProducerID)
		ps = c.dedupe[key]
		switch {
		case ps == nil || h.ProducerEpoch > ps.epoch:
			ps = &producerState{epoch: h.ProducerEpoch, lastSeq: -1, recent: map[int32][2]uint64{}}
			c.dedupe[key] = ps
		case h.ProducerEpoch < ps.epoch:
			return fail(rpcerr.InvalidArgument("producer_epoch", "lower than the producer's current epoch"))
		case h.BaseSequence <= ps.lastSeq:
			o := ps.recent[h.BaseSequence]
			resp.FirstOffset, resp.NextOffset, resp.Duplicate = o[0], o[1], true
			return resp, fault
		case h.BaseSequence > ps.lastSeq+1 && ps.lastSeq >= 0:
			return fail(rpcerr.InvalidArgument("base_sequence", fmt.Sprintf("out of order: %d after %d", h.BaseSequence, ps.lastSeq)))
		}
	}
	buf := append([]byte(nil), req.GetBatch()...)
	if err := recordbatch.SetFirstOffsetAndEpoch(buf, lg.end, seg.GetEpoch()); err != nil {
		return fail(rpcerr.InvalidArgument("batch", err.Error()))
	}
	resp.FirstOffset = lg.end
	lg.batches = append(lg.batches, buf)
	lg.end += uint64(h.Count)
	resp.NextOffset = lg.end
	if ps != nil {
		ps.lastSeq = h.BaseSequence + int32(h.Count) - 1
		ps.recent[h.BaseSequence] = [2]uint64{resp.FirstOffset, resp.NextOffset}
	}
	return resp, fault
}

func (n *node) Read(req *journalpb.ReadRequest, stream journalpb.JournalService_ReadServer) error {
	if n.isDown() {
		return errDown
	}
	n.mu.Lock()
	hang := n.readHang
	n.mu.Unlock()
	if hang {
		<-stream.Context().Done()
		return stream.Context().Err()
	}
	c := n.c
	ref := req.GetSegment()
	from := req.GetFromOffset()
	tsMode := req.GetFromTimestampMs() > 0
	for {
		c.mu.Lock()
		lg, ok := c.logs[logKey(ref.GetShard(), ref.GetSeq())]
		if !ok {
			c.mu.Unlock()
			return rpcerr.NotFound("segment", logKey(ref.GetShard(), ref.GetSeq()))
		}
		if !tsMode && (from < lg.start || from > lg.end) {
			c.mu.Unlock()
			return status.Errorf(codes.OutOfRange, "offset %d outside [%d, %d]", from, lg.start, lg.end)
		}
		resp := &journalpb.ReadResponse{Lac: lg.end}
		size := 0
		for _, b := range lg.batches {
			h, _ := recordbatch.DecodeHeader(b)
			if tsMode {
				if h.MaxTimestampMs < req.GetFromTimestampMs() {
					continue
				}
				tsMode = false
				from = h.FirstOffset
			}
			if h.NextOffset() <= from {
				continue
			}
			if size > 0 && size+len(b) > int(req.GetMaxBytes()) {
				break
			}
			resp.Batches = append(resp.Batches, b)
			size += len(b)
		}
		if n := len(resp.Batches); n > 0 {
			h, _ := recordbatch.DecodeHeader(resp.Batches[n-1])
			from = h.NextOffset()
		}
		sealed := lg.sealed && from >= lg.end
		c.mu.Unlock()
		if sealed {
			resp.Sealed, resp.SealedEnd = true, from
		}
		if len(resp.Batches) > 0 || sealed {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
		if sealed || (!req.GetFollow() && len(resp.Batches) == 0) {
			return nil
		}
		if len(resp.Batches) == 0 {
			select {
			case <-stream.Context().Done():
				return stream.Context().Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
		if n.isDown() {
			return errDown
		}
	}
}

func (n *node) Describe(_ context.Context, req *journalpb.DescribeRequest) (*journalpb.DescribeResponse, error) {
	if n.isDown() {
		return nil, errDown
	}
	c := n.c
	c.mu.Lock()
	defer c.mu.Unlock()
	ref := req.GetSegment()
	lg, ok := c.logs[logKey(ref.GetShard(), ref.GetSeq())]
	if !ok {
		return nil, rpcerr.NotFound("segment", logKey(ref.GetShard(), ref.GetSeq()))
	}
	resp := &journalpb.DescribeResponse{Segment: ref, StartOffset: lg.start, LogEnd: lg.end, Lac: lg.end, Sealed: lg.sealed}
	if lg.sealed {
		resp.SealedEnd = lg.end
	}
	return resp, nil
}

// placement answers the calls the stream client makes.
type placement struct {
	placementpb.UnimplementedPlacementServiceServer
	c *Cluster
}

func (p *placement) CreateShard(_ context.Context, req *placementpb.CreateShardRequest) (*placementpb.CreateShardResponse, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.shards[req.GetName()]; ok {
		return nil, rpcerr.AlreadyExists("shard", req.GetName())
	}
	var warnings []string
	n := int(req.GetReplicaCount())
	if n == 0 {
		n = 3
	}
	if n > len(c.nodes) {
		warnings = append(warnings, fmt.Sprintf("replicas clamped from %d to %d", n, len(c.nodes)))
		n = len(c.nodes)
	}
	q := req.GetAckQuorum()
	if q == 0 {
		q = uint32(min(2, n))
	}
	c.version++
	// Leaders spread over the nodes by shard count.
	first := uint64(len(c.shards)%len(c.nodes)) + 1
	var replicas []uint64
	for i := 0; i < n; i++ {
		replicas = append(replicas, (first-1+uint64(i))%uint64(len(c.nodes))+1)
	}
	sh := &placementpb.Shard{Tenant: req.GetTenant(), Name: req.GetName(), ReplicaCount: uint32(n), AckQuorum: q,
		Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, Version: c.version, Config: req.GetConfig()}
	seg := &placementpb.Segment{Tenant: req.GetTenant(), Shard: req.GetName(), Replicas: replicas, Leader: replicas[0], Epoch: 1,
		Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, AckQuorum: q, Version: c.version}
	c.shards[req.GetName()] = sh
	c.segments[req.GetName()] = []*placementpb.Segment{seg}
	c.logs[logKey(req.GetName(), 0)] = &segLog{}
	return &placementpb.CreateShardResponse{Shard: proto.Clone(sh).(*placementpb.Shard), Segment: proto.Clone(seg).(*placementpb.Segment), Warnings: warnings}, nil
}

func (p *placement) GetShard(_ context.Context, req *placementpb.GetShardRequest) (*placementpb.GetShardResponse, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	sh, ok := c.shards[req.GetName()]
	if !ok {
		return nil, rpcerr.NotFound("shard", req.GetName())
	}
	resp := &placementpb.GetShardResponse{Shard: proto.Clone(sh).(*placementpb.Shard), Revision: c.version}
	for _, s := range c.segments[req.GetName()] {
		resp.Segments = append(resp.Segments, proto.Clone(s).(*placementpb.Segment))
	}
	return resp, nil
}

func (p *placement) ListShards(_ context.Context, req *placementpb.ListShardsRequest) (*placementpb.ListShardsResponse, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := &placementpb.ListShardsResponse{Revision: c.version}
	for name, sh := range c.shards {
		if strings.HasPrefix(name, req.GetPrefix()) && (req.GetTenant() == "" || req.GetTenant() == sh.GetTenant()) {
			resp.Shards = append(resp.Shards, proto.Clone(sh).(*placementpb.Shard))
		}
	}
	sort.Slice(resp.Shards, func(i, j int) bool { return resp.Shards[i].GetName() < resp.Shards[j].GetName() })
	return resp, nil
}

func (p *placement) DeleteShard(_ context.Context, req *placementpb.DeleteShardRequest) (*placementpb.DeleteShardResponse, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.shards[req.GetName()]; !ok {
		return nil, rpcerr.NotFound("shard", req.GetName())
	}
	delete(c.shards, req.GetName())
	delete(c.segments, req.GetName())
	return &placementpb.DeleteShardResponse{}, nil
}

func (p *placement) ListNodes(context.Context, *placementpb.ListNodesRequest) (*placementpb.ListNodesResponse, error) {
	c := p.c
	resp := &placementpb.ListNodesResponse{}
	for id := uint64(1); id <= uint64(len(c.nodes)); id++ {
		resp.Nodes = append(resp.Nodes, &placementpb.ClusterNode{NodeId: id, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL,
			GrpcAddr: c.nodes[id].addr, Status: placementpb.NodeStatus_NODE_STATUS_ALIVE})
	}
	return resp, nil
}

// Watch sends nothing and holds the stream: the metacache then serves its
// first listing, and the client's fresh lookups see every change.
func (p *placement) Watch(_ *placementpb.WatchRequest, stream placementpb.PlacementService_WatchServer) error {
	<-stream.Context().Done()
	return nil
}
