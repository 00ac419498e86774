package retention

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/journal-server/internal/recovery"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Shard config keys that override the node's defaults.
const (
	ConfigTime  = "retention.time"
	ConfigBytes = "retention.bytes"
)

// Cache is the part of the metadata cache retention reads;
// *metacache.Cache satisfies it.
type Cache interface {
	Shard(tenant, name string) (*placementpb.Shard, []*placementpb.Segment, bool)
	Segments(keep func(*placementpb.Segment) bool) []*placementpb.Segment
}

var _ Cache = (*metacache.Cache)(nil)

// Config configures a Retainer. NodeID, Store, Cache, Placement and Dial are
// required; zero values take the defaults noted.
type Config struct {
	NodeID uint64
	Store  *segstore.Store
	Cache  Cache
	// Placement receives DeleteSegments.
	Placement placementpb.PlacementServiceClient
	// Dial reaches other replicas for the stats of segments not held here.
	Dial recovery.DialFunc
	// DefaultTime and DefaultBytes are the node's defaults
	// (segment.retention_time, segment.retention_bytes); 0 = no limit.
	DefaultTime  time.Duration
	DefaultBytes uint64
	// Interval between evaluations (5s).
	Interval time.Duration
	// RPCTimeout bounds one remote call (5s).
	RPCTimeout time.Duration
	// Now is the clock (time.Now); tests set it.
	Now func() time.Time
	Log zerolog.Logger
}

// Retainer runs retention for the shards this node leads.
type Retainer struct {
	cfg Config
	log zerolog.Logger
	// stats of sealed segments (immutable), by segment; only the goroutine
	// running passes touches it.
	stats map[metacache.SegmentKey]segStats
	// badConfig remembers config values already reported as unparsable.
	badConfig map[string]bool
}

type segStats struct {
	end   uint64 // the sealed end they were read at
	maxTs int64
	bytes uint64
}

// New returns a Retainer; Run starts it.
func New(cfg Config) (*Retainer, error) {
	switch {
	case cfg.NodeID == 0:
		return nil, errors.New("retention: NodeID is required")
	case cfg.Store == nil:
		return nil, errors.New("retention: Store is required")
	case cfg.Cache == nil:
		return nil, errors.New("retention: Cache is required")
	case cfg.Placement == nil:
		return nil, errors.New("retention: Placement is required")
	case cfg.Dial == nil:
		return nil, errors.New("retention: Dial is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.RPCTimeout <= 0 {
		cfg.RPCTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Retainer{cfg: cfg, log: cfg.Log.With().Str("component", "retention").Logger(),
		stats: map[metacache.SegmentKey]segStats{}, badConfig: map[string]bool{}}, nil
}

// Run evaluates every Interval until ctx ends; it returns nil then. The
// caller starts it once the metadata cache has synced.
func (r *Retainer) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		r.Pass(ctx)
	}
}

// Pass evaluates every shard whose open segment this node leads once and
// returns the DeleteSegments requests it made successfully. Not safe for
// concurrent use with itself or Run.
func (r *Retainer) Pass(ctx context.Context) []*placementpb.DeleteSegmentsRequest {
	self := r.cfg.NodeID
	open := r.cfg.Cache.Segments(func(s *placementpb.Segment) bool {
		return s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_OPEN && s.GetLeader() == self
	})
	seen := map[metacache.SegmentKey]bool{}
	var done []*placementpb.DeleteSegmentsRequest
	for _, o := range open {
		if ctx.Err() != nil {
			break
		}
		sh, segs, ok := r.cfg.Cache.Shard(o.GetTenant(), o.GetShard())
		if !ok {
			continue
		}
		for _, s := range segs {
			seen[key(s)] = true
		}
		req := r.evaluate(ctx, sh, segs, o)
		if req == nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.RPCTimeout)
		resp, err := r.cfg.Placement.DeleteSegments(cctx, req)
		cancel()
		if err != nil {
			r.log.Warn().Err(err).Str("shard", sh.GetTenant()+"/"+sh.GetName()).Uint32("up_to_seq", req.GetUpToSeq()).
				Msg("retention: delete segments failed; will re-evaluate")
			continue
		}
		r.log.Info().Str("shard", sh.GetTenant()+"/"+sh.GetName()).Int("deleted", len(resp.GetDeleted())).
			Uint32("first_segment", resp.GetShard().GetFirstSegment()).Uint64("first_offset", resp.GetShard().GetFirstOffset()).
			Msg("retention deleted sealed segments")
		done = append(done, req)
	}
	if ctx.Err() == nil {
		for k := range r.stats {
			if !seen[k] {
				delete(r.stats, k)
			}
		}
	}
	return done
}

func key(s *placementpb.Segment) metacache.SegmentKey {
	return metacache.SegmentKey{Tenant: s.GetTenant(), Shard: s.GetShard(), Seq: s.GetSeq()}
}

func idOf(s *placementpb.Segment) segstore.SegmentID {
	return segstore.SegmentID{Tenant: s.GetTenant(), Shard: s.GetShard(), Seq: s.GetSeq()}
}

// limits returns the shard's retention time and bytes (0 = no limit).
func (r *Retainer) limits(sh *placementpb.Shard) (time.Duration, uint64) {
	t, b := r.cfg.DefaultTime, r.cfg.DefaultBytes
	cfg := sh.GetConfig()
	if v, ok := cfg[ConfigTime]; ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			t = d
		} else {
			r.reportBad(sh, ConfigTime, v)
		}
	}
	if v, ok := cfg[ConfigBytes]; ok {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			b = n
		} else {
			r.reportBad(sh, ConfigBytes, v)
		}
	}
	return t, b
}

