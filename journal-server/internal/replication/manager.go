package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/lac"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Shard config keys that override the journal defaults.
const (
	ConfigMaxBytes = "segment.max_bytes"
	ConfigMaxAge   = "segment.max_age"
)

// Config configures a Manager. Zero durations and sizes take defaults.
type Config struct {
	NodeID    uint64
	Store     *segstore.Store
	Meta      Metadata
	Placement Placement
	Peers     *Peers
	Changes   *Changes
	// MaxBatchBytes and MaxBatchRecords bound one appended batch.
	MaxBatchBytes   int
	MaxBatchRecords int
	// SegmentMaxBytes and SegmentMaxAge roll a segment unless the shard's
	// config overrides them; zero disables that trigger.
	SegmentMaxBytes uint64
	SegmentMaxAge   time.Duration
	// CheckInterval is how often led segments are checked for a roll and
	// dead replicas (also on every metadata change). Default 250ms.
	CheckInterval time.Duration
	// SettleTimeout bounds the wait for in-flight appends to reach the
	// LAC before a seal. Default 5s.
	SettleTimeout time.Duration
	// SeedTimeout: after failing this long to seed the producer table of
	// a new segment from the previous one, the leader goes on without
	// (logged). Default 30s.
	SeedTimeout time.Duration
	// ReplicaWindow is the number of batches in flight per follower.
	// Default 64.
	ReplicaWindow int
	// TailBytes is the size of the in-memory tail of recent batches per
	// led segment. Default 16 MiB.
	TailBytes int
	// LazySyncInterval is how long a lazy follower (one whose copy the
	// ack quorum does not need: see replicator, "Lazy replicas") may hold
	// batches it has not synced. Default 10ms; negative: every follower
	// syncs every batch before it answers.
	LazySyncInterval time.Duration
	// AwaitRegistration: take no segment leadership before SetRegistered,
	// and then only of segments whose metadata version is above the
	// registration's (see leaderFor). The journal server sets it; tests
	// that run a Manager without a placement center leave it off.
	AwaitRegistration bool
	Registerer        prometheus.Registerer
	Logger            zerolog.Logger
}

func (c Config) withDefaults() Config {
	if c.CheckInterval <= 0 {
		c.CheckInterval = 250 * time.Millisecond
	}
	if c.SettleTimeout <= 0 {
		c.SettleTimeout = 5 * time.Second
	}
	if c.SeedTimeout <= 0 {
		c.SeedTimeout = 30 * time.Second
	}
	if c.ReplicaWindow <= 0 {
		c.ReplicaWindow = 64
	}
	if c.TailBytes <= 0 {
		c.TailBytes = 16 << 20
	}
	if c.LazySyncInterval == 0 {
		c.LazySyncInterval = 10 * time.Millisecond
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = recordbatch.DefaultLimits().MaxBatchBytes
	}
	if c.MaxBatchRecords <= 0 {
		c.MaxBatchRecords = recordbatch.DefaultLimits().MaxRecords
	}
	if c.Changes == nil {
		c.Changes = NewChanges()
	}
	return c
}

// Manager owns the segments this node leads. Safe for concurrent use.
type Manager struct {
	cfg     Config
	log     zerolog.Logger
	changes *Changes
	metrics *metrics

	ctx    context.Context // leaders' goroutines run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup // seal-and-roll goroutines

	// registered is the placement version (raft index) of this node's
	// latest registration; 0 before the first (AwaitRegistration).
	registered atomic.Uint64

	mu       sync.Mutex
	leaders  map[segstore.SegmentID]*leader
	seedFail map[segstore.SegmentID]time.Time
	stopped  bool
}

