package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"

	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/recovery"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Cache is the part of the metadata cache reconcile reads;
// *metacache.Cache satisfies it.
type Cache interface {
	Ready(ctx context.Context) error
	Subscribe() (<-chan struct{}, func())
	Segment(tenant, shard string, seq uint32) (*placementpb.Segment, bool)
	Segments(keep func(*placementpb.Segment) bool) []*placementpb.Segment
}

var _ Cache = (*metacache.Cache)(nil)

// Config configures a Reconciler. NodeID, Store, Cache, Placement and Dial
// are required; zero values take the defaults noted.
type Config struct {
	// NodeID is this journal node's id in the placement center.
	NodeID uint64
	// Store holds this node's replicas.
	Store *segstore.Store
	// Cache is the metadata cache (production: *metacache.Cache).
	Cache Cache
	// Placement confirms deletions with a linearizable GetShard
	// (production: the client over common/leaderclient).
	Placement placementpb.PlacementServiceClient
	// Dial reaches the other replicas to copy missing batches from.
	Dial recovery.DialFunc
	Log  zerolog.Logger

	// Hooks, all optional, are told after a local replica was sealed,
	// appended to or deleted (production: OnSealed =
	// (*replication.Manager).Sealed, OnChanged = (*replication.Changes).Notify),
	// so a leader state the node still holds for it ends and readers wake.
	recovery.Hooks

	// MaxActionsPerPass bounds seals, copies and deletion checks per pass
	// (32); the rest waits for the next pass, which follows at once.
	MaxActionsPerPass int
	// RPCTimeout bounds one GetShard (5s); CopyTimeout one copy of a tail
	// from one replica (2m).
	RPCTimeout, CopyTimeout time.Duration
	// MinBackoff and MaxBackoff bound the per-segment retry pause after a
	// failed action (500ms, 30s; doubled per failure, with jitter).
	MinBackoff, MaxBackoff time.Duration
	// Rescan runs a pass even without a metadata change (30s).
	Rescan time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.MaxActionsPerPass <= 0 {
		c.MaxActionsPerPass = 32
	}
	def(&c.RPCTimeout, 5*time.Second)
	def(&c.CopyTimeout, 2*time.Minute)
	def(&c.MinBackoff, 500*time.Millisecond)
	def(&c.MaxBackoff, 30*time.Second)
	def(&c.Rescan, 30*time.Second)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	return c
}

// Reconciler corrects local replicas from the metadata. Create with New;
// Run is its only loop (Pass is exported for tests and runs one pass).
type Reconciler struct {
	cfg Config
	log zerolog.Logger

	// Only the goroutine running passes touches these.
	retry    map[segstore.SegmentID]*retryState
	reported map[segstore.SegmentID]uint64 // mismatched seals already logged
	// adoptRetry holds the backoff of sealed segments to copy here that
	// are not yet local (retry is pruned to the local replicas).
	adoptRetry map[segstore.SegmentID]*retryState
}

type retryState struct {
	delay time.Duration
	at    time.Time
}

// New returns a Reconciler; Run starts it.
func New(cfg Config) (*Reconciler, error) {
	switch {
	case cfg.NodeID == 0:
		return nil, errors.New("reconcile: NodeID is required")
	case cfg.Store == nil:
		return nil, errors.New("reconcile: Store is required")
	case cfg.Cache == nil:
		return nil, errors.New("reconcile: Cache is required")
	case cfg.Placement == nil:
		return nil, errors.New("reconcile: Placement is required")
	case cfg.Dial == nil:
		return nil, errors.New("reconcile: Dial is required")
	}
	cfg = cfg.withDefaults()
	return &Reconciler{
		cfg:        cfg,
		log:        cfg.Log.With().Str("component", "reconcile").Logger(),
		retry:      map[segstore.SegmentID]*retryState{},
		reported:   map[segstore.SegmentID]uint64{},
		adoptRetry: map[segstore.SegmentID]*retryState{},
	}, nil
}

