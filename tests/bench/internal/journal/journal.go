package journal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/bench/internal/cluster"
	"github.com/robustmq/robustmq-go/tests/bench/internal/procs"
	"github.com/robustmq/robustmq-go/tests/bench/internal/window"
)

// Nodes is the number of journal nodes.
const Nodes = 3

// Options locate the journal-server binary and its configs.
type Options struct {
	Binary string
	// ConfigDir holds node-1.toml .. node-3.toml; ids, addresses, the
	// placement members and data dirs are overridden by flags, the rest
	// (segment roll and retention, limits) is as shipped.
	ConfigDir    string
	WorkDir      string
	Placement    []string
	ReadyTimeout time.Duration
	// Nodes is the number of journal nodes (Nodes, 3, when zero).
	Nodes int
}

// Cluster is the running journal nodes (three unless Options.Nodes says
// otherwise) and a stream client over them.
type Cluster struct {
	Addrs     []string // gRPC
	HTTPAddrs []string // /metrics, /healthz
	Client    *streamclient.Client
	lc        *leaderclient.Client
}

// Start starts the nodes and waits until each serves /healthz and the
// placement center lists all of them ALIVE at their addresses.
func Start(ctx context.Context, g *procs.Group, o Options) (*Cluster, error) {
	n := o.Nodes
	if n <= 0 {
		n = Nodes
	}
	ports, err := cluster.FreePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	var members []*procs.Proc
	for i := range n {
		id := i + 1
		addr := fmt.Sprintf("127.0.0.1:%d", ports[2*i])
		httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])
		c.Addrs = append(c.Addrs, addr)
		c.HTTPAddrs = append(c.HTTPAddrs, httpAddr)
		p, err := g.Start(procs.Spec{
			Name: fmt.Sprintf("journal-%d", id),
			Path: o.Binary,
			Args: []string{
				"--config", filepath.Join(o.ConfigDir, fmt.Sprintf("node-%d.toml", id)),
				"--node-id", fmt.Sprint(id),
				"--grpc-addr", addr,
				"--http-addr", httpAddr,
				"--placement", strings.Join(o.Placement, ","),
				"--data-dir", filepath.Join(o.WorkDir, fmt.Sprintf("journal-%d", id)),
				"--log-level", "warn",
				"--log-format", "json",
			},
			ScrubEnvPrefixes: []string{"ROBUSTMQ_JOURNAL_"},
		})
		if err != nil {
			return nil, err
		}
		members = append(members, p)
	}
	lc, err := leaderclient.Dial(o.Placement, leaderclient.Options{CallTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("journal: placement client: %w", err)
	}
	c.lc = lc
	rctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	api := placementpb.NewPlacementServiceClient(lc)
	if err := poll(rctx, members, func(ctx context.Context) error { return c.ready(ctx, api) }); err != nil {
		lc.Close()
		if errors.Is(rctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("journal: interrupted while waiting for the nodes: %w", err)
		}
		return nil, fmt.Errorf("journal: nodes not ready within %v: %w\nmember logs:\n%s", o.ReadyTimeout, err, g.LogTails(15))
	}
	c.Client = streamclient.New(lc, streamclient.Options{WatchMetadata: true})
	return c, nil
}

func (c *Cluster) ready(ctx context.Context, api placementpb.PlacementServiceClient) error {
	for _, h := range c.HTTPAddrs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("healthz %s: %w", h, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %s: %s", h, resp.Status)
		}
	}
	resp, err := api.ListNodes(ctx, &placementpb.ListNodesRequest{Kind: placementpb.NodeKind_NODE_KIND_JOURNAL})
	if err != nil {
		return fmt.Errorf("list journal nodes: %w", err)
	}
	alive := map[string]bool{}
	for _, n := range resp.GetNodes() {
		if n.GetStatus() == placementpb.NodeStatus_NODE_STATUS_ALIVE {
			alive[n.GetGrpcAddr()] = true
		}
	}
	for _, a := range c.Addrs {
		if !alive[a] {
			return fmt.Errorf("journal node at %s not registered ALIVE yet", a)
		}
	}
	return nil
}