// New returns a manager; Run drives its background checks.
func New(cfg Config) (*Manager, error) {
	cfg = cfg.withDefaults()
	if cfg.NodeID == 0 || cfg.Store == nil || cfg.Meta == nil || cfg.Placement == nil || cfg.Peers == nil {
		return nil, errors.New("replication: NodeID, Store, Meta, Placement and Peers are required")
	}
	met, err := newMetrics(cfg.Registerer, cfg.Store)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg: cfg, log: cfg.Logger, changes: cfg.Changes, metrics: met,
		ctx: ctx, cancel: cancel,
		leaders: map[segstore.SegmentID]*leader{}, seedFail: map[segstore.SegmentID]time.Time{},
	}, nil
}

// SetRegistered records a registration of this node with the placement
// center: version is the registered ClusterNode's version, the index of
// the entry that applied it. Call it from the registration hook, on the
// first registration and every re-registration.
func (m *Manager) SetRegistered(version uint64) {
	for {
		cur := m.registered.Load()
		if version <= cur || m.registered.CompareAndSwap(cur, version) {
			return
		}
	}
}

// takeable reports whether this node may lead seg, as far as its
// registration goes (AwaitRegistration). INVARIANT: a journal process
// never appends to a segment whose metadata it read from before its own
// registration was applied. Registering moves every OPEN segment the node
// leads to RECOVERING at epoch+1 in the registration's entry (placement
// fsm registerNode), so an OPEN segment naming this node as leader with a
// version at or below the registration's is a stale view from before it:
// typically the previous process's leadership at an epoch whose unsynced
// tail this process may have lost while followers hold it. Versions are
// raft indexes, so a segment opened or handed to this node after the
// registration always has a higher one.
func (m *Manager) takeable(seg *placementpb.Segment) error {
	if !m.cfg.AwaitRegistration {
		return nil
	}
	reg := m.registered.Load()
	if reg == 0 {
		return status.Errorf(codes.Unavailable, "journal node %d not registered with the placement center yet; retry", m.cfg.NodeID)
	}
	if seg.GetVersion() <= reg {
		return status.Errorf(codes.Unavailable, "segment %s/%s/%d metadata (version %d) predates this node's registration (version %d); retry",
			seg.GetTenant(), seg.GetShard(), seg.GetSeq(), seg.GetVersion(), reg)
	}
	return nil
}

// Changes is the change notification hub readers wait on.
func (m *Manager) Changes() *Changes { return m.changes }

// Run checks the led segments for rolls and dead replicas until ctx ends,
// then stops every leader.
func (m *Manager) Run(ctx context.Context) error {
	defer m.shutdown()
	sub, unsub := m.cfg.Meta.Subscribe()
	defer unsub()
	t := time.NewTicker(m.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub:
		case <-t.C:
		}
		m.check()
	}
}

func (m *Manager) shutdown() {
	m.mu.Lock()
	m.stopped = true
	ls := make([]*leader, 0, len(m.leaders))
	for _, l := range m.leaders {
		ls = append(ls, l)
	}
	m.mu.Unlock()
	m.cancel()
	for _, l := range ls {
		l.stop()
	}
	for _, l := range ls {
		l.wg.Wait()
	}
	m.wg.Wait()
}

// Ack is an append accepted by the leader; Wait returns once the LAC
// covers it.
type Ack struct {
	First, Next uint64
	Duplicate   bool
	Records     uint32
	l           *leader
}

// Wait blocks until LAC >= Next (or the leader failed: Fenced,
// SegmentSealed, Unavailable on shutdown).
func (a Ack) Wait(ctx context.Context) error {
	if a.l == nil || a.Next == 0 {
		return nil
	}
	_, err := a.l.tracker.WaitFor(ctx, a.Next)
	if err != nil {
		return StoreError(a.l.id, err)
	}
	return nil
}

