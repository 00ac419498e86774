package streamclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/grpcbuf"
	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// DefaultTenant is the tenant used when Options.Tenant is empty.
const DefaultTenant = "default"

// Options configures a Client. Zero values take defaults.
type Options struct {
	// Tenant owns the streams this client works on (default "default").
	Tenant string
	// Cache is a running metadata cache the caller shares with the client
	// (a broker has one already). When nil and WatchMetadata is set, the
	// client runs its own until Close; when nil and not set, every lookup
	// asks the placement center.
	Cache         *metacache.Cache
	WatchMetadata bool
	// MetadataTimeout bounds one placement call (default 5s).
	MetadataTimeout time.Duration
	// DialOptions are added to the journal connections (after insecure
	// transport credentials, so they may override them).
	DialOptions []grpc.DialOption
	Logger      zerolog.Logger
}

// Client reaches the placement center (through any
// grpc.ClientConnInterface, normally a leaderclient.Client) and the journal
// nodes. Safe for concurrent use.
type Client struct {
	placement placementpb.PlacementServiceClient
	tenant    string
	log       zerolog.Logger
	mdTimeout time.Duration

	cache      *metacache.Cache
	cacheReady atomic.Bool
	stopCache  context.CancelFunc
	cacheDone  chan struct{}

	pool *pool

	mu        sync.Mutex
	nodeAddrs map[uint64]string // from ListNodes, when the cache lacks a node
	closed    bool
}

// New returns a client over placement. It dials nothing yet.
func New(placement grpc.ClientConnInterface, opts Options) *Client {
	if opts.Tenant == "" {
		opts.Tenant = DefaultTenant
	}
	if opts.MetadataTimeout <= 0 {
		opts.MetadataTimeout = 5 * time.Second
	}
	c := &Client{
		placement: placementpb.NewPlacementServiceClient(placement),
		tenant:    opts.Tenant,
		log:       opts.Logger,
		mdTimeout: opts.MetadataTimeout,
		pool:      newPool(opts.DialOptions),
		nodeAddrs: map[uint64]string{},
		cache:     opts.Cache,
	}
	// readyCtx ends the readiness wait with the client's own cache; a
	// shared cache is the caller's to run.
	readyCtx := context.Background()
	if c.cache == nil && opts.WatchMetadata {
		c.cache = metacache.New(c.placement, opts.Logger)
		ctx, cancel := context.WithCancel(context.Background())
		readyCtx = ctx
		c.stopCache = cancel
		c.cacheDone = make(chan struct{})
		go func() {
			defer close(c.cacheDone)
			_ = c.cache.Run(ctx)
		}()
	}
	if c.cache != nil {
		cache := c.cache
		go func() {
			if cache.Ready(readyCtx) == nil {
				c.cacheReady.Store(true)
			}
		}()
	}
	return c
}

// Tenant is the tenant the client works in.
func (c *Client) Tenant() string { return c.tenant }

// Close stops the client's own metadata cache and closes the journal
// connections. Producers and readers must be closed first.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	if c.stopCache != nil {
		c.stopCache()
		<-c.cacheDone
	}
	return c.pool.close()
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// mdCtx bounds one placement call.
func (c *Client) mdCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.mdTimeout)
}

// cached reports whether lookups may use the cache now.
func (c *Client) cached() *metacache.Cache {
	if c.cache != nil && c.cacheReady.Load() {
		return c.cache
	}
	return nil
}

// shard returns a partition shard and its segments ordered by seq: from the
// cache unless fresh (or the cache does not know it), else from the
// placement center.
func (c *Client) shard(ctx context.Context, name string, fresh bool) (*placementpb.Shard, []*placementpb.Segment, error) {
	if mc := c.cached(); mc != nil && !fresh {
		if sh, segs, ok := mc.Shard(c.tenant, name); ok && len(segs) > 0 {
			return sh, segs, nil
		}
	}
	ctx, cancel := c.mdCtx(ctx)
	defer cancel()
	resp, err := c.placement.GetShard(ctx, &placementpb.GetShardRequest{Tenant: c.tenant, Name: name})
	if err != nil {
		return nil, nil, err
	}
	return resp.GetShard(), resp.GetSegments(), nil
}

