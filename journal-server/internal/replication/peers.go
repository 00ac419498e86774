package replication

import (
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/robustmq/robustmq-go/common/grpcbuf"
)

// Peers holds one gRPC connection per journal node this node talks to
// (followers of its segments, replicas it seeds producer tables from),
// found by node id through the metadata. A node whose address changed gets
// a new connection. Safe for concurrent use.
type Peers struct {
	nodes       NodeSource
	maxMsgBytes int

	mu     sync.Mutex
	conns  map[uint64]*peerConn
	closed bool
}

type peerConn struct {
	addr string
	cc   *grpc.ClientConn
}

// NewPeers returns a pool; maxMsgBytes bounds messages both ways (0: gRPC
// defaults).
func NewPeers(nodes NodeSource, maxMsgBytes int) *Peers {
	return &Peers{nodes: nodes, maxMsgBytes: maxMsgBytes, conns: map[uint64]*peerConn{}}
}

// Conn returns the connection to node id.
func (p *Peers) Conn(id uint64) (grpc.ClientConnInterface, error) {
	n, ok := p.nodes.Node(id)
	if !ok || n.GetGrpcAddr() == "" {
		return nil, fmt.Errorf("node %d: no known address", id)
	}
	addr := n.GetGrpcAddr()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("peers closed")
	}
	if c, ok := p.conns[id]; ok {
		if c.addr == addr {
			return c.cc, nil
		}
		_ = c.cc.Close()
		delete(p.conns, id)
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, grpcbuf.DialOptions()...)
	if p.maxMsgBytes > 0 {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(p.maxMsgBytes), grpc.MaxCallSendMsgSize(p.maxMsgBytes)))
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("node %d at %s: %w", id, addr, err)
	}
	p.conns[id] = &peerConn{addr: addr, cc: cc}
	return cc, nil
}

// Close closes every connection.
func (p *Peers) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for id, c := range p.conns {
		_ = c.cc.Close()
		delete(p.conns, id)
	}
}
