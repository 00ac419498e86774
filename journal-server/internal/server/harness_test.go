package server

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/replication"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// fakePlacement is the in-test placement metadata: the replication
// package's Metadata and Placement interfaces over a map, with a
// SealAndRoll that behaves like the placement center's (seal n at end,
// open n+1 on the live nodes not excluded, epoch+1).
type fakePlacement struct {
	mu       sync.Mutex
	nodes    map[uint64]*placementpb.ClusterNode
	shards   map[string]*placementpb.Shard
	segments map[string]*placementpb.Segment
	version  uint64
	subs     map[int]chan struct{}
	nextSub  int
	rolls    []*placementpb.SealAndRollRequest
	// leaderLast makes SealAndRoll pick the highest live node as the next
	// leader (the default is the lowest).
	leaderLast bool
}

func newFakePlacement() *fakePlacement {
	return &fakePlacement{nodes: map[uint64]*placementpb.ClusterNode{}, shards: map[string]*placementpb.Shard{},
		segments: map[string]*placementpb.Segment{}, subs: map[int]chan struct{}{}}
}

func segKey(tenant, shard string, seq uint32) string {
	return fmt.Sprintf("%s/%s/%d", tenant, shard, seq)
}

func (f *fakePlacement) changed() {
	for _, ch := range f.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (f *fakePlacement) Node(id uint64) (*placementpb.ClusterNode, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(n).(*placementpb.ClusterNode), true
}

func (f *fakePlacement) Segment(tenant, shard string, seq uint32) (*placementpb.Segment, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.segments[segKey(tenant, shard, seq)]
	if !ok {
		return nil, false
	}
	return proto.Clone(s).(*placementpb.Segment), true
}

func (f *fakePlacement) Shard(tenant, name string) (*placementpb.Shard, []*placementpb.Segment, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh, ok := f.shards[tenant+"/"+name]
	if !ok {
		return nil, nil, false
	}
	var segs []*placementpb.Segment
	for seq := uint32(0); seq <= sh.GetActiveSegment(); seq++ {
		if s, ok := f.segments[segKey(tenant, name, seq)]; ok {
			segs = append(segs, proto.Clone(s).(*placementpb.Segment))
		}
	}
	return proto.Clone(sh).(*placementpb.Shard), segs, true
}

func (f *fakePlacement) Segments(keep func(*placementpb.Segment) bool) []*placementpb.Segment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*placementpb.Segment
	for _, s := range f.segments {
		if keep(s) {
			out = append(out, proto.Clone(s).(*placementpb.Segment))
		}
	}
	return out
}

func (f *fakePlacement) Subscribe() (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextSub
	f.nextSub++
	ch := make(chan struct{}, 1)
	f.subs[id] = ch
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

func (f *fakePlacement) SealAndRoll(ctx context.Context, in *placementpb.SealAndRollRequest, _ ...grpc.CallOption) (*placementpb.SealAndRollResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rolls = append(f.rolls, proto.Clone(in).(*placementpb.SealAndRollRequest))
	cur, ok := f.segments[segKey(in.GetTenant(), in.GetShard(), in.GetSeq())]
	if !ok {
		return nil, rpcerr.NotFound("segment", in.GetShard())
	}
	if cur.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
		return nil, rpcerr.SegmentSealed(cur.GetEndOffset())
	}
	if cur.GetVersion() != in.GetExpectedVersion() {
		return nil, rpcerr.VersionMismatch("segment", in.GetShard(), in.GetExpectedVersion(), cur.GetVersion())
	}
	f.version++
	cur.Status = placementpb.SegmentStatus_SEGMENT_STATUS_SEALED
	cur.EndOffset = in.GetEndOffset()
	cur.Version = f.version
	var live []uint64
	for id, n := range f.nodes {
		if n.GetStatus() == placementpb.NodeStatus_NODE_STATUS_ALIVE && !slices.Contains(in.GetExcludeNodes(), id) {
			live = append(live, id)
		}
	}
	slices.Sort(live)
	sh := f.shards[in.GetTenant()+"/"+in.GetShard()]
	if f.leaderLast {
		slices.Reverse(live)
	}
	live = live[:min(len(live), int(sh.GetReplicaCount()))]
	next := &placementpb.Segment{Tenant: in.GetTenant(), Shard: in.GetShard(), Seq: in.GetSeq() + 1, Replicas: live,
		Leader: live[0], Epoch: cur.GetEpoch() + 1, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN,
		StartOffset: in.GetEndOffset(), AckQuorum: min(sh.GetAckQuorum(), uint32(len(live))), Version: f.version,
		CreatedAtMs: time.Now().UnixMilli()}
	f.segments[segKey(next.Tenant, next.Shard, next.Seq)] = next
	sh.ActiveSegment = next.Seq
	f.changed()
	return &placementpb.SealAndRollResponse{Sealed: proto.Clone(cur).(*placementpb.Segment), Next: proto.Clone(next).(*placementpb.Segment)}, nil
}