// Run waits for the cache's first full sync, then runs a pass at once, after
// every metadata change, when a retry is due and every Rescan, until ctx
// ends. It returns nil then.
func (r *Reconciler) Run(ctx context.Context) error {
	changes, unsubscribe := r.cfg.Cache.Subscribe()
	defer unsubscribe()
	if err := r.cfg.Cache.Ready(ctx); err != nil {
		return nil // ctx ended before the first sync
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changes:
		case <-timer.C:
		}
		wait := r.Pass(ctx)
		timer.Reset(wait)
	}
}

// Pass reconciles once and returns how long until the next pass is due
// (Rescan, the earliest retry, or nearly nothing when work was left over).
// Not safe for concurrent use with itself or Run.
func (r *Reconciler) Pass(ctx context.Context) time.Duration {
	next := r.cfg.Rescan
	local, err := r.cfg.Store.ListSegments()
	if err != nil {
		r.log.Warn().Err(err).Msg("list local segments")
		return r.cfg.MinBackoff
	}
	present := make(map[segstore.SegmentID]bool, len(local))
	for _, st := range local {
		present[st.ID] = true
	}
	for id := range r.retry {
		if !present[id] {
			delete(r.retry, id)
		}
	}
	for id := range r.reported {
		if !present[id] {
			delete(r.reported, id)
		}
	}

	now := time.Now()
	actions := 0
	more := false
	missing := map[metacache.ShardKey][]segstore.SegmentState{}
	var missingOrder []metacache.ShardKey
	for _, st := range local {
		if ctx.Err() != nil {
			return 0
		}
		if rs := r.retry[st.ID]; rs != nil && now.Before(rs.at) {
			next = min(next, rs.at.Sub(now))
			continue
		}
		seg, ok := r.cfg.Cache.Segment(st.ID.Tenant, st.ID.Shard, st.ID.Seq)
		if !ok {
			k := metacache.ShardKey{Tenant: st.ID.Tenant, Name: st.ID.Shard}
			if _, seen := missing[k]; !seen {
				missingOrder = append(missingOrder, k)
			}
			missing[k] = append(missing[k], st)
			continue
		}
		if seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
			continue
		}
		if !slices.Contains(seg.GetReplicas(), r.cfg.NodeID) {
			// Re-replicated elsewhere while this node was dead: a
			// candidate for deletion, confirmed like a missing segment.
			k := metacache.ShardKey{Tenant: st.ID.Tenant, Name: st.ID.Shard}
			if _, seen := missing[k]; !seen {
				missingOrder = append(missingOrder, k)
			}
			missing[k] = append(missing[k], st)
			continue
		}
		end := seg.GetEndOffset()
		if st.Sealed {
			if st.SealedEnd != end && r.reported[st.ID] != end+1 {
				r.reported[st.ID] = end + 1
				r.log.Error().Str("segment", st.ID.String()).Uint64("local_end", st.SealedEnd).Uint64("placement_end", end).
					Msg("local replica sealed at another end than placement; left as it is")
			}
			continue
		}
		if actions >= r.cfg.MaxActionsPerPass {
			more = true
			break
		}
		actions++
		if err := r.seal(ctx, st, seg); err != nil {
			next = min(next, r.fail(st.ID, err))
		} else {
			delete(r.retry, st.ID)
		}
	}
	// Sealed segments placement lists on this node that it does not hold
	// (it was chosen to replace a dead replica): create and copy them.
	self := r.cfg.NodeID
	adopt := r.cfg.Cache.Segments(func(s *placementpb.Segment) bool {
		return s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED && slices.Contains(s.GetReplicas(), self)
	})
	for _, seg := range adopt {
		id := segstore.SegmentID{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}
		if present[id] {
			continue
		}
		if ctx.Err() != nil {
			return 0
		}
		if rs := r.adoptRetry[id]; rs != nil && now.Before(rs.at) {
			next = min(next, rs.at.Sub(now))
			continue
		}
		if actions >= r.cfg.MaxActionsPerPass {
			more = true
			break
		}
		actions++
		if err := r.adopt(ctx, id, seg); err != nil {
			next = min(next, r.failIn(r.adoptRetry, id, err))
		} else {
			delete(r.adoptRetry, id)
		}
	}
	for id := range r.adoptRetry {
		if present[id] {
			delete(r.adoptRetry, id) // the local replica's own retries take over
		}
	}
	for _, k := range missingOrder {
		if ctx.Err() != nil {
			return 0
		}
		if actions >= r.cfg.MaxActionsPerPass {
			more = true
			break
		}
		actions++
		if d, failed := r.dropIfGone(ctx, k, missing[k]); failed {
			next = min(next, d)
		}
	}
	if more {
		return time.Millisecond
	}
	return next
}

