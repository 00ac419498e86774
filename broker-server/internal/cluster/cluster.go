package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Options configure a Cluster.
type Options struct {
	// Tenant names the key space (default "default").
	Tenant string
	// Stream is the message log's stream name; Partitions and Replicas are
	// used when the broker creates it (Replicas 0: the placement center's
	// default, clamped to the live journal nodes).
	Stream     string
	Partitions int
	Replicas   int
	// SweepInterval is how often the lowest-id live broker looks for dead
	// brokers' sessions and routes and for expired sessions (default 1s).
	SweepInterval time.Duration
	// ForwardQueue bounds the messages waiting for one peer broker
	// (default 8192); past it, online forwards to that peer are dropped.
	ForwardQueue int

	Placement placementpb.PlacementServiceClient
	Cache     *metacache.Cache
	Streams   *streamclient.Client
	// Retained is the core's retained store that the watch keeps in step
	// with the cluster's.
	Retained *core.MemRetainStore
	// DialOptions are used for connections to other brokers.
	DialOptions []grpc.DialOption
	Logger      zerolog.Logger
}

// Cluster implements core.Cluster. Start it with Start once the broker is
// registered (it needs its node id), then Run it.
type Cluster struct {
	opts Options
	log  zerolog.Logger
	core *core.Broker

	// Set by Start.
	self        uint64
	incarnation uint64
	producer    *streamclient.Producer
	partitions  int
	watchFrom   uint64

	sessMu   sync.Mutex
	versions map[string]uint64 // session record versions this broker wrote

	routes   *routeTable
	peers    *peers
	writer   *routeWriter
	mappings *mappings
	stats    counters

	started chan struct{}
}

var _ core.Cluster = (*Cluster)(nil)

// New returns a cluster; Bind and Start it before use.
func New(opts Options) *Cluster {
	if opts.Tenant == "" {
		opts.Tenant = streamclient.DefaultTenant
	}
	if opts.Stream == "" {
		opts.Stream = "mqtt-messages"
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 4
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Second
	}
	if opts.ForwardQueue <= 0 {
		opts.ForwardQueue = 8192
	}
	c := &Cluster{opts: opts, log: opts.Logger, versions: map[string]uint64{}, started: make(chan struct{})}
	c.routes = newRouteTable()
	c.peers = newPeers(c)
	c.writer = newRouteWriter(c)
	c.mappings = newMappings()
	return c
}

// Bind gives the cluster the core it delivers to.
func (c *Cluster) Bind(b *core.Broker) { c.core = b }

func (c *Cluster) prefix(kind string) string {
	return "mqtt/" + c.opts.Tenant + "/" + kind + "/"
}

func (c *Cluster) sessionKey(clientID string) string { return c.prefix("sessions") + clientID }
func (c *Cluster) retainedKey(topic string) string   { return c.prefix("retained") + topic }
func (c *Cluster) routeKey(broker uint64, filter string) string {
	return c.prefix("routes") + strconv.FormatUint(broker, 10) + "/" + filter
}

// Start prepares the cluster for a broker registered as node self: it
// removes routes a previous life of this node left, makes sure the message
// log exists, opens its producer and loads the route table and retained
// messages. Clients may be served once it returns.
func (c *Cluster) Start(ctx context.Context, self, incarnation uint64) error {
	if c.core == nil {
		return errors.New("cluster: Start before Bind")
	}
	c.self, c.incarnation = self, incarnation
	if err := c.clearOwnRoutes(ctx); err != nil {
		return fmt.Errorf("clear old routes: %w", err)
	}
	if err := c.ensureStream(ctx); err != nil {
		return fmt.Errorf("message log: %w", err)
	}
	p, err := c.opts.Streams.NewProducer(ctx, c.opts.Stream, streamclient.ProducerOptions{})
	if err != nil {
		return fmt.Errorf("message log producer: %w", err)
	}
	c.producer = p
	c.partitions = p.Partitions()
	rev, err := c.load(ctx)
	if err != nil {
		_ = p.Close(ctx)
		return err
	}
	c.watchFrom = rev + 1
	close(c.started)
	return nil
}

// Run watches the route table and retained messages, writes route changes,
// forwards to peers and sweeps, until ctx ends. Call it after Start.
func (c *Cluster) Run(ctx context.Context) error {
	select {
	case <-c.started:
	case <-ctx.Done():
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); c.writer.run(ctx) }()
	go func() { defer wg.Done(); c.sweep(ctx) }()
	go func() { defer wg.Done(); c.peers.closeOnDone(ctx) }()
	err := c.watch(ctx)
	wg.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.producer.Close(cctx)
	c.mappings.mu.Lock()
	for _, p := range c.mappings.producers {
		_ = p.Close(cctx)
	}
	c.mappings.mu.Unlock()
	return err
}

// alive reports whether broker id with the given incarnation (0: any) is
// a live member of the cluster.
func (c *Cluster) alive(id, incarnation uint64) bool {
	if id == c.self && (incarnation == 0 || incarnation == c.incarnation) {
		return true
	}
	n, ok := c.opts.Cache.Node(id)
	if !ok || n.GetKind() != placementpb.NodeKind_NODE_KIND_BROKER {
		return false
	}
	if incarnation != 0 && n.GetIncarnation() != incarnation {
		return false
	}
	s := n.GetStatus()
	return s == placementpb.NodeStatus_NODE_STATUS_ALIVE || s == placementpb.NodeStatus_NODE_STATUS_DRAINING
}

// sweeper reports whether this broker is the live broker with the lowest
// node id, the one that does the cluster's housekeeping.
func (c *Cluster) sweeper() bool {
	for _, n := range c.opts.Cache.Nodes(placementpb.NodeKind_NODE_KIND_BROKER) {
		if n.GetNodeId() < c.self && c.alive(n.GetNodeId(), n.GetIncarnation()) {
			return false
		}
	}
	return true
}

func fnv32(b []byte) uint32 {
	h := uint32(2166136261)
	for _, x := range b {
		h ^= uint32(x)
		h *= 16777619
	}
	return h
}

// Server is the BrokerInternal service of this broker.
func (c *Cluster) Server() brokerpb.BrokerInternalServer { return &internalServer{c: c} }