// addShard creates a shard whose segment 0 has the given replicas (first
// = leader).
func (f *fakePlacement) addShard(name string, replicas []uint64, quorum uint32, config map[string]string) *placementpb.Segment {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	f.shards["default/"+name] = &placementpb.Shard{Tenant: "default", Name: name, ReplicaCount: uint32(len(replicas)),
		AckQuorum: quorum, Status: placementpb.ShardStatus_SHARD_STATUS_ACTIVE, Version: f.version, Config: config}
	seg := &placementpb.Segment{Tenant: "default", Shard: name, Seq: 0, Replicas: replicas, Leader: replicas[0], Epoch: 1,
		Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, AckQuorum: quorum, Version: f.version, CreatedAtMs: time.Now().UnixMilli()}
	f.segments[segKey("default", name, 0)] = seg
	f.changed()
	return proto.Clone(seg).(*placementpb.Segment)
}

func (f *fakePlacement) setNodeStatus(id uint64, st placementpb.NodeStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[id].Status = st
	f.changed()
}

func (f *fakePlacement) setNode(id uint64, addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[id] = &placementpb.ClusterNode{NodeId: id, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: addr,
		Status: placementpb.NodeStatus_NODE_STATUS_ALIVE}
	f.changed()
}

// node is one in-process journal node: a real segstore in a temp dir, the
// replication manager and this package's server on 127.0.0.1.
type node struct {
	t      *testing.T
	id     uint64
	dir    string
	addr   string
	meta   *fakePlacement
	limits testLimits

	store  *segstore.Store
	mgr    *replication.Manager
	gs     *grpc.Server
	cancel context.CancelFunc
	done   chan struct{}
	peers  *replication.Peers
	quit   chan struct{} // Options.Done
	// awaitReg starts the manager with AwaitRegistration (the journal
	// server's setting): it leads nothing before mgr.SetRegistered.
	awaitReg bool
}

type testLimits struct {
	maxBatchBytes int
	maxRequest    int
	settle        time.Duration
	lazySync      time.Duration // replication.Config.LazySyncInterval (0: its default)
}

func startNode(t *testing.T, meta *fakePlacement, id uint64, dir, addr string, lim testLimits) *node {
	t.Helper()
	n := &node{t: t, id: id, dir: dir, addr: addr, meta: meta, limits: lim}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	t := n.t
	t.Helper()
	store, err := segstore.Open(n.dir, segstore.Options{CacheBytes: 8 << 20,
		Limits: recordbatch.Limits{MaxBatchBytes: n.limits.maxBatchBytes}})
	if err != nil {
		t.Fatalf("segstore.Open: %v", err)
	}
	addr := n.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	for i := 0; i < 50; i++ { // a restarted node re-binds its port
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	n.addr = lis.Addr().String()
	n.meta.setNode(n.id, n.addr)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Uint64("node", n.id).Logger()
	n.peers = replication.NewPeers(n.meta, n.limits.maxRequest)
	changes := replication.NewChanges()
	mgr, err := replication.New(replication.Config{
		NodeID: n.id, Store: store, Meta: n.meta, Placement: n.meta, Peers: n.peers, Changes: changes,
		MaxBatchBytes: n.limits.maxBatchBytes, MaxBatchRecords: 1000,
		SegmentMaxBytes: 1 << 30, SegmentMaxAge: time.Hour,
		CheckInterval: 50 * time.Millisecond, SettleTimeout: n.limits.settle, SeedTimeout: 2 * time.Second,
		LazySyncInterval: n.limits.lazySync, AwaitRegistration: n.awaitReg, Logger: log,
	})
	if err != nil {
		t.Fatalf("replication.New: %v", err)
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(n.limits.maxRequest))
	n.quit = make(chan struct{})
	journalpb.RegisterJournalServiceServer(gs, New(Options{Store: store, Manager: mgr,
		Follower: replication.NewFollower(store, changes), FollowPoll: 200 * time.Millisecond, Done: n.quit, Logger: log}))
	ctx, cancel := context.WithCancel(context.Background())
	n.store, n.mgr, n.gs, n.cancel, n.done = store, mgr, gs, cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		_ = mgr.Run(ctx)
	}()
	go func() { _ = gs.Serve(lis) }()
}