// fail records a failed action on id and returns the wait before its retry.
func (r *Reconciler) fail(id segstore.SegmentID, err error) time.Duration {
	return r.failIn(r.retry, id, err)
}

// failIn is fail on the given retry table.
func (r *Reconciler) failIn(table map[segstore.SegmentID]*retryState, id segstore.SegmentID, err error) time.Duration {
	rs := table[id]
	if rs == nil {
		rs = &retryState{}
		table[id] = rs
	}
	if rs.delay == 0 {
		rs.delay = r.cfg.MinBackoff
	} else {
		rs.delay = min(2*rs.delay, r.cfg.MaxBackoff)
	}
	wait := jitter(rs.delay)
	rs.at = time.Now().Add(wait)
	r.log.Warn().Err(err).Str("segment", id.String()).Dur("retry_in", wait).Msg("reconcile action failed")
	return wait
}

// seal seals the local replica st at placement's end, first copying the
// batches it misses from another replica.
func (r *Reconciler) seal(ctx context.Context, st segstore.SegmentState, seg *placementpb.Segment) error {
	id, end := st.ID, seg.GetEndOffset()
	log := r.log.With().Str("segment", id.String()).Uint64("end", end).Logger()
	err := r.cfg.Store.Seal(id, end)
	var inc *segstore.IncompleteError
	var sealed *segstore.SealedError
	switch {
	case err == nil:
		r.cfg.Sealed(id, end)
		ev := log.Info().Uint64("log_end", st.LogEnd)
		if st.LogEnd > end {
			ev = ev.Uint64("trimmed_offsets", st.LogEnd-end)
		}
		ev.Msg("sealed local replica as placement says")
		return nil
	case errors.As(err, &sealed):
		return nil // sealed meanwhile; the next pass compares the end
	case errors.Is(err, segstore.ErrNotFound):
		return nil // deleted meanwhile
	case errors.Is(err, segstore.ErrInvalidArgument), errors.Is(err, segstore.ErrNotBatchBoundary):
		log.Error().Err(err).Uint64("lac", st.LAC).Msg("placement's end does not fit this replica; not sealing")
		return err
	case !errors.As(err, &inc):
		return err
	}

	have := inc.Have
	var lastErr error
	for _, node := range seg.GetReplicas() {
		if node == r.cfg.NodeID {
			continue
		}
		if have, err = r.copyFrom(ctx, node, id, have, end); err == nil {
			break
		}
		lastErr = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if have < end {
		if lastErr == nil {
			lastErr = errors.New("no other replica")
		}
		return fmt.Errorf("local replica has up to %d of %d: %w", have, end, lastErr)
	}
	if err := r.cfg.Store.Seal(id, end); err != nil {
		return fmt.Errorf("seal after copying: %w", err)
	}
	r.cfg.Sealed(id, end)
	log.Info().Uint64("copied_from", inc.Have).Msg("completed local replica from another replica and sealed it")
	return nil
}

// adopt creates the local replica of a sealed segment placement lists on
// this node but that the node lacks (a replacement for a dead replica, or
// a replica lost with its disk), copies the whole segment from the other
// replicas and seals it at placement's end. A partial copy stays: the next
// pass completes it like any incomplete sealed replica.
func (r *Reconciler) adopt(ctx context.Context, id segstore.SegmentID, seg *placementpb.Segment) error {
	err := r.cfg.Store.CreateSegment(id, seg.GetStartOffset(), seg.GetEpoch())
	var exists *segstore.AlreadyExistsError
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create replica to copy into: %w", err)
	}
	st, err := r.cfg.Store.Describe(id)
	if err != nil {
		return fmt.Errorf("describe new replica: %w", err)
	}
	r.log.Info().Str("segment", id.String()).Uint64("start", seg.GetStartOffset()).Uint64("end", seg.GetEndOffset()).
		Uints64("replicas", seg.GetReplicas()).Msg("copying a sealed segment placement assigned to this node")
	return r.seal(ctx, st, seg)
}

