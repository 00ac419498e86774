package recovery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"

	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Cache is the part of the metadata cache the driver reads;
// *metacache.Cache satisfies it.
type Cache interface {
	Subscribe() (<-chan struct{}, func())
	Segments(keep func(*placementpb.Segment) bool) []*placementpb.Segment
	Segment(tenant, shard string, seq uint32) (*placementpb.Segment, bool)
}

var _ Cache = (*metacache.Cache)(nil)

// nodeSource is implemented by caches that know the nodes
// (*metacache.Cache does).
type nodeSource interface {
	Node(id uint64) (*placementpb.ClusterNode, bool)
}

// excludeOldLeader is what the next segment must not be placed on: the
// old leader, unless it is ALIVE in the metadata (it restarted and
// registered again, which is what ended its leadership: leaving it out
// would only shrink the next segment's replica set).
func (d *Driver) excludeOldLeader(seg *placementpb.Segment) []uint64 {
	if ns, ok := d.cfg.Cache.(nodeSource); ok {
		if n, ok := ns.Node(seg.GetLeader()); ok && n.GetStatus() == placementpb.NodeStatus_NODE_STATUS_ALIVE {
			return nil
		}
	}
	return []uint64{seg.GetLeader()}
}

// DialFunc returns a client of a journal node's gRPC API. Implementations
// reuse connections; the caller never closes what it gets. (*Dialer).Dial
// is one.
type DialFunc func(ctx context.Context, nodeID uint64) (journalpb.JournalServiceClient, error)

// Config configures a Driver. NodeID, Cache, Placement and Dial are
// required; zero durations take the defaults noted.
type Config struct {
	// NodeID is this journal node's id in the placement center.
	NodeID uint64
	// Store holds this node's replicas, reached directly; nil reaches this
	// node over Dial like any other.
	Store *segstore.Store
	// Cache is the metadata cache (production: *metacache.Cache).
	Cache Cache
	// Placement is the placement center client (production: one over
	// common/leaderclient, so SealAndRoll follows the leader).
	Placement placementpb.PlacementServiceClient
	// Dial reaches other journal nodes.
	Dial DialFunc
	Log  zerolog.Logger

	// Hooks, all optional, are told after this package changed a local
	// replica directly through Store, so the node's leader state and
	// waiting readers react at once (production: OnFenced =
	// (*replication.Manager).Fenced, OnSealed = (*replication.Manager).Sealed,
	// OnChanged = (*replication.Changes).Notify).
	Hooks

	// RPCTimeout bounds one Fence, Describe, Seal or SealAndRoll call (5s).
	RPCTimeout time.Duration
	// CopyTimeout bounds copying a tail to one replica (2m).
	CopyTimeout time.Duration
	// FenceGrace is how long to keep waiting for the remaining replicas'
	// fence replies once enough replied (300ms): more replies mean more
	// replicas completed and sealed in this attempt.
	FenceGrace time.Duration
	// MinBackoff and MaxBackoff bound the pause between attempts (200ms,
	// 10s; doubled after each failure, with jitter).
	MinBackoff, MaxBackoff time.Duration
	// Rescan re-reads the cache even without a change notification (30s).
	Rescan time.Duration
}

// Hooks are called after a local replica was changed directly through the
// segstore; nil fields are skipped. OnChanged follows every change,
// including those OnFenced and OnSealed report.
type Hooks struct {
	OnFenced  func(id segstore.SegmentID, epoch uint64)
	OnSealed  func(id segstore.SegmentID, end uint64)
	OnChanged func(id segstore.SegmentID)
}

// Fenced reports a local fence.
func (h Hooks) Fenced(id segstore.SegmentID, epoch uint64) {
	if h.OnFenced != nil {
		h.OnFenced(id, epoch)
	}
	h.Changed(id)
}

// Sealed reports a local seal.
func (h Hooks) Sealed(id segstore.SegmentID, end uint64) {
	if h.OnSealed != nil {
		h.OnSealed(id, end)
	}
	h.Changed(id)
}

// Changed reports any other local change (appended, deleted).
func (h Hooks) Changed(id segstore.SegmentID) {
	if h.OnChanged != nil {
		h.OnChanged(id)
	}
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.RPCTimeout, 5*time.Second)
	def(&c.CopyTimeout, 2*time.Minute)
	def(&c.FenceGrace, 300*time.Millisecond)
	def(&c.MinBackoff, 200*time.Millisecond)
	def(&c.MaxBackoff, 10*time.Second)
	def(&c.Rescan, 30*time.Second)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	return c
}

// Driver runs the recoveries this node is named for. Create with New.
type Driver struct {
	cfg Config
	log zerolog.Logger
}