func (r *Retainer) reportBad(sh *placementpb.Shard, k, v string) {
	id := sh.GetTenant() + "/" + sh.GetName() + "/" + k + "=" + v
	if r.badConfig[id] {
		return
	}
	r.badConfig[id] = true
	r.log.Warn().Str("shard", sh.GetTenant()+"/"+sh.GetName()).Str("key", k).Str("value", v).
		Msg("retention: unparsable shard setting; using the node default")
}

// evaluate returns the DeleteSegments request the shard needs, or nil.
func (r *Retainer) evaluate(ctx context.Context, sh *placementpb.Shard, segs []*placementpb.Segment, open *placementpb.Segment) *placementpb.DeleteSegmentsRequest {
	maxAge, maxBytes := r.limits(sh)
	if maxAge <= 0 && maxBytes == 0 {
		return nil
	}
	var cands []*placementpb.Segment
	for _, s := range segs {
		if s.GetSeq() >= sh.GetActiveSegment() || s.GetSeq() >= open.GetSeq() ||
			s.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
			break
		}
		cands = append(cands, s)
	}
	if len(cands) == 0 {
		return nil
	}
	var stats []segStats
	for _, s := range cands {
		st, err := r.statsOf(ctx, s)
		if err != nil {
			r.log.Debug().Err(err).Str("segment", idOf(s).String()).Msg("retention: no stats; candidates end here")
			break
		}
		stats = append(stats, st)
	}
	upTo := 0
	if maxAge > 0 {
		cutoff := r.cfg.Now().Add(-maxAge).UnixMilli()
		for i, st := range stats {
			if st.maxTs >= cutoff {
				break
			}
			upTo = i + 1
		}
	}
	if maxBytes > 0 && len(stats) == len(cands) {
		// The size limit needs every sealed segment's size (and the open
		// one's, known only locally: this node leads it).
		var total uint64
		for _, st := range stats {
			total += st.bytes
		}
		if d, err := r.cfg.Store.Describe(idOf(open)); err == nil {
			total += d.Bytes
		}
		for i := 0; total > maxBytes && i < len(stats); i++ {
			total -= stats[i].bytes
			upTo = max(upTo, i+1)
		}
	}
	if upTo == 0 {
		return nil
	}
	v := sh.GetVersion()
	return &placementpb.DeleteSegmentsRequest{Tenant: sh.GetTenant(), Shard: sh.GetName(),
		UpToSeq: cands[upTo-1].GetSeq() + 1, ExpectedVersion: &v}
}

// statsOf returns a sealed segment's newest-record time and size, from the
// local replica when it is sealed here at placement's end, else from
// another replica; remembered once read.
func (r *Retainer) statsOf(ctx context.Context, seg *placementpb.Segment) (segStats, error) {
	k, end := key(seg), seg.GetEndOffset()
	if st, ok := r.stats[k]; ok && st.end == end {
		return st, nil
	}
	if d, err := r.cfg.Store.Describe(idOf(seg)); err == nil && d.Sealed && d.SealedEnd == end {
		st := segStats{end: end, maxTs: d.MaxTimestampMs, bytes: d.Bytes}
		r.stats[k] = st
		return st, nil
	}
	var errs []error
	for _, node := range seg.GetReplicas() {
		if node == r.cfg.NodeID {
			continue
		}
		st, err := r.remoteStats(ctx, node, seg)
		if err == nil {
			r.stats[k] = st
			return st, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return segStats{}, errors.New("no replica to ask")
	}
	return segStats{}, errors.Join(errs...)
}

func (r *Retainer) remoteStats(ctx context.Context, node uint64, seg *placementpb.Segment) (segStats, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RPCTimeout)
	defer cancel()
	c, err := r.cfg.Dial(ctx, node)
	if err != nil {
		return segStats{}, fmt.Errorf("dial node %d: %w", node, err)
	}
	ref := recovery.Ref(idOf(seg))
	d, err := c.Describe(ctx, &journalpb.DescribeRequest{Segment: ref})
	if err != nil {
		return segStats{}, fmt.Errorf("describe on node %d: %w", node, err)
	}
	end := seg.GetEndOffset()
	if !d.GetSealed() || d.GetSealedEnd() != end {
		return segStats{}, fmt.Errorf("node %d: replica not sealed at %d yet", node, end)
	}
	st := segStats{end: end, bytes: d.GetBytes()}
	if end == seg.GetStartOffset() {
		return st, nil // no records: as old as can be
	}
	stream, err := c.ReadReplica(ctx, &journalpb.ReadReplicaRequest{Segment: ref, FromOffset: end - 1, ToOffset: end})
	if err != nil {
		return segStats{}, fmt.Errorf("read last batch on node %d: %w", node, err)
	}
	got := false
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return segStats{}, fmt.Errorf("read last batch on node %d: %w", node, err)
		}
		for _, b := range resp.GetBatches() {
			h, err := recordbatch.DecodeHeader(b)
			if err != nil {
				return segStats{}, fmt.Errorf("last batch on node %d: %w", node, err)
			}
			st.maxTs = max(st.maxTs, h.MaxTimestampMs)
			got = true
		}
	}
	if !got {
		return segStats{}, fmt.Errorf("node %d returned no batch at %d", node, end-1)
	}
	return st, nil
}
