package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
)

// peers holds one connection and one Deliver stream per other broker.
// Forwarding is online delivery: when a peer's queue is full or its
// stream breaks, messages to it are dropped and counted (what must be kept
// is in the log, which persistent sessions read).
type peers struct {
	c  *Cluster
	mu sync.Mutex
	m  map[uint64]*peer
	// ctx ends every peer's sender; set by closeOnDone.
	ctx    context.Context
	cancel context.CancelFunc
}

type peer struct {
	id      uint64
	addr    string
	conn    *grpc.ClientConn
	q       chan *brokerpb.DeliverRequest
	dropped uint64 // guarded by peers.mu
}

func newPeers(c *Cluster) *peers {
	ctx, cancel := context.WithCancel(context.Background())
	return &peers{c: c, m: map[uint64]*peer{}, ctx: ctx, cancel: cancel}
}

// closeOnDone closes every peer when ctx ends.
func (ps *peers) closeOnDone(ctx context.Context) {
	<-ctx.Done()
	ps.cancel()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for id, p := range ps.m {
		_ = p.conn.Close()
		delete(ps.m, id)
	}
}

// get returns the peer of broker id, connecting to its registered gRPC
// address; a peer whose address changed (the broker restarted elsewhere)
// is replaced.
func (ps *peers) get(id uint64) (*peer, error) {
	n, ok := ps.c.opts.Cache.Node(id)
	if !ok || n.GetGrpcAddr() == "" {
		return nil, fmt.Errorf("broker %d is not registered", id)
	}
	addr := n.GetGrpcAddr()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.ctx.Err() != nil {
		return nil, ps.ctx.Err()
	}
	if p := ps.m[id]; p != nil {
		if p.addr == addr {
			return p, nil
		}
		_ = p.conn.Close()
		delete(ps.m, id)
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, ps.c.opts.DialOptions...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	p := &peer{id: id, addr: addr, conn: conn, q: make(chan *brokerpb.DeliverRequest, ps.c.opts.ForwardQueue)}
	ps.m[id] = p
	go ps.sender(p)
	return p, nil
}

// client is the BrokerInternal client of broker id.
func (ps *peers) client(id uint64) (brokerpb.BrokerInternalClient, error) {
	p, err := ps.get(id)
	if err != nil {
		return nil, err
	}
	return brokerpb.NewBrokerInternalClient(p.conn), nil
}

// send queues req for broker id without blocking.
func (ps *peers) send(id uint64, req *brokerpb.DeliverRequest) {
	p, err := ps.get(id)
	if err != nil {
		ps.c.stats.fwdDropped.Add(1)
		ps.c.log.Debug().Err(err).Uint64("broker", id).Msg("forward dropped")
		return
	}
	select {
	case p.q <- req:
		ps.c.stats.forwarded.Add(1)
	default:
		ps.c.stats.fwdDropped.Add(1)
		ps.mu.Lock()
		p.dropped++
		n := p.dropped
		ps.mu.Unlock()
		if n&(n-1) == 0 { // log at 1, 2, 4, 8, ... drops
			ps.c.log.Warn().Uint64("broker", id).Uint64("dropped", n).Msg("forward queue full; online messages to this broker dropped")
		}
	}
}

// sender streams p's queue to the peer until the peer set closes or the
// connection is replaced, reopening the stream after errors.
func (ps *peers) sender(p *peer) {
	ctx := ps.ctx
	cli := brokerpb.NewBrokerInternalClient(p.conn)
	var pending *brokerpb.DeliverRequest
	for ctx.Err() == nil {
		stream, err := cli.Deliver(ctx)
		if err != nil {
			if !lifecycle.Sleep(ctx, 200*time.Millisecond) {
				return
			}
			continue
		}
		for {
			if pending == nil {
				select {
				case <-ctx.Done():
					_, _ = stream.CloseAndRecv()
					return
				case pending = <-p.q:
				}
			}
			if err := stream.Send(pending); err != nil {
				ps.c.log.Debug().Err(err).Uint64("broker", p.id).Msg("deliver stream broke")
				// The message that failed is dropped: online delivery is
				// at most once.
				pending = nil
				break
			}
			pending = nil
		}
		if ps.closed(p) {
			return
		}
		if !lifecycle.Sleep(ctx, 200*time.Millisecond) {
			return
		}
	}
}

// closed reports whether p was replaced or removed.
func (ps *peers) closed(p *peer) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.m[p.id] != p
}

// internalServer serves BrokerInternal for the other brokers.
type internalServer struct {
	brokerpb.UnimplementedBrokerInternalServer
	c *Cluster
}

func (s *internalServer) Deliver(stream brokerpb.BrokerInternal_DeliverServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&brokerpb.DeliverResponse{})
		}
		if err != nil {
			return err
		}
		m := fromProto(req.GetMessage())
		if m == nil || m.Topic == "" {
			continue
		}
		var pos core.Position
		if lp := req.GetPosition(); lp != nil {
			pos = core.Position{Partition: lp.GetPartition(), Offset: lp.GetOffset(), Valid: true}
		}
		s.c.stats.received.Add(1)
		s.c.core.DeliverRemote(m, pos, req.GetNonShared(), req.GetShareFilters())
	}
}

func (s *internalServer) KickSession(ctx context.Context, req *brokerpb.KickSessionRequest) (*brokerpb.KickSessionResponse, error) {
	if req.GetTenant() != s.c.opts.Tenant {
		return &brokerpb.KickSessionResponse{}, nil
	}
	return &brokerpb.KickSessionResponse{Kicked: s.c.core.Handover(ctx, req.GetClientId())}, nil
}