// stop kills the node's server (streams cut), its manager and its store.
func (n *node) stop() {
	if n.gs == nil {
		return
	}
	n.gs.Stop()
	n.cancel()
	<-n.done
	n.peers.Close()
	_ = n.store.Close()
	n.gs = nil
}

// client dials a node.
func dial(t *testing.T, addr string) journalpb.JournalServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return journalpb.NewJournalServiceClient(cc)
}

// cluster is three nodes and a shard "s" replicated on all of them.
type cluster struct {
	t     *testing.T
	meta  *fakePlacement
	nodes map[uint64]*node
}

func newCluster(t *testing.T, n int, lim testLimits) *cluster {
	t.Helper()
	if lim.maxBatchBytes == 0 {
		lim.maxBatchBytes = 1 << 20
	}
	if lim.maxRequest == 0 {
		lim.maxRequest = 2 << 20
	}
	if lim.settle == 0 {
		lim.settle = 2 * time.Second
	}
	c := &cluster{t: t, meta: newFakePlacement(), nodes: map[uint64]*node{}}
	for i := 1; i <= n; i++ {
		c.nodes[uint64(i)] = startNode(t, c.meta, uint64(i), t.TempDir(), "", lim)
	}
	return c
}

// batch encodes n records tagged tag.
func batch(tag string, n int) []byte {
	return idemBatch(tag, n, 0, 0, -1)
}

func idemBatch(tag string, n int, pid uint64, pepoch uint32, base int32) []byte {
	b := recordbatch.Batch{Header: recordbatch.Header{ProducerID: pid, ProducerEpoch: pepoch, BaseSequence: base}}
	now := time.Now().UnixMilli()
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, recordbatch.Record{TimestampMs: now, Key: []byte(tag), Value: []byte(fmt.Sprintf("%s/%d", tag, i))})
	}
	return recordbatch.Encode(b)
}

// appender is a client Append stream.
type appender struct {
	t      *testing.T
	stream journalpb.JournalService_AppendClient
	cancel context.CancelFunc
	nextID uint64
}

func openAppend(t *testing.T, cl journalpb.JournalServiceClient) *appender {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	s, err := cl.Append(ctx)
	if err != nil {
		cancel()
		t.Fatalf("Append: %v", err)
	}
	a := &appender{t: t, stream: s, cancel: cancel}
	t.Cleanup(func() { _ = s.CloseSend(); cancel() })
	return a
}

func (a *appender) send(seg *placementpb.Segment, epoch uint64, b []byte) uint64 {
	a.t.Helper()
	a.nextID++
	err := a.stream.Send(&journalpb.AppendRequest{RequestId: a.nextID, Segment: &journalpb.SegmentRef{
		Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}, Epoch: epoch, Batch: b})
	if err != nil {
		a.t.Fatalf("send: %v", err)
	}
	return a.nextID
}

func (a *appender) recv() *journalpb.AppendResponse {
	a.t.Helper()
	resp, err := a.stream.Recv()
	if err != nil {
		a.t.Fatalf("recv: %v", err)
	}
	return resp
}

// do sends one batch and returns its response.
func (a *appender) do(seg *placementpb.Segment, b []byte) *journalpb.AppendResponse {
	a.t.Helper()
	id := a.send(seg, seg.GetEpoch(), b)
	resp := a.recv()
	if resp.GetRequestId() != id {
		a.t.Fatalf("response for request %d, want %d", resp.GetRequestId(), id)
	}
	return resp
}

func (a *appender) mustDo(seg *placementpb.Segment, b []byte) *journalpb.AppendResponse {
	a.t.Helper()
	resp := a.do(seg, b)
	if err := rpcerr.FromProto(resp.GetError()); err != nil {
		a.t.Fatalf("append: %v", err)
	}
	return resp
}

func ref(seg *placementpb.Segment) *journalpb.SegmentRef {
	return &journalpb.SegmentRef{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}
}

// eventually retries f every 20ms until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, d, err)
}
