package streamclient

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
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// fakeCluster is an in-memory placement center plus journal nodes, served
// over real gRPC on 127.0.0.1. It sits below the unit under test: it keeps
// one log per segment shared by every replica (replication is the
// journal's business, not the client's) and follows the contract's rules
// for leaders, epochs, seals and the idempotent producer table, with hooks
// to inject the failures the client must survive.
type fakeCluster struct {
	t         *testing.T
	placement *fakePlacement
	nodes     map[uint64]*fakeNode
	center    string // placement address

	mu       sync.Mutex
	shards   map[string]*placementpb.Shard
	segments map[string][]*placementpb.Segment // shard -> by seq
	logs     map[string]*segLog                // "shard/seq" -> log
	dedupe   map[string]*producerState         // "shard/pid"
	version  uint64
	appends  int // append requests handled, all nodes
	// hooks, consulted under mu for each append request
	onAppend func(node uint64, req *journalpb.AppendRequest) appendFault
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

// appendFault is what a hook makes the node do with one append.
type appendFault struct {
	err        error // answer with this error, write nothing
	dropAfter  bool  // write, then break the stream without answering
	breakFirst bool  // break the stream without writing or answering
}

type fakeNode struct {
	journalpb.UnimplementedJournalServiceServer
	id   uint64
	c    *fakeCluster
	addr string
	mu   sync.Mutex
	down bool // every call answers Unavailable
}

func newFakeCluster(t *testing.T, nodes int) *fakeCluster {
	t.Helper()
	c := &fakeCluster{t: t, nodes: map[uint64]*fakeNode{}, shards: map[string]*placementpb.Shard{},
		segments: map[string][]*placementpb.Segment{}, logs: map[string]*segLog{}, dedupe: map[string]*producerState{}}
	c.placement = &fakePlacement{c: c}
	c.center = serveGRPC(t, func(s *grpc.Server) { placementpb.RegisterPlacementServiceServer(s, c.placement) })
	for id := uint64(1); id <= uint64(nodes); id++ {
		n := &fakeNode{id: id, c: c}
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

// client returns a streamclient over the fake placement center.
func (c *fakeCluster) client(opts Options) *Client {
	c.t.Helper()
	cc, err := grpc.NewClient(c.center, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.t.Fatal(err)
	}
	cl := New(cc, opts)
	c.t.Cleanup(func() {
		_ = cl.Close()
		_ = cc.Close()
	})
	return cl
}

func logKey(shard string, seq uint32) string { return fmt.Sprintf("%s#%d", shard, seq) }

// segment returns the placement segment (the live object, under c.mu).
func (c *fakeCluster) segmentLocked(shard string, seq uint32) *placementpb.Segment {
	for _, s := range c.segments[shard] {
		if s.GetSeq() == seq {
			return s
		}
	}
	return nil
}

// roll seals the shard's open segment at its log end and opens the next
// one led by leader, as a leader's roll or a recovery would.
func (c *fakeCluster) roll(shard string, leader uint64) {
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

// records returns every record of a shard in offset order, checking that
// the segments' offsets are contiguous.
func (c *fakeCluster) records(shard string) []Message {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Message
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
				out = append(out, Message{Offset: b.FirstOffset + uint64(i), Record: r})
			}
			want = b.NextOffset()
		}
	}
	return out
}

func (c *fakeCluster) setDown(node uint64, down bool) {
	n := c.nodes[node]
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = down
}

func (n *fakeNode) isDown() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.down
}

var errDown = status.Error(codes.Unavailable, "fake node is down")

func (n *fakeNode) Append(stream journalpb.JournalService_AppendServer) error {
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
		if fault.breakFirst || fault.dropAfter {
			return status.Error(codes.Unavailable, "fake stream break")
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// append applies one request under the contract's checks.
func (c *fakeCluster) append(node uint64, req *journalpb.AppendRequest) (*journalpb.AppendResponse, appendFault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.appends++
	resp := &journalpb.AppendResponse{RequestId: req.GetRequestId()}
	var fault appendFault
	if c.onAppend != nil {
		fault = c.onAppend(node, req)
	}
	if fault.breakFirst {
		return nil, fault
	}
	if fault.err != nil {
		resp.Error = rpcerr.ToProto(fault.err)
		return resp, fault
	}
	fail := func(err error) (*journalpb.AppendResponse, appendFault) {
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

func (n *fakeNode) Read(req *journalpb.ReadRequest, stream journalpb.JournalService_ReadServer) error {
	if n.isDown() {
		return errDown
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

func (n *fakeNode) Describe(_ context.Context, req *journalpb.DescribeRequest) (*journalpb.DescribeResponse, error) {
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

// fakePlacement answers the calls the stream client makes.
type fakePlacement struct {
	placementpb.UnimplementedPlacementServiceServer
	c *fakeCluster
}

func (p *fakePlacement) CreateShard(_ context.Context, req *placementpb.CreateShardRequest) (*placementpb.CreateShardResponse, error) {
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

func (p *fakePlacement) GetShard(_ context.Context, req *placementpb.GetShardRequest) (*placementpb.GetShardResponse, error) {
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

func (p *fakePlacement) ListShards(_ context.Context, req *placementpb.ListShardsRequest) (*placementpb.ListShardsResponse, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := &placementpb.ListShardsResponse{Revision: c.version}
	for name, sh := range c.shards {
		if strings.HasPrefix(name, req.GetPrefix()) {
			resp.Shards = append(resp.Shards, proto.Clone(sh).(*placementpb.Shard))
		}
	}
	sort.Slice(resp.Shards, func(i, j int) bool { return resp.Shards[i].GetName() < resp.Shards[j].GetName() })
	return resp, nil
}

func (p *fakePlacement) DeleteShard(_ context.Context, req *placementpb.DeleteShardRequest) (*placementpb.DeleteShardResponse, error) {
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

func (p *fakePlacement) ListNodes(context.Context, *placementpb.ListNodesRequest) (*placementpb.ListNodesResponse, error) {
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
func (p *fakePlacement) Watch(_ *placementpb.WatchRequest, stream placementpb.PlacementService_WatchServer) error {
	<-stream.Context().Done()
	return nil
}