// Append checks a client's request and appends its batch locally; the
// caller acknowledges it after Ack.Wait. The checks and their errors are
// the contract's: NotFound, NotLeader, SegmentSealed, Fenced,
// ResourceExhausted, InvalidArgument.
func (m *Manager) Append(ctx context.Context, req *journalpb.AppendRequest) (Ack, error) {
	id, err := SegmentID(req.GetSegment())
	if err != nil {
		return Ack{}, err
	}
	seg, ok := m.cfg.Meta.Segment(id.Tenant, id.Shard, id.Seq)
	if !ok {
		return Ack{}, rpcerr.NotFound("segment", id.String())
	}
	if seg.GetLeader() != m.cfg.NodeID {
		addr := ""
		if n, ok := m.cfg.Meta.Node(seg.GetLeader()); ok {
			addr = n.GetGrpcAddr()
		}
		return Ack{}, rpcerr.NotLeader(seg.GetLeader(), addr)
	}
	switch seg.GetStatus() {
	case placementpb.SegmentStatus_SEGMENT_STATUS_OPEN:
	case placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING:
		return Ack{}, rpcerr.Fenced(seg.GetEpoch())
	default:
		return Ack{}, rpcerr.SegmentSealed(seg.GetEndOffset())
	}
	if req.GetEpoch() < seg.GetEpoch() {
		return Ack{}, rpcerr.Fenced(seg.GetEpoch())
	}
	if req.GetEpoch() > seg.GetEpoch() {
		return Ack{}, status.Errorf(codes.Unavailable, "epoch %d is above this node's view of segment %s (epoch %d); retry", req.GetEpoch(), id, seg.GetEpoch())
	}
	batch := req.GetBatch()
	if len(batch) > m.cfg.MaxBatchBytes {
		return Ack{}, rpcerr.ResourceExhausted("max_batch_bytes", uint64(m.cfg.MaxBatchBytes), uint64(len(batch)))
	}
	h, err := recordbatch.DecodeHeader(batch)
	if err != nil {
		return Ack{}, rpcerr.InvalidArgument("batch", err.Error())
	}
	if int64(h.Count) > int64(m.cfg.MaxBatchRecords) {
		return Ack{}, rpcerr.ResourceExhausted("max_batch_records", uint64(m.cfg.MaxBatchRecords), uint64(h.Count))
	}
	if _, err := recordbatch.Validate(batch, recordbatch.Limits{MaxBatchBytes: m.cfg.MaxBatchBytes, MaxRecords: m.cfg.MaxBatchRecords}); err != nil {
		return Ack{}, batchError(err) // a record over its limits: ResourceExhausted
	}
	if h.Count == 0 {
		return Ack{}, rpcerr.InvalidArgument("batch", "no records")
	}
	l, err := m.leaderFor(ctx, id, seg)
	if err != nil {
		return Ack{}, err
	}
	res, err := l.append(ctx, h, batch)
	if err != nil {
		return Ack{}, err
	}
	a := Ack{First: res.first, Next: res.next, Duplicate: res.dup.dup, Records: h.Count, l: l}
	if res.dup.dup && !res.dup.known {
		a.l = nil
	}
	return a, nil
}

// LAC returns the live LAC of a segment this node leads.
func (m *Manager) LAC(id segstore.SegmentID) (uint64, bool) {
	m.mu.Lock()
	l, ok := m.leaders[id]
	m.mu.Unlock()
	if !ok || !isReady(l) || l.initErr != nil {
		return 0, false
	}
	return l.LAC(), true
}

// PlacementSealedEnd returns the end of segment id when placement has it
// SEALED (or DELETING, sealed before).
func (m *Manager) PlacementSealedEnd(id segstore.SegmentID) (uint64, bool) {
	seg, ok := m.cfg.Meta.Segment(id.Tenant, id.Shard, id.Seq)
	if !ok {
		return 0, false
	}
	switch seg.GetStatus() {
	case placementpb.SegmentStatus_SEGMENT_STATUS_SEALED, placementpb.SegmentStatus_SEGMENT_STATUS_DELETING:
		return seg.GetEndOffset(), true
	}
	return 0, false
}

