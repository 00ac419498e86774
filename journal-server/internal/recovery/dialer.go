package recovery

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// NodeLookup finds a node's registration; *metacache.Cache satisfies it.
type NodeLookup interface {
	Node(id uint64) (*placementpb.ClusterNode, bool)
}

// Dialer keeps one gRPC connection per journal node, addressed by the
// node's grpc_addr in the metadata cache; a node that re-registers at
// another address gets a new connection. Safe for concurrent use.
type Dialer struct {
	nodes NodeLookup
	opts  []grpc.DialOption

	mu     sync.Mutex
	closed bool
	conns  map[uint64]*dialedConn
}

type dialedConn struct {
	addr   string
	conn   *grpc.ClientConn
	client journalpb.JournalServiceClient
}

// NewDialer returns a Dialer; without options it dials in plaintext.
func NewDialer(nodes NodeLookup, opts ...grpc.DialOption) *Dialer {
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	return &Dialer{nodes: nodes, opts: opts, conns: map[uint64]*dialedConn{}}
}

// Dial returns a client of node id's JournalService. Connections are lazy:
// an unreachable node fails the first call made with the client.
func (d *Dialer) Dial(_ context.Context, id uint64) (journalpb.JournalServiceClient, error) {
	n, ok := d.nodes.Node(id)
	if !ok || n.GetGrpcAddr() == "" {
		return nil, fmt.Errorf("journal node %d: no address known", id)
	}
	addr := n.GetGrpcAddr()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("recovery: dialer closed")
	}
	if c, ok := d.conns[id]; ok {
		if c.addr == addr {
			return c.client, nil
		}
		_ = c.conn.Close()
		delete(d.conns, id)
	}
	conn, err := grpc.NewClient(addr, d.opts...)
	if err != nil {
		return nil, fmt.Errorf("journal node %d at %s: %w", id, addr, err)
	}
	c := &dialedConn{addr: addr, conn: conn, client: journalpb.NewJournalServiceClient(conn)}
	d.conns[id] = c
	return c.client, nil
}

// Close closes every connection; later Dials fail.
func (d *Dialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	var errs []error
	for id, c := range d.conns {
		errs = append(errs, c.conn.Close())
		delete(d.conns, id)
	}
	return errors.Join(errs...)
}