// Close closes the stream client and the placement connection.
func (c *Cluster) Close() error {
	return errors.Join(c.Client.Close(), c.lc.Close())
}

// CreateStream creates a one-partition stream with the given replica count
// and ack quorum.
func (c *Cluster) CreateStream(ctx context.Context, name string, replicas, ackQuorum uint32) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _, err := c.Client.CreateStream(ctx, name, streamclient.StreamConfig{Partitions: 1, Replicas: replicas, AckQuorum: ackQuorum})
	if err != nil {
		return fmt.Errorf("journal: create stream %s: %w", name, err)
	}
	st, err := c.Client.DescribeStream(ctx, name)
	if err != nil {
		return fmt.Errorf("journal: describe stream %s: %w", name, err)
	}
	if st.Replicas != replicas || st.AckQuorum != ackQuorum {
		return fmt.Errorf("journal: stream %s has replicas %d, ack quorum %d; want %d, %d", name, st.Replicas, st.AckQuorum, replicas, ackQuorum)
	}
	return nil
}

// Producer writes single-record batches to partition 0 of a stream.
type Producer struct {
	p       *streamclient.Producer
	recs    []recordbatch.Record
	timeout time.Duration
}

// NewProducer opens an idempotent producer that holds up to window
// unacknowledged appends (the benchmark's concurrency). maxInFlight bounds
// its Append requests in flight; the appends queued behind a full window
// of requests are merged into one batch (streamclient's MergeBytes). 0 or
// at least window: every append is its own request and nothing merges.
func (c *Cluster) NewProducer(ctx context.Context, stream string, value []byte, window, maxInFlight int, timeout time.Duration) (*Producer, error) {
	if maxInFlight <= 0 || maxInFlight > window {
		maxInFlight = window
	}
	p, err := c.Client.NewProducer(ctx, stream, streamclient.ProducerOptions{MaxInFlight: maxInFlight, MaxQueued: window, DeliveryTimeout: timeout})
	if err != nil {
		return nil, fmt.Errorf("journal: producer: %w", err)
	}
	return &Producer{p: p, recs: []recordbatch.Record{{Value: value}}, timeout: timeout}, nil
}

// Submit is the window.Submit of one single-record append.
func (p *Producer) Submit(done func(error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	err := p.p.AppendAsync(ctx, 0, p.recs, func(_ streamclient.AppendResult, err error) {
		cancel()
		done(err)
	})
	if err != nil {
		cancel()
	}
	return err
}

var _ window.Submit = (*Producer)(nil).Submit

// Close waits for queued batches (bounded) and stops the producer.
func (p *Producer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.p.Close(ctx)
}

// ConsumeResult is one read-back of a stream.
type ConsumeResult struct {
	Records int64
	Bytes   int64 // record values
	Elapsed time.Duration
}

// Consume reads partition 0 of stream from its earliest offset to its
// committed end (no follow), until want records were read (0: to the end)
// or timeout passes.
func (c *Cluster) Consume(ctx context.Context, stream string, want int64, timeout time.Duration) (ConsumeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, err := c.Client.NewReader(stream, 0, streamclient.ReaderOptions{Start: streamclient.Earliest()})
	if err != nil {
		return ConsumeResult{}, err
	}
	defer r.Close()
	var res ConsumeResult
	start := time.Now()
	for want <= 0 || res.Records < want {
		msgs, err := r.Next(ctx)
		if errors.Is(err, streamclient.ErrCaughtUp) {
			break
		}
		if err != nil {
			res.Elapsed = time.Since(start)
			return res, fmt.Errorf("journal: consume %s after %d records: %w", stream, res.Records, err)
		}
		for _, m := range msgs {
			res.Records++
			res.Bytes += int64(len(m.Value))
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// poll runs probe every 100ms until it succeeds, ctx ends, or a member
// exits.
func poll(ctx context.Context, members []*procs.Proc, probe func(context.Context) error) error {
	var last error
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, m := range members {
			select {
			case <-m.Exited():
				return fmt.Errorf("%s exited: %v", m.Name, m.ExitErr())
			default:
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := probe(pctx)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}