// Fenced tells the manager a replica of id was fenced at epoch (a Fence
// call): a leadership at a lower epoch ends.
func (m *Manager) Fenced(id segstore.SegmentID, epoch uint64) {
	m.mu.Lock()
	l, ok := m.leaders[id]
	m.mu.Unlock()
	if ok && isReady(l) && l.initErr == nil && epoch > l.epoch {
		l.fail(rpcerr.Fenced(epoch))
	}
}

// Sealed tells the manager the local replica of id was sealed at end by a
// Seal call (recovery): a leadership in progress ends.
func (m *Manager) Sealed(id segstore.SegmentID, end uint64) {
	m.mu.Lock()
	l, ok := m.leaders[id]
	m.mu.Unlock()
	if ok && isReady(l) && l.initErr == nil {
		if st, _, _ := l.snapshot(); st == stateOpen {
			l.fail(rpcerr.SegmentSealed(end))
		}
	}
}

func isReady(l *leader) bool {
	select {
	case <-l.ready:
		return true
	default:
		return false
	}
}

// forget drops l from the map if it is still the current leader state.
func (m *Manager) forget(l *leader) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leaders[l.id] == l {
		delete(m.leaders, l.id)
		m.metrics.leading.Set(float64(len(m.leaders)))
	}
}

// leaderFor returns the leadership of seg, taking it on first use.
func (m *Manager) leaderFor(ctx context.Context, id segstore.SegmentID, seg *placementpb.Segment) (*leader, error) {
	if err := m.takeable(seg); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "journal node stopping")
	}
	l, ok := m.leaders[id]
	if ok && l.epoch != seg.GetEpoch() {
		m.mu.Unlock()
		if isReady(l) && l.initErr == nil {
			l.fail(rpcerr.Fenced(seg.GetEpoch()))
		}
		m.forget(l)
		m.mu.Lock()
		l, ok = m.leaders[id]
	}
	creator := false
	if !ok {
		lctx, cancel := context.WithCancel(m.ctx)
		quorum := int(seg.GetAckQuorum())
		if quorum <= 0 {
			quorum = len(seg.GetReplicas())/2 + 1
		}
		l = &leader{
			m: m, id: id, epoch: seg.GetEpoch(), start: seg.GetStartOffset(),
			replicas: slices.Clone(seg.GetReplicas()), quorum: quorum, version: seg.GetVersion(),
			createdAt: time.UnixMilli(seg.GetCreatedAtMs()),
			ready:     make(chan struct{}), ctx: lctx, cancel: cancel, lacPoke: make(chan struct{}, 1),
			syncPoke: make(chan struct{}, 1),
		}
		if seg.GetCreatedAtMs() == 0 {
			l.createdAt = time.Now()
		}
		m.leaders[id] = l
		m.metrics.leading.Set(float64(len(m.leaders)))
		creator = true
	}
	m.mu.Unlock()
	if creator {
		err := m.initLeader(ctx, l, seg)
		l.initErr = err
		close(l.ready)
		if err != nil {
			l.cancel()
			m.forget(l)
			return nil, err
		}
		return l, nil
	}
	select {
	case <-l.ready:
	case <-ctx.Done():
		return nil, StoreError(id, ctx.Err())
	}
	if l.initErr != nil {
		return nil, l.initErr
	}
	return l, nil
}

