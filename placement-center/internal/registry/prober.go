package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Probe defaults (config keys registry.probe_*).
const (
	DefaultProbeInterval = 500 * time.Millisecond
	DefaultProbeTimeout  = 300 * time.Millisecond
	DefaultProbeAttempts = 3
	DefaultProbeBackoff  = 150 * time.Millisecond
)

// ProbeConfig tunes the leader's health probing of registered nodes.
type ProbeConfig struct {
	// Interval is how often each node's health is checked besides its
	// Watch stream; it also paces the reconciliation of the probed set
	// with the registered nodes. Zero or negative turns probing off.
	Interval time.Duration
	// Timeout bounds one health Check.
	Timeout time.Duration
	// Attempts is how many probes in a row must fail, each on a fresh
	// connection, before the node counts as unreachable.
	Attempts int
	// Backoff is the pause between two probes.
	Backoff time.Duration
	// DialOptions replace the default options (plaintext) of connections
	// to nodes.
	DialOptions []grpc.DialOption
}

func (c ProbeConfig) withDefaults() ProbeConfig {
	if c.Interval <= 0 {
		c.Interval = 0
		return c
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultProbeTimeout
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultProbeAttempts
	}
	if c.Backoff < 0 {
		c.Backoff = 0
	}
	if len(c.DialOptions) == 0 {
		c.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	return c
}

// Why a node every probe failed for was left to its lease (the why label
// of robustmq_placement_node_probe_spared_total).
const (
	spareNeverReached = "never_reached"
	spareNotServing   = "not_serving"
	spareHeartbeating = "heartbeating"
	spareMassFailure  = "mass_failure"
)

// prober runs, while this member leads, one watcher per ALIVE or DRAINING
// registered node. It is owned by its Registry and runs inside Registry.Run.
type prober struct {
	r    *Registry
	cfg  ProbeConfig
	kick chan struct{}
	// running counts live watcher goroutines (tests read it).
	running atomic.Int64

	mu sync.Mutex
	// watchers are the current term's, by node id; nil outside a term.
	watchers map[uint64]*watcher
}

// watcher probes one incarnation of one node.
type watcher struct {
	node   *placementpb.ClusterNode
	cancel context.CancelFunc
	done   chan struct{}
	// reached: this incarnation answered a health call during this term.
	reached atomic.Bool
	// suspect: its last health exchange failed and nothing answered since.
	suspect atomic.Bool
	// leaving: it last said NOT_SERVING (a clean stop in progress).
	leaving atomic.Bool
	// spared is the last reason it was left to its lease (logged once);
	// only the watcher's goroutine uses it.
	spared string
}

func newProber(r *Registry, cfg ProbeConfig) *prober {
	return &prober{r: r, cfg: cfg, kick: make(chan struct{}, 1)}
}

// noticed is called on a lease change of nodeID: a node registered (again)
// or unregistered is picked up at once rather than at the next interval.
func (p *prober) noticed(nodeID uint64) {
	p.mu.Lock()
	active := p.watchers != nil
	w := p.watchers[nodeID]
	p.mu.Unlock()
	if !active {
		return
	}
	if w != nil {
		// A heartbeat of the watched incarnation changes nothing.
		n, err := p.r.nodes.GetNode(nodeID)
		if err == nil && n.GetIncarnation() == w.node.GetIncarnation() && n.GetGrpcAddr() == w.node.GetGrpcAddr() &&
			serving(n.GetStatus()) {
			return
		}
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run probes during every leadership term until ctx ends; it returns when
// every watcher stopped.
func (p *prober) run(ctx context.Context) {
	for {
		leader, term, changed := p.r.leadership()
		if leader {
			p.lead(ctx, term, changed)
		} else {
			select {
			case <-ctx.Done():
			case <-changed:
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// lead keeps one watcher per ALIVE or DRAINING node until leadership
// changes or ctx ends, then stops them all and waits for them.
func (p *prober) lead(ctx context.Context, term uint64, changed <-chan struct{}) {
	tctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	p.mu.Lock()
	p.watchers = map[uint64]*watcher{}
	p.mu.Unlock()
	defer func() {
		cancel()
		wg.Wait()
		p.mu.Lock()
		p.watchers = nil
		p.mu.Unlock()
		p.r.log.Debug().Uint64("term", term).Msg("node probing stopped")
	}()
	p.r.log.Debug().Uint64("term", term).Msg("leader: probing registered nodes")
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.reconcile(tctx, term, &wg)
		select {
		case <-tctx.Done():
			return
		case <-changed:
			return
		case <-t.C:
		case <-p.kick:
		}
	}
}

// reconcile starts a watcher for each ALIVE or DRAINING node without one
// and stops those of nodes no longer either, re-registered (new incarnation or
// address) or finished.
func (p *prober) reconcile(ctx context.Context, term uint64, wg *sync.WaitGroup) {
	nodes, err := p.r.nodes.ListNodes(placementpb.NodeKind_NODE_KIND_UNSPECIFIED)
	if err != nil {
		p.r.log.Warn().Err(err).Msg("listing nodes to probe")
		return
	}
	want := map[uint64]*placementpb.ClusterNode{}
	for _, n := range nodes {
		if serving(n.GetStatus()) && n.GetGrpcAddr() != "" {
			want[n.GetNodeId()] = n
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, w := range p.watchers {
		n, ok := want[id]
		finished := false
		select {
		case <-w.done:
			finished = true
		default:
		}
		if !ok || finished || n.GetIncarnation() != w.node.GetIncarnation() || n.GetGrpcAddr() != w.node.GetGrpcAddr() {
			w.cancel()
			delete(p.watchers, id)
		}
	}
	for id, n := range want {
		if _, ok := p.watchers[id]; ok {
			continue
		}
		wctx, wcancel := context.WithCancel(ctx)
		w := &watcher{node: n, cancel: wcancel, done: make(chan struct{})}
		p.watchers[id] = w
		p.running.Add(1)
		wg.Go(func() {
			defer p.running.Add(-1)
			defer close(w.done)
			defer wcancel()
			p.watch(wctx, term, w)
		})
	}
}

// watch follows one node until ctx ends or it was declared dead (or found
// re-registered): a health Watch stream (a crashed process's connection
// breaks at once) plus a Check every Interval (a hung process or a lost
// host answers nothing); on any failure, Attempts probes on fresh
// connections decide.
func (p *prober) watch(ctx context.Context, term uint64, w *watcher) {
	defer func() {
		// A finished watcher no longer counts for the mass-failure rule.
		w.reached.Store(false)
		w.suspect.Store(false)
	}()
	for {
		cause := p.observe(ctx, w)
		if ctx.Err() != nil {
			return
		}
		w.suspect.Store(true)
		since := p.r.cfg.Now()
		p.r.log.Debug().Uint64("node", w.node.GetNodeId()).Err(cause).Msg("node health failed; probing")
		err := p.probe(ctx, w)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			w.suspect.Store(false)
			w.spared = ""
			// The node answered; a short pause keeps a flapping stream
			// from spinning.
			if !lifecycle.Sleep(ctx, p.cfg.Backoff) {
				return
			}
			continue
		}
		if p.decide(ctx, term, w, since, err) {
			return
		}
		if !lifecycle.Sleep(ctx, p.cfg.Interval) {
			return
		}
	}
}

// decide acts on a node every probe failed for: it declares it dead unless
// the evidence is weak. It reports whether the watcher is done.
func (p *prober) decide(ctx context.Context, term uint64, w *watcher, since time.Time, probeErr error) bool {
	id := w.node.GetNodeId()
	why := ""
	switch {
	case !w.reached.Load():
		// Never reached this term: an address this member cannot reach
		// (or a node not serving yet) says nothing about a change.
		why = spareNeverReached
	case w.leaving.Load():
		// It said NOT_SERVING: a clean stop, which unregisters.
		why = spareNotServing
	case p.r.heardSince(id, since):
		// It heartbeats to us while we cannot reach it.
		why = spareHeartbeating
	case !p.fewSuspects():
		// Most nodes unreachable at once looks like this member's own
		// fault (its network, its file descriptors), not theirs.
		why = spareMassFailure
	}
	if why != "" {
		p.r.metrics.spared.WithLabelValues(why).Inc()
		if w.spared != why {
			w.spared = why
			p.r.log.Info().Uint64("node", id).Str("addr", w.node.GetGrpcAddr()).Str("why", why).Err(probeErr).
				Msg("node unreachable but not declared dead by probe: left to its lease")
		}
		return false
	}
	detail := fmt.Sprintf("unreachable (no answer for %s): %v", p.r.cfg.Now().Sub(since).Round(time.Millisecond), probeErr)
	_, err := p.r.declareDead(ctx, term, w.node, ReasonUnreachable, detail)
	if err != nil {
		if ctx.Err() == nil {
			p.r.log.Warn().Err(err).Uint64("node", id).Msg("declaring unreachable node dead")
		}
		return false
	}
	// Declared, or no longer the node (or the term) it was watched for.
	return true
}

// fewSuspects reports whether at most half of the nodes reached this term
// are currently failing their health checks.
func (p *prober) fewSuspects() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	reached, suspects := 0, 0
	for _, w := range p.watchers {
		if w.reached.Load() {
			reached++
			if w.suspect.Load() {
				suspects++
			}
		}
	}
	return 2*suspects <= reached
}

// observe watches w's node until a health exchange fails, and returns why
// (or ctx's error).
func (p *prober) observe(ctx context.Context, w *watcher) error {
	cc, err := grpc.NewClient(w.node.GetGrpcAddr(), p.cfg.DialOptions...)
	if err != nil {
		return err
	}
	defer func() { _ = cc.Close() }()
	hc := healthpb.NewHealthClient(cc)
	wctx, wcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer wcancel()
	broke := make(chan error, 1)
	wg.Go(func() {
		st, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{})
		for err == nil {
			var resp *healthpb.HealthCheckResponse
			if resp, err = st.Recv(); err == nil {
				answered(w, resp.GetStatus())
			}
		}
		broke <- err
	})
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-broke:
			if !unanswered(err) {
				// The server refused the stream (e.g. Unimplemented):
				// periodic checks alone.
				broke = nil
				continue
			}
			return fmt.Errorf("health watch: %w", err)
		case <-t.C:
			if err := p.check(ctx, w, hc); err != nil {
				return err
			}
		}
	}
}

// probe runs up to Attempts health Checks, each on a fresh connection (a
// reused one would answer from its reconnect backoff without trying),
// Backoff apart. It returns nil at the first answer, else the last error.
func (p *prober) probe(ctx context.Context, w *watcher) error {
	var last error
	for i := range p.cfg.Attempts {
		if i > 0 && !lifecycle.Sleep(ctx, p.cfg.Backoff) {
			return ctx.Err()
		}
		err := p.probeOnce(ctx, w)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.r.metrics.probeFailures.Inc()
		last = err
	}
	return last
}

func (p *prober) probeOnce(ctx context.Context, w *watcher) error {
	cc, err := grpc.NewClient(w.node.GetGrpcAddr(), p.cfg.DialOptions...)
	if err != nil {
		return err
	}
	defer func() { _ = cc.Close() }()
	return p.check(ctx, w, healthpb.NewHealthClient(cc))
}

// check runs one health Check bounded by Timeout. Any answer, an error
// status from the server included, means reachable (nil); only no answer
// (Unavailable, DeadlineExceeded, Canceled) is an error.
func (p *prober) check(ctx context.Context, w *watcher, hc healthpb.HealthClient) error {
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
	switch {
	case err == nil:
		answered(w, resp.GetStatus())
		return nil
	case unanswered(err):
		return err
	default:
		answered(w, healthpb.HealthCheckResponse_UNKNOWN)
		return nil
	}
}

// answered records a health answer from w's node.
func answered(w *watcher, st healthpb.HealthCheckResponse_ServingStatus) {
	w.reached.Store(true)
	w.suspect.Store(false)
	w.leaving.Store(st == healthpb.HealthCheckResponse_NOT_SERVING)
}

// unanswered reports whether err means the node gave no answer (as opposed
// to answering with an error status).
func unanswered(err error) bool {
	if errors.Is(err, io.EOF) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// watching is the number of watchers of the current term (tests).
func (p *prober) watching() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watchers)
}