// nodeAddr returns a journal node's gRPC address.
func (c *Client) nodeAddr(ctx context.Context, id uint64, fresh bool) (string, error) {
	if mc := c.cached(); mc != nil && !fresh {
		if n, ok := mc.Node(id); ok && n.GetGrpcAddr() != "" {
			return n.GetGrpcAddr(), nil
		}
	}
	c.mu.Lock()
	addr, ok := c.nodeAddrs[id]
	c.mu.Unlock()
	if ok && !fresh {
		return addr, nil
	}
	ctx, cancel := c.mdCtx(ctx)
	defer cancel()
	resp, err := c.placement.ListNodes(ctx, &placementpb.ListNodesRequest{Kind: placementpb.NodeKind_NODE_KIND_JOURNAL})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range resp.GetNodes() {
		c.nodeAddrs[n.GetNodeId()] = n.GetGrpcAddr()
	}
	addr, ok = c.nodeAddrs[id]
	if !ok || addr == "" {
		return "", status.Errorf(codes.Unavailable, "streamclient: journal node %d is not registered", id)
	}
	return addr, nil
}

// journal returns a JournalService client for a node.
func (c *Client) journal(ctx context.Context, node uint64, fresh bool) (journalpb.JournalServiceClient, string, error) {
	addr, err := c.nodeAddr(ctx, node, fresh)
	if err != nil {
		return nil, "", err
	}
	cc, err := c.pool.get(addr)
	if err != nil {
		return nil, "", err
	}
	return journalpb.NewJournalServiceClient(cc), addr, nil
}

// errNotWritable: the partition has no OPEN segment right now (recovery or
// a roll in progress). Retryable.
var errNotWritable = status.Error(codes.Unavailable, "streamclient: the partition's active segment is not open (recovery or roll in progress)")

// activeSegment picks the shard's active segment (by active_segment, else
// the highest seq).
func activeSegment(sh *placementpb.Shard, segs []*placementpb.Segment) *placementpb.Segment {
	var last *placementpb.Segment
	for _, s := range segs {
		if s.GetSeq() == sh.GetActiveSegment() {
			return s
		}
		if last == nil || s.GetSeq() > last.GetSeq() {
			last = s
		}
	}
	return last
}

func sameSegment(a, b *placementpb.Segment) bool {
	return a != nil && b != nil && a.GetSeq() == b.GetSeq() && a.GetEpoch() == b.GetEpoch() && a.GetLeader() == b.GetLeader()
}

// writeTarget finds the segment a partition's appends go to now and its
// leader's address. avoid is the segment whose leader just failed: a cached
// answer equal to it is not trusted and the placement center is asked.
func (c *Client) writeTarget(ctx context.Context, shard string, avoid *placementpb.Segment) (*placementpb.Segment, string, error) {
	for _, fresh := range []bool{false, true} {
		sh, segs, err := c.shard(ctx, shard, fresh)
		if err != nil {
			return nil, "", err
		}
		seg := activeSegment(sh, segs)
		if seg == nil {
			return nil, "", status.Errorf(codes.Unavailable, "streamclient: shard %s has no segment", shard)
		}
		if !fresh && (seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN || sameSegment(seg, avoid)) {
			continue
		}
		if seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN {
			return nil, "", errNotWritable
		}
		addr, err := c.nodeAddr(ctx, seg.GetLeader(), fresh)
		if err != nil {
			return nil, "", err
		}
		return seg, addr, nil
	}
	panic("unreachable")
}

// pool holds one gRPC connection per journal address.
type pool struct {
	opts   []grpc.DialOption
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func newPool(opts []grpc.DialOption) *pool {
	return &pool{opts: opts, conns: map[string]*grpc.ClientConn{}}
}

func (p *pool) get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if cc, ok := p.conns[addr]; ok {
		return cc, nil
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, grpcbuf.DialOptions()...)
	opts = append(opts, p.opts...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "streamclient: dial %s: %v", addr, err)
	}
	p.conns[addr] = cc
	return cc, nil
}

func (p *pool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for addr, cc := range p.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", addr, err))
		}
	}
	p.conns = nil
	return errors.Join(errs...)
}

// openTimeout bounds opening a journal stream: a node that accepts TCP
// but never answers (stopped, overloaded) must not hold the caller.
const openTimeout = 5 * time.Second

// openBounded opens a stream whose context (cancel) must outlive the open,
// cancelling it if the open takes longer than openTimeout.
func openBounded[S any](cancel context.CancelFunc, open func() (S, error)) (S, error) {
	timer := time.AfterFunc(openTimeout, cancel)
	s, err := open()
	if !timer.Stop() {
		// The context was cancelled: whatever open returned is dead.
		var zero S
		return zero, status.Errorf(codes.DeadlineExceeded, "streamclient: opening a journal stream took over %v", openTimeout)
	}
	return s, err
}