// initLeader creates or opens the local replica, seeds the producer
// table, and starts the replicators.
func (m *Manager) initLeader(ctx context.Context, l *leader, seg *placementpb.Segment) error {
	id := l.id
	if !slices.Contains(l.replicas, m.cfg.NodeID) {
		return status.Errorf(codes.Internal, "segment %s names leader %d outside its replicas %v", id, m.cfg.NodeID, l.replicas)
	}
	st, err := m.cfg.Store.Describe(id)
	if errors.Is(err, segstore.ErrNotFound) {
		if err = m.cfg.Store.CreateSegment(id, l.start, l.epoch); err == nil {
			st, err = m.cfg.Store.Describe(id)
		}
	}
	if err != nil {
		return StoreError(id, err)
	}
	if st.StartOffset != l.start {
		return status.Errorf(codes.Internal, "local replica of %s starts at %d, placement says %d", id, st.StartOffset, l.start)
	}
	if st.FenceEpoch > l.epoch {
		return rpcerr.Fenced(st.FenceEpoch)
	}
	prods := newProducers()
	if id.Seq > 0 {
		if err := m.seedPrevious(ctx, prods, seg); err != nil {
			m.mu.Lock()
			first, seen := m.seedFail[id]
			if !seen {
				first = time.Now()
				m.seedFail[id] = first
			}
			m.mu.Unlock()
			if time.Since(first) < m.cfg.SeedTimeout {
				return status.Errorf(codes.Unavailable, "seeding the producer table of %s from segment %d: %v; retry", id, id.Seq-1, err)
			}
			m.log.Warn().Err(err).Str("segment", id.String()).Msg("producer table not seeded from the previous segment; duplicates across the roll will not be recognised")
		}
		m.mu.Lock()
		delete(m.seedFail, id)
		m.mu.Unlock()
	}
	end := st.LogEnd
	if st.Sealed {
		end = st.SealedEnd
	}
	if err := readHeaders(func(from uint64) ([]segstore.StoredBatch, error) {
		return m.cfg.Store.Read(id, from, 4<<20, end)
	}, st.StartOffset, end, prods); err != nil {
		return StoreError(id, err)
	}
	// Only the durable part of the local log counts toward the LAC (a
	// previous leadership in this process may have left unsynced appends;
	// after a restart everything loaded is durable). All of it is sent.
	durable := end
	if !st.Sealed {
		ends, err := m.cfg.Store.Sync(id)
		if err != nil {
			return StoreError(id, err)
		}
		durable = min(ends[0], end)
	}
	l.producers = prods
	l.logEnd = end
	l.durable = durable
	l.bytes = st.Bytes
	start := st.LAC
	if st.Sealed {
		start = end
	}
	l.tracker = lac.New(l.replicas, l.quorum, start)
	l.seenLAC.Store(start)
	l.tracker.Update(m.cfg.NodeID, durable)
	if st.Sealed {
		// Sealed locally but still OPEN in placement: a seal-and-roll was
		// cut short (restart). Finish it.
		l.state = stateSealed
		l.end = end
		l.tracker.Fail(rpcerr.SegmentSealed(end))
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.roll(l, end, m.deadReplicas(l))
		}()
		return nil
	}
	l.wg.Add(2)
	go l.persistLAC()
	go l.syncer()
	// The list is complete before any replicator runs: each reads it to
	// know whether it is eager (leader.eager).
	var reps []*replicator
	for _, n := range l.replicas {
		if n != m.cfg.NodeID {
			reps = append(reps, &replicator{l: l, node: n, pokeCh: make(chan struct{}, 1)})
		}
	}
	l.mu.Lock()
	l.reps = reps
	l.mu.Unlock()
	for _, r := range reps {
		l.wg.Add(1)
		go r.run()
	}
	m.log.Info().Str("segment", id.String()).Uint64("epoch", l.epoch).Uint64("start", l.start).
		Uint64("log_end", end).Uints64("replicas", l.replicas).Int("ack_quorum", l.quorum).Msg("leading segment")
	return nil
}

// readHeaders feeds every batch header of [from, to) to the producer table.
func readHeaders(read func(from uint64) ([]segstore.StoredBatch, error), from, to uint64, p *producers) error {
	for from < to {
		got, err := read(from)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			return fmt.Errorf("no batch at %d below %d", from, to)
		}
		for _, b := range got {
			p.record(b.Header, b.Header.FirstOffset, b.Header.NextOffset())
			from = b.Header.NextOffset()
		}
	}
	return nil
}