// copyFrom appends node's batches [from, end) to the local replica and
// returns the local log end reached.
func (r *Reconciler) copyFrom(ctx context.Context, node uint64, id segstore.SegmentID, from, end uint64) (uint64, error) {
	client, err := r.cfg.Dial(ctx, node)
	if err != nil {
		return from, fmt.Errorf("dial node %d: %w", node, err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.CopyTimeout)
	defer cancel()
	have := from
	defer func() {
		if have > from {
			r.cfg.Changed(id)
		}
	}()
	err = recovery.ReadRange(ctx, client, id, from, end, func(b []byte) error {
		next, err := r.cfg.Store.AppendRecovered(id, b)
		if err != nil {
			return fmt.Errorf("append recovered: %w", err)
		}
		have = next
		return nil
	})
	if err != nil {
		return have, fmt.Errorf("copy from node %d: %w", node, err)
	}
	return have, nil
}

// dropIfGone confirms with placement that shard k, or the listed segments
// of it, no longer exist and deletes those local replicas. It returns the
// retry wait and true when it could not decide.
func (r *Reconciler) dropIfGone(ctx context.Context, k metacache.ShardKey, sts []segstore.SegmentState) (time.Duration, bool) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.RPCTimeout)
	resp, err := r.cfg.Placement.GetShard(cctx, &placementpb.GetShardRequest{Tenant: k.Tenant, Name: k.Name,
		Consistency: placementpb.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	cancel()
	exists := map[uint32]*placementpb.Segment{}
	shardGone := false
	switch {
	case err == nil:
		for _, s := range resp.GetSegments() {
			exists[s.GetSeq()] = s
		}
	case rpcerr.Code(err) == codes.NotFound:
		shardGone = true
	default:
		var wait time.Duration
		for _, st := range sts {
			wait = r.fail(st.ID, fmt.Errorf("confirm shard %s/%s with placement: %w", k.Tenant, k.Name, err))
		}
		return wait, true
	}
	var wait time.Duration
	failed := false
	for _, st := range sts {
		if seg := exists[st.ID.Seq]; seg != nil {
			// A sealed segment no longer listing this node was
			// re-replicated elsewhere (its listed replicas hold it);
			// anything else means the cache lags placement.
			if seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED || slices.Contains(seg.GetReplicas(), r.cfg.NodeID) {
				continue
			}
		}
		if err := r.cfg.Store.DeleteSegment(st.ID); err != nil && !errors.Is(err, segstore.ErrNotFound) {
			wait, failed = r.fail(st.ID, fmt.Errorf("delete: %w", err)), true
			continue
		}
		delete(r.retry, st.ID)
		r.cfg.Changed(st.ID)
		if exists[st.ID.Seq] != nil {
			r.log.Info().Str("segment", st.ID.String()).Uints64("replicas", exists[st.ID.Seq].GetReplicas()).
				Msg("deleted local replica of a sealed segment placement moved to other nodes")
			continue
		}
		r.log.Info().Str("segment", st.ID.String()).Bool("shard_gone", shardGone).
			Msg("deleted local replica of a segment placement no longer has")
	}
	return wait, failed
}

// jitter spreads d over [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}
