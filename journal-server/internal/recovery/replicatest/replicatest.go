// Package replicatest is test support for the recovery and reconcile
// packages: a real gRPC server on 127.0.0.1 serving the replica half of
// JournalService (Fence, Seal, Describe, ReadReplica, Replicate) over a real
// segstore, following docs/journal-protocol.md, plus helpers to fill replicas
// the way a leader and its followers would. It is imported only by tests;
// the production JournalService lives in journal-server/internal/server.
package replicatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// Node is one journal node of a test: a segstore in a temp dir and, while
// up, a gRPC server on a fresh 127.0.0.1 port.
type Node struct {
	ID    uint64
	Store *segstore.Store

	register Register

	mu   sync.Mutex
	srv  *grpc.Server
	addr string
	done chan struct{}
}

// Register installs a JournalService for node n on srv; nil installs this
// package's replica-only service.
type Register func(n *Node, srv *grpc.Server)

// NewNode opens a store in a temp dir and starts serving.
func NewNode(t testing.TB, id uint64) *Node { return NewNodeWith(t, id, nil) }

// NewNodeWith is NewNode serving the service register installs.
func NewNodeWith(t testing.TB, id uint64, register Register) *Node {
	t.Helper()
	st, err := segstore.Open(t.TempDir(), segstore.Options{CacheBytes: 4 << 20})
	if err != nil {
		t.Fatalf("open store of node %d: %v", id, err)
	}
	n := &Node{ID: id, Store: st, register: register}
	t.Cleanup(func() {
		n.Stop()
		_ = st.Close()
	})
	n.Start(t)
	return n
}

// Start serves on a new port (a restarted node registers a new address).
func (n *Node) Start(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	if n.register != nil {
		n.register(n, srv)
	} else {
		journalpb.RegisterJournalServiceServer(srv, &service{store: n.Store})
	}
	n.srv, n.addr, n.done = srv, lis.Addr().String(), make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		_ = srv.Serve(lis)
	}(n.done)
}

// Stop stops serving (the store stays open): the node is unreachable.
func (n *Node) Stop() {
	n.mu.Lock()
	srv, done := n.srv, n.done
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Stop()
		<-done
	}
}

// Addr is the current address ("" while stopped).
func (n *Node) Addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return ""
	}
	return n.addr
}

// LastAddr is the address of the latest Start, even when stopped (so a
// dialer reaching a stopped node gets connection refused).
func (n *Node) LastAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

// Cluster is a set of nodes with a dialer that resolves node ids to their
// current addresses.
type Cluster struct {
	Nodes map[uint64]*Node

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// NewCluster starts nodes with the given ids.
func NewCluster(t testing.TB, ids ...uint64) *Cluster {
	t.Helper()
	return NewClusterWith(t, nil, ids...)
}

// NewClusterWith is NewCluster serving the service register installs.
func NewClusterWith(t testing.TB, register Register, ids ...uint64) *Cluster {
	t.Helper()
	c := &Cluster{Nodes: map[uint64]*Node{}, conns: map[string]*grpc.ClientConn{}}
	for _, id := range ids {
		c.Nodes[id] = NewNodeWith(t, id, register)
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, cc := range c.conns {
			_ = cc.Close()
		}
	})
	return c
}

// Dial is a recovery.DialFunc over the cluster.
func (c *Cluster) Dial(_ context.Context, id uint64) (journalpb.JournalServiceClient, error) {
	n, ok := c.Nodes[id]
	if !ok {
		return nil, fmt.Errorf("no node %d", id)
	}
	addr := n.LastAddr()
	c.mu.Lock()
	defer c.mu.Unlock()
	cc, ok := c.conns[addr]
	if !ok {
		var err error
		cc, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		c.conns[addr] = cc
	}
	return journalpb.NewJournalServiceClient(cc), nil
}

// Batch encodes a batch of n records tagged tag (values "tag/i").
func Batch(tag string, n int) []byte {
	b := recordbatch.Batch{Header: recordbatch.Header{BaseSequence: -1}}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, recordbatch.Record{
			TimestampMs: 1_700_000_000_000 + int64(i),
			Key:         []byte(tag),
			Value:       []byte(fmt.Sprintf("%s/%d", tag, i)),
		})
	}
	return recordbatch.Encode(b)
}

// Write plays a leader: it creates the segment on the leader and followers,
// appends batches on the leader at epoch and replicates the first
// perFollower[i] of them to followers[i] (AppendReplica), advancing each
// follower's LAC to followerLAC[i] (offsets). It returns every stored batch
// (with offsets) in order.
func Write(t testing.TB, id segstore.SegmentID, start, epoch uint64, leader *segstore.Store, batches [][]byte,
	followers []*segstore.Store, perFollower []int, followerLAC []uint64) [][]byte {
	t.Helper()
	if err := leader.CreateSegment(id, start, epoch); err != nil {
		t.Fatalf("create on leader: %v", err)
	}
	for _, f := range followers {
		if err := f.CreateSegment(id, start, epoch); err != nil {
			t.Fatalf("create on follower: %v", err)
		}
	}
	var stored [][]byte
	for _, b := range batches {
		b = append([]byte(nil), b...)
		if _, _, err := leader.Append(id, epoch, b); err != nil {
			t.Fatalf("leader append: %v", err)
		}
		stored = append(stored, b)
	}
	for i, f := range followers {
		for _, b := range stored[:perFollower[i]] {
			if _, err := f.AppendReplica(id, epoch, b); err != nil {
				t.Fatalf("follower append: %v", err)
			}
		}
		if err := f.AdvanceLAC(id, followerLAC[i]); err != nil {
			t.Fatalf("follower lac: %v", err)
		}
	}
	return stored
}