// seedPrevious records the producers of segment seq-1 (its sealed range),
// read locally when this node holds it whole, else from another replica.
func (m *Manager) seedPrevious(ctx context.Context, p *producers, seg *placementpb.Segment) error {
	prev, ok := m.cfg.Meta.Segment(seg.GetTenant(), seg.GetShard(), seg.GetSeq()-1)
	if !ok {
		return nil // deleted by retention: nothing to remember
	}
	switch prev.GetStatus() {
	case placementpb.SegmentStatus_SEGMENT_STATUS_SEALED:
	case placementpb.SegmentStatus_SEGMENT_STATUS_DELETING:
		return nil
	default:
		return fmt.Errorf("previous segment is %v", prev.GetStatus())
	}
	start, end := prev.GetStartOffset(), prev.GetEndOffset()
	if end <= start {
		return nil
	}
	pid := segstore.SegmentID{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq() - 1}
	if st, err := m.cfg.Store.Describe(pid); err == nil && st.StartOffset == start && st.LogEnd >= end {
		local := newProducers()
		err := readHeaders(func(from uint64) ([]segstore.StoredBatch, error) {
			return m.cfg.Store.Read(pid, from, 4<<20, end)
		}, start, end, local)
		if err == nil {
			*p = *local
			return nil
		}
		m.log.Warn().Err(err).Str("segment", pid.String()).Msg("reading the local previous segment; trying its replicas")
	}
	var errs []error
	for _, n := range prev.GetReplicas() {
		if n == m.cfg.NodeID {
			continue
		}
		remote := newProducers()
		if err := m.seedFromReplica(ctx, n, pid, start, end, remote); err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", n, err))
			continue
		}
		*p = *remote
		return nil
	}
	return errors.Join(append(errs, errors.New("no replica of the previous segment could be read"))...)
}

func (m *Manager) seedFromReplica(ctx context.Context, node uint64, id segstore.SegmentID, start, end uint64, p *producers) error {
	cc, err := m.cfg.Peers.Conn(node)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := journalpb.NewJournalServiceClient(cc).ReadReplica(ctx, &journalpb.ReadReplicaRequest{Segment: Ref(id), FromOffset: start, ToOffset: end})
	if err != nil {
		return err
	}
	from := start
	for from < end {
		resp, err := stream.Recv()
		if err == io.EOF {
			return fmt.Errorf("replica ended at %d below %d", from, end)
		}
		if err != nil {
			return err
		}
		for _, b := range resp.GetBatches() {
			h, err := recordbatch.DecodeHeader(b)
			if err != nil {
				return err
			}
			if h.FirstOffset != from {
				return fmt.Errorf("replica sent batch at %d, expected %d", h.FirstOffset, from)
			}
			if h.NextOffset() > end {
				return nil
			}
			p.record(h, h.FirstOffset, h.NextOffset())
			from = h.NextOffset()
		}
	}
	return nil
}