// New returns a driver; Run starts it.
func New(cfg Config) (*Driver, error) {
	switch {
	case cfg.NodeID == 0:
		return nil, errors.New("recovery: NodeID is required")
	case cfg.Cache == nil:
		return nil, errors.New("recovery: Cache is required")
	case cfg.Placement == nil:
		return nil, errors.New("recovery: Placement is required")
	case cfg.Dial == nil:
		return nil, errors.New("recovery: Dial is required")
	}
	cfg = cfg.withDefaults()
	return &Driver{cfg: cfg, log: cfg.Log.With().Str("component", "recovery").Logger()}, nil
}

// running is one recovery worker.
type running struct {
	version uint64
	cancel  context.CancelFunc
}

// workerDone reports a worker's end.
type workerDone struct {
	key     metacache.SegmentKey
	version uint64
}

// Run watches the cache and runs one worker per segment that is RECOVERING
// with this node as recovery node, until ctx ends. It returns nil after
// every worker stopped.
func (d *Driver) Run(ctx context.Context) error {
	changes, unsubscribe := d.cfg.Cache.Subscribe()
	defer unsubscribe()
	rescan := time.NewTicker(d.cfg.Rescan)
	defer rescan.Stop()

	var wg sync.WaitGroup
	workers := map[metacache.SegmentKey]running{}
	// finished remembers (segment, version) pairs a worker completed or
	// gave up on, so a lagging cache does not restart them.
	finished := map[metacache.SegmentKey]uint64{}
	done := make(chan workerDone)
	defer func() {
		for _, w := range workers {
			w.cancel()
		}
		// Drain completions so no worker blocks on done.
		go func() {
			wg.Wait()
			close(done)
		}()
		for range done {
		}
	}()

	for {
		wanted := map[metacache.SegmentKey]*placementpb.Segment{}
		for _, seg := range d.cfg.Cache.Segments(d.mine) {
			wanted[keyOf(seg)] = seg
		}
		for k, w := range workers {
			if seg, ok := wanted[k]; !ok || seg.GetVersion() != w.version {
				w.cancel()
				delete(workers, k)
			}
		}
		for k := range finished {
			if seg, ok := wanted[k]; !ok || seg.GetVersion() != finished[k] {
				delete(finished, k)
			}
		}
		for k, seg := range wanted {
			if _, ok := workers[k]; ok {
				continue
			}
			if v, ok := finished[k]; ok && v == seg.GetVersion() {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			workers[k] = running{version: seg.GetVersion(), cancel: cancel}
			wg.Add(1)
			go func(seg *placementpb.Segment) {
				defer wg.Done()
				defer cancel()
				d.recover(wctx, seg)
				select {
				case done <- workerDone{key: keyOf(seg), version: seg.GetVersion()}:
				case <-ctx.Done():
				}
			}(seg)
		}

		select {
		case <-ctx.Done():
			return nil
		case <-changes:
		case <-rescan.C:
		case w := <-done:
			if cur, ok := workers[w.key]; ok && cur.version == w.version {
				cur.cancel()
				delete(workers, w.key)
			}
			finished[w.key] = w.version
		}
	}
}

func (d *Driver) mine(seg *placementpb.Segment) bool {
	return seg.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING &&
		seg.GetRecoveryNode() == d.cfg.NodeID
}

func keyOf(seg *placementpb.Segment) metacache.SegmentKey {
	return metacache.SegmentKey{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}
}

func idOf(seg *placementpb.Segment) segstore.SegmentID {
	return segstore.SegmentID{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}
}

// outcome of one attempt.
type outcome int

const (
	retry    outcome = iota // try again after a pause
	finished                // SealAndRoll succeeded
	stop                    // placement says somebody else finished, or it is gone
)

// recover retries attempts on seg until it is finished, stopped, no longer
// this node's, or ctx ends.
func (d *Driver) recover(ctx context.Context, seg *placementpb.Segment) {
	log := d.log.With().Str("segment", idOf(seg).String()).Uint64("epoch", seg.GetEpoch()).
		Uint64("version", seg.GetVersion()).Uint64("old_leader", seg.GetLeader()).Logger()
	log.Info().Msg("recovery started")
	backoff := d.cfg.MinBackoff
	for attempt := 1; ctx.Err() == nil; attempt++ {
		cur, ok := d.cfg.Cache.Segment(seg.GetTenant(), seg.GetShard(), seg.GetSeq())
		if !ok || !d.mine(cur) || cur.GetVersion() != seg.GetVersion() {
			log.Info().Msg("segment no longer recovering with this node; recovery stops")
			return
		}
		res, err := d.attempt(ctx, seg, log)
		switch res {
		case finished:
			return
		case stop:
			log.Info().Err(err).Msg("recovery stops: placement already moved on")
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", backoff).Msg("recovery attempt failed")
		if !lifecycle.Sleep(ctx, jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, d.cfg.MaxBackoff)
	}
}

// needed is the number of replicas whose replies intersect every ack
// quorum: replica_count - ack_quorum + 1 (ack_quorum clamped to
// [1, replica_count]).
func needed(seg *placementpb.Segment) int {
	n := len(seg.GetReplicas())
	q := min(max(int(seg.GetAckQuorum()), 1), n)
	return n - q + 1
}

// reply is one fenced replica's answer.
type reply struct {
	rep replica
	st  replicaState
}

// attempt runs the protocol once.
func (d *Driver) attempt(ctx context.Context, seg *placementpb.Segment, log zerolog.Logger) (outcome, error) {
	if len(seg.GetReplicas()) == 0 {
		return retry, errors.New("segment has no replicas")
	}
	need := needed(seg)
	reps := d.replicas(seg)

	// 1-2. Fence everybody; enough replies intersect every ack quorum.
	replies := d.fenceAll(ctx, seg, reps, need)
	if len(replies) < need {
		return retry, fmt.Errorf("only %d of %d replicas answered the fence, %d needed", len(replies), len(reps), need)
	}

	// 3. Choose the end.
	end, src, err := chooseEnd(seg, replies)
	if err != nil {
		return retry, err
	}
	log.Info().Uint64("end", end).Uint64("source", src.rep.nodeID()).Int("replies", len(replies)).Msg("recovery chose the end")

	// 4. Complete and seal every replica we can reach.
	sealed := d.sealAll(ctx, seg, reps, replies, src.rep, end, log)
	if sealed < need {
		return retry, fmt.Errorf("sealed at %d on %d replicas, %d needed", end, sealed, need)
	}

	// 5. Commit the end and open the next segment.
	cctx, cancel := context.WithTimeout(ctx, 2*d.cfg.RPCTimeout)
	defer cancel()
	resp, err := d.cfg.Placement.SealAndRoll(cctx, &placementpb.SealAndRollRequest{
		Tenant:          seg.GetTenant(),
		Shard:           seg.GetShard(),
		Seq:             seg.GetSeq(),
		EndOffset:       end,
		ExpectedVersion: seg.GetVersion(),
		ExcludeNodes:    d.excludeOldLeader(seg),
	})
	if err != nil {
		if _, ok := rpcerr.AsVersionMismatch(err); ok {
			return stop, err
		}
		if _, ok := rpcerr.AsSegmentSealed(err); ok {
			return stop, err
		}
		if rpcerr.Code(err) == codes.NotFound {
			return stop, err
		}
		return retry, fmt.Errorf("seal and roll at %d: %w", end, err)
	}
	log.Info().Uint64("end", end).Uint32("next_seq", resp.GetNext().GetSeq()).
		Uint64("next_leader", resp.GetNext().GetLeader()).Msg("recovery done: segment sealed and rolled")
	return finished, nil
}

// replicas returns one handle per replica of seg, the local one first.
func (d *Driver) replicas(seg *placementpb.Segment) []replica {
	id := idOf(seg)
	var out []replica
	for _, n := range seg.GetReplicas() {
		if n == d.cfg.NodeID && d.cfg.Store != nil {
			out = append([]replica{&localReplica{node: n, store: d.cfg.Store, id: id, hooks: d.cfg.Hooks}}, out...)
			continue
		}
		out = append(out, &remoteReplica{node: n, dial: d.cfg.Dial, id: id})
	}
	return out
}

// fenceAll fences every replica concurrently and returns the replies that
// arrived: all of them, or those in by FenceGrace after the need-th, or by
// the RPC timeout.
func (d *Driver) fenceAll(ctx context.Context, seg *placementpb.Segment, reps []replica, need int) []reply {
	type result struct {
		r   reply
		err error
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RPCTimeout)
	defer cancel()
	results := make(chan result, len(reps))
	var wg sync.WaitGroup
	defer wg.Wait() // the calls end promptly once ctx is canceled
	for _, r := range reps {
		wg.Add(1)
		go func(r replica) {
			defer wg.Done()
			st, err := r.fence(ctx, seg.GetEpoch(), seg.GetStartOffset())
			results <- result{reply{rep: r, st: st}, err}
		}(r)
	}
	var out []reply
	var grace <-chan time.Time
	graceTimer := time.NewTimer(time.Hour)
	graceTimer.Stop()
	defer graceTimer.Stop()
	for pending := len(reps); pending > 0; pending-- {
		select {
		case res := <-results:
			if res.err != nil {
				d.log.Debug().Err(res.err).Uint64("node", res.r.rep.nodeID()).Msg("fence failed")
				continue
			}
			out = append(out, res.r)
			if len(out) >= need && grace == nil {
				graceTimer.Reset(d.cfg.FenceGrace)
				grace = graceTimer.C
			}
		case <-grace:
			return out
		case <-ctx.Done():
			return out
		}
	}
	return out
}

// chooseEnd picks the end and the replica to copy from. A replica already
// sealed (by an earlier attempt) fixes the end; otherwise it is the highest
// log end among the replies. It refuses an end below any replier's LAC.
func chooseEnd(seg *placementpb.Segment, replies []reply) (uint64, reply, error) {
	var end uint64
	sealedAt := -1
	for i, r := range replies {
		if !r.st.sealed {
			continue
		}
		if sealedAt >= 0 && replies[sealedAt].st.sealedEnd != r.st.sealedEnd {
			return 0, reply{}, fmt.Errorf("replicas are sealed at different ends: node %d at %d, node %d at %d",
				replies[sealedAt].rep.nodeID(), replies[sealedAt].st.sealedEnd, r.rep.nodeID(), r.st.sealedEnd)
		}
		sealedAt = i
	}
	if sealedAt >= 0 {
		end = replies[sealedAt].st.sealedEnd
	} else {
		for _, r := range replies {
			end = max(end, r.st.logEnd)
		}
	}
	if end < seg.GetStartOffset() {
		return 0, reply{}, fmt.Errorf("end %d below the segment start %d", end, seg.GetStartOffset())
	}
	// Never trim committed data: every LAC a replier knows is below E.
	for _, r := range replies {
		if r.st.lac > end {
			return 0, reply{}, fmt.Errorf("BUG: end %d is below node %d's LAC %d; refusing to seal", end, r.rep.nodeID(), r.st.lac)
		}
	}
	// The source holds [start, end): prefer a sealed replica, then the
	// local one (replicas lists it first), then any full one.
	var src reply
	found := false
	for _, r := range replies {
		if r.st.logEnd >= end && (!found || (r.st.sealed && !src.st.sealed)) {
			src, found = r, true
		}
	}
	if !found {
		return 0, reply{}, fmt.Errorf("no replier holds the data up to %d", end)
	}
	return end, src, nil
}

// sealAll completes and seals every replica at end concurrently and
// returns how many are sealed at end.
func (d *Driver) sealAll(ctx context.Context, seg *placementpb.Segment, reps []replica, replies []reply, src replica, end uint64, log zerolog.Logger) int {
	known := map[uint64]replicaState{}
	for _, r := range replies {
		known[r.rep.nodeID()] = r.st
	}
	var mu sync.Mutex
	sealed := 0
	var wg sync.WaitGroup
	for _, r := range reps {
		st, replied := known[r.nodeID()]
		wg.Add(1)
		go func(r replica) {
			defer wg.Done()
			err := d.completeAndSeal(ctx, seg, r, src, end, st, replied)
			if err != nil {
				ev := log.Warn()
				if !replied {
					ev = log.Debug() // typically the dead leader
				}
				ev.Err(err).Uint64("node", r.nodeID()).Msg("replica not sealed")
				return
			}
			mu.Lock()
			sealed++
			mu.Unlock()
		}(r)
	}
	wg.Wait()
	return sealed
}

// completeAndSeal copies what r misses below end from src, then seals r at
// end. st is r's fenced state when replied, else it is described after a
// failed seal.
func (d *Driver) completeAndSeal(ctx context.Context, seg *placementpb.Segment, r, src replica, end uint64, st replicaState, replied bool) error {
	seal := func() error {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.RPCTimeout)
		defer cancel()
		return r.seal(cctx, end)
	}
	if replied && st.sealed {
		if st.sealedEnd != end {
			return fmt.Errorf("already sealed at %d", st.sealedEnd)
		}
		return nil
	}
	if !replied {
		// Not fenced by us in time: try the seal (it trims a longer tail),
		// and find out what it misses only if that fails.
		if err := seal(); err == nil {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, d.cfg.RPCTimeout)
		var err error
		st, err = r.describe(cctx)
		cancel()
		if err != nil {
			return err
		}
		if st.sealed {
			if st.sealedEnd != end {
				return fmt.Errorf("already sealed at %d", st.sealedEnd)
			}
			return nil
		}
	}
	if st.logEnd < end && r != src {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.CopyTimeout)
		err := r.copyFrom(cctx, src, seg.GetEpoch(), seg.GetStartOffset(), st.logEnd, end)
		cancel()
		if err != nil {
			return fmt.Errorf("copy [%d, %d) from node %d: %w", st.logEnd, end, src.nodeID(), err)
		}
	}
	return seal()
}

// jitter spreads d over [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}