// End returns the offset after the first k of batches (stored, with offsets).
func End(t testing.TB, start uint64, stored [][]byte, k int) uint64 {
	t.Helper()
	end := start
	for _, b := range stored[:k] {
		h, err := recordbatch.DecodeHeader(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		end = h.NextOffset()
	}
	return end
}

// Contents reads every batch of a local replica up to its log end.
func Contents(t testing.TB, s *segstore.Store, id segstore.SegmentID) [][]byte {
	t.Helper()
	st, err := s.Describe(id)
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	var out [][]byte
	from := st.StartOffset
	for i := 0; from < st.LogEnd && i < 100_000; i++ {
		got, err := s.Read(id, from, 1<<20, st.LogEnd)
		if err != nil {
			t.Fatalf("read %s at %d: %v", id, from, err)
		}
		if len(got) == 0 {
			t.Fatalf("read %s at %d: nothing, log end %d", id, from, st.LogEnd)
		}
		for _, b := range got {
			out = append(out, b.Data)
			from = b.Header.NextOffset()
		}
	}
	return out
}

// service serves the replica RPCs of the contract over a segstore.
type service struct {
	journalpb.UnimplementedJournalServiceServer
	store *segstore.Store
}

func idOf(ref *journalpb.SegmentRef) segstore.SegmentID {
	return segstore.SegmentID{Tenant: ref.GetTenant(), Shard: ref.GetShard(), Seq: ref.GetSeq()}
}

// toStatus maps segstore errors to rpcerr codes.
func toStatus(err error) error {
	var fenced *segstore.FencedError
	var sealed *segstore.SealedError
	var nc *segstore.NotContiguousError
	var inc *segstore.IncompleteError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, segstore.ErrNotFound):
		return rpcerr.NotFound("segment", err.Error())
	case errors.As(err, &fenced):
		return rpcerr.Fenced(fenced.Epoch)
	case errors.As(err, &sealed):
		return rpcerr.SegmentSealed(sealed.End)
	case errors.As(err, &nc):
		return status.Error(codes.FailedPrecondition, nc.Error())
	case errors.As(err, &inc):
		return status.Error(codes.FailedPrecondition, inc.Error())
	case errors.Is(err, segstore.ErrOutOfRange):
		return status.Error(codes.OutOfRange, err.Error())
	case errors.Is(err, segstore.ErrInvalidArgument), errors.Is(err, segstore.ErrInvalidBatch),
		errors.Is(err, segstore.ErrNotBatchBoundary):
		return rpcerr.InvalidArgument("request", err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func (s *service) Fence(_ context.Context, req *journalpb.FenceRequest) (*journalpb.FenceResponse, error) {
	id := idOf(req.GetSegment())
	end, err := s.store.Fence(id, req.GetEpoch())
	if err != nil {
		return nil, toStatus(err)
	}
	st, err := s.store.Describe(id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &journalpb.FenceResponse{LogEnd: end, Lac: st.LAC}, nil
}

func (s *service) Seal(_ context.Context, req *journalpb.SealRequest) (*journalpb.SealResponse, error) {
	if err := s.store.Seal(idOf(req.GetSegment()), req.GetEndOffset()); err != nil {
		return nil, toStatus(err)
	}
	return &journalpb.SealResponse{}, nil
}

func (s *service) Describe(_ context.Context, req *journalpb.DescribeRequest) (*journalpb.DescribeResponse, error) {
	st, err := s.store.Describe(idOf(req.GetSegment()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &journalpb.DescribeResponse{Segment: req.GetSegment(), StartOffset: st.StartOffset, LogEnd: st.LogEnd,
		Lac: st.LAC, FenceEpoch: st.FenceEpoch, Sealed: st.Sealed, SealedEnd: st.SealedEnd, Bytes: st.Bytes}, nil
}

func (s *service) ReadReplica(req *journalpb.ReadReplicaRequest, stream grpc.ServerStreamingServer[journalpb.ReadResponse]) error {
	id := idOf(req.GetSegment())
	from, to := req.GetFromOffset(), req.GetToOffset()
	for i := 0; from < to && i < 100_000; i++ {
		got, err := s.store.Read(id, from, 256<<10, to)
		if err != nil {
			return toStatus(err)
		}
		if len(got) == 0 {
			return nil // nothing more up to to
		}
		resp := &journalpb.ReadResponse{}
		for _, b := range got {
			resp.Batches = append(resp.Batches, b.Data)
			from = b.Header.NextOffset()
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return nil
}

func (s *service) Replicate(stream grpc.BidiStreamingServer[journalpb.ReplicateRequest, journalpb.ReplicateResponse]) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil // client closed or went away
		}
		id := idOf(req.GetSegment())
		resp := &journalpb.ReplicateResponse{Segment: req.GetSegment()}
		err = s.store.CreateSegment(id, req.GetStartOffset(), req.GetEpoch())
		if errors.Is(err, segstore.ErrAlreadyExists) {
			err = nil
		}
		if err == nil && len(req.GetBatch()) > 0 {
			_, err = s.store.AppendReplica(id, req.GetEpoch(), req.GetBatch())
		}
		if err == nil {
			err = s.store.AdvanceLAC(id, req.GetLac())
		}
		if st, derr := s.store.Describe(id); derr == nil {
			resp.LogEnd = st.LogEnd
		}
		resp.Error = rpcerr.ToProto(toStatus(err))
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}