// check takes the open segments placement gives this node to lead (so
// their replicas exist and an idle one still seals when a replica dies),
// then looks at every led segment: placement changes end a leadership;
// size, age and dead replicas start a seal.
func (m *Manager) check() {
	self := m.cfg.NodeID
	for _, seg := range m.cfg.Meta.Segments(func(s *placementpb.Segment) bool {
		return s.GetLeader() == self && s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_OPEN && m.takeable(s) == nil
	}) {
		id := segstore.SegmentID{Tenant: seg.GetTenant(), Shard: seg.GetShard(), Seq: seg.GetSeq()}
		m.mu.Lock()
		_, have := m.leaders[id]
		m.mu.Unlock()
		if have {
			continue
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
			defer cancel()
			if _, err := m.leaderFor(ctx, id, seg); err != nil {
				m.log.Debug().Err(err).Str("segment", id.String()).Msg("taking segment leadership; will retry")
			}
		}()
	}
	m.mu.Lock()
	ls := make([]*leader, 0, len(m.leaders))
	for _, l := range m.leaders {
		if isReady(l) && l.initErr == nil {
			ls = append(ls, l)
		}
	}
	m.mu.Unlock()
	lag, lacLag, pending := map[uint64]float64{}, map[uint64]float64{}, 0.0
	for _, l := range ls {
		seg, ok := m.cfg.Meta.Segment(l.id.Tenant, l.id.Shard, l.id.Seq)
		st, logEnd, bytes := l.snapshot()
		switch {
		case !ok:
			l.fail(rpcerr.NotFound("segment", l.id.String()))
			continue
		case seg.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_RECOVERING || seg.GetEpoch() != l.epoch:
			l.fail(rpcerr.Fenced(seg.GetEpoch()))
			continue
		case seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN:
			l.fail(rpcerr.SegmentSealed(seg.GetEndOffset()))
			continue
		case seg.GetLeader() != m.cfg.NodeID:
			l.fail(rpcerr.NotLeader(seg.GetLeader(), ""))
			continue
		}
		lac := min(l.tracker.LAC(), logEnd)
		pending += float64(logEnd - lac)
		for _, n := range l.replicas {
			if n != m.cfg.NodeID {
				end := l.tracker.End(n)
				lag[n] += float64(logEnd - min(logEnd, end))
				lacLag[n] += float64(lac - min(lac, end))
			}
		}
		if st != stateOpen {
			continue
		}
		maxBytes, maxAge := m.rollLimits(l.id)
		reason := ""
		dead := m.deadReplicas(l)
		switch {
		case len(dead) > 0:
			reason = fmt.Sprintf("replicas %v not alive", dead)
		case maxBytes > 0 && bytes >= maxBytes:
			reason = "size"
		case maxAge > 0 && bytes > 0 && time.Since(l.createdAt) >= maxAge:
			reason = "age"
		}
		if reason != "" {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.sealAndRoll(l, reason, dead)
			}()
		}
	}
	m.metrics.lag.Reset()
	m.metrics.lacLag.Reset()
	for n, v := range lag {
		m.metrics.lag.WithLabelValues(strconv.FormatUint(n, 10)).Set(v)
		m.metrics.lacLag.WithLabelValues(strconv.FormatUint(n, 10)).Set(lacLag[n])
	}
	m.metrics.pending.Set(pending)
}

// rollLimits are the shard's overrides or the journal defaults.
func (m *Manager) rollLimits(id segstore.SegmentID) (uint64, time.Duration) {
	maxBytes, maxAge := m.cfg.SegmentMaxBytes, m.cfg.SegmentMaxAge
	if sh, _, ok := m.cfg.Meta.Shard(id.Tenant, id.Shard); ok {
		if v, ok := sh.GetConfig()[ConfigMaxBytes]; ok {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				maxBytes = n
			}
		}
		if v, ok := sh.GetConfig()[ConfigMaxAge]; ok {
			if d, err := time.ParseDuration(v); err == nil {
				maxAge = d
			}
		}
	}
	return maxBytes, maxAge
}

// deadReplicas are the replicas other than this node not ALIVE in the
// metadata.
func (m *Manager) deadReplicas(l *leader) []uint64 {
	var dead []uint64
	for _, n := range l.replicas {
		if n == m.cfg.NodeID {
			continue
		}
		if node, ok := m.cfg.Meta.Node(n); !ok || node.GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
			dead = append(dead, n)
		}
	}
	return dead
}

// sealAndRoll stops appends, settles the end at the LAC, seals locally and
// on the live followers, then asks placement to seal and open the next
// segment.
func (m *Manager) sealAndRoll(l *leader, reason string, dead []uint64) {
	l.appendMu.Lock()
	l.mu.Lock()
	if l.state != stateOpen {
		l.mu.Unlock()
		l.appendMu.Unlock()
		return
	}
	l.state = stateSealing
	l.sealedCh = make(chan struct{})
	logEnd := l.logEnd
	l.mu.Unlock()
	l.appendMu.Unlock()
	m.log.Info().Str("segment", l.id.String()).Str("reason", reason).Uint64("log_end", logEnd).Msg("sealing segment")

	ctx, cancel := context.WithTimeout(l.ctx, m.cfg.SettleTimeout)
	_, _ = l.tracker.WaitFor(ctx, logEnd)
	cancel()
	// Stop replicating and wait until the replicators are gone: only then
	// is the LAC final (no appends run, nobody else updates the tracker),
	// so no append past the end can be acknowledged. The seal below
	// carries the end to the followers.
	l.cancel()
	l.wg.Wait()
	end := l.tracker.LAC()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = m.cfg.Store.Seal(l.id, end); err == nil {
			break
		}
		if m.ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		l.fail(StoreError(l.id, err))
		return
	}
	l.mu.Lock()
	l.state = stateSealed
	l.end = end
	close(l.sealedCh)
	l.mu.Unlock()
	l.tracker.Fail(rpcerr.SegmentSealed(end))
	m.changes.Notify(l.id)
	m.metrics.rolls.WithLabelValues(rollReason(reason)).Inc()
	m.sealFollowers(l, end, dead)
	m.roll(l, end, dead)
}

func rollReason(r string) string {
	if r == "size" || r == "age" {
		return r
	}
	return "replica_dead"
}

// sealFollowers seals the live followers at end, best effort (reconcile
// seals the others from placement).
func (m *Manager) sealFollowers(l *leader, end uint64, dead []uint64) {
	var wg sync.WaitGroup
	for _, n := range l.replicas {
		if n == m.cfg.NodeID || slices.Contains(dead, n) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc, err := m.cfg.Peers.Conn(n)
			if err == nil {
				ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
				_, err = journalpb.NewJournalServiceClient(cc).Seal(ctx, &journalpb.SealRequest{Segment: Ref(l.id), EndOffset: end})
				cancel()
			}
			if err != nil {
				m.log.Warn().Err(err).Str("segment", l.id.String()).Uint64("follower", n).Msg("sealing follower; reconcile will finish it")
			}
		}()
	}
	wg.Wait()
}

// roll calls placement SealAndRoll until it is applied or the segment is no
// longer this leader's to roll.
func (m *Manager) roll(l *leader, end uint64, dead []uint64) {
	version := l.version
	if seg, ok := m.cfg.Meta.Segment(l.id.Tenant, l.id.Shard, l.id.Seq); ok {
		version = seg.GetVersion()
	}
	backoff := 100 * time.Millisecond
	for m.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
		resp, err := m.cfg.Placement.SealAndRoll(ctx, &placementpb.SealAndRollRequest{
			Tenant: l.id.Tenant, Shard: l.id.Shard, Seq: l.id.Seq, EndOffset: end,
			ExpectedVersion: version, ExcludeNodes: dead,
		})
		cancel()
		if err == nil {
			m.log.Info().Str("segment", l.id.String()).Uint64("end", end).Uint32("next_seq", resp.GetNext().GetSeq()).
				Uint64("next_leader", resp.GetNext().GetLeader()).Msg("segment sealed and rolled")
			return
		}
		if _, ok := rpcerr.AsSegmentSealed(err); ok || status.Code(err) == codes.NotFound {
			return
		}
		if vm, ok := rpcerr.AsVersionMismatch(err); ok {
			seg, found := m.cfg.Meta.Segment(l.id.Tenant, l.id.Shard, l.id.Seq)
			if !found || seg.GetStatus() != placementpb.SegmentStatus_SEGMENT_STATUS_OPEN || seg.GetEpoch() != l.epoch {
				return // recovery or another roll took it over
			}
			version = vm.GetCurrentVersion()
			continue
		}
		m.log.Warn().Err(err).Str("segment", l.id.String()).Msg("SealAndRoll failed; retrying")
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
