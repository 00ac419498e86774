package raftnode

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/placement-center/internal/raftstore"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// ErrRemoved is returned by Run when this member applied its own removal
// from the cluster: it stops participating and its process should exit.
var ErrRemoved = errors.New("raftnode: this member was removed from the cluster")

// Raft library limits (DESIGN section 4 and the brief).
const (
	maxSizePerMsg             = 1 << 20
	maxInflightMsgs           = 256
	maxUncommittedEntriesSize = 64 << 20
	// applyQueueLen bounds the batches handed to the applier; a slow state
	// machine then holds back the Ready loop instead of growing memory.
	applyQueueLen = 64
	// maxReadyPerWake bounds one burst of Ready handling so ticks are not
	// starved; the loop wakes itself to continue.
	maxReadyPerWake = 64
)

// Node is one member of the placement center's Raft group.
type Node struct {
	cfg     Config
	sm      StateMachine
	store   *raftstore.Store
	log     zerolog.Logger
	metrics *metrics

	// mu guards the RawNode, which is not safe for concurrent use, and the
	// fields that change together with it.
	mu       sync.Mutex
	rn       *raft.RawNode
	stopped  bool   // Run has ended (or never may run again); rn must not be touched
	readyGen uint64 // number of Ready() calls so far
	// pendingConf is the conf change this leader proposed and has not yet
	// seen appended; raft silently turns a conf change into an empty entry
	// when another one is pending, and this is how that is detected.
	pendingConf *pendingConfChange

	// wake makes the Ready loop look for work now rather than at the next
	// tick. Buffered 1; sends never block.
	wake chan struct{}

	// view is what readers outside the Ready loop see of membership and
	// leadership.
	viewMu    sync.RWMutex
	members   raftstore.Membership
	learned   map[uint64]string // addresses of not-yet-known members, from their envelopes
	lead      uint64
	raftState raft.StateType
	term      uint64
	transport *transport // non-nil while Run runs

	confMu      sync.Mutex // serializes AddMember/RemoveMember
	propq       proposalQueue
	proposals   *proposalWaiters
	reads       *readWaiters
	applied     *appliedNotifier
	proposalSeq atomic.Uint64
	readSeq     atomic.Uint64
	commitIndex atomic.Uint64

	applyc      chan applyItem
	applier     *applier
	applyExited chan struct{}
	// stopping is closed when Run begins to stop; peer stream handlers
	// return on it so a graceful gRPC stop does not wait for them.
	stopping chan struct{}
	applyErr error // set before applyExited is closed
	removed  bool  // Ready loop only
	// hardTerm and hardVote are the term and vote of the last HardState
	// persisted (Ready loop only): a Ready that keeps them needs no
	// HardState on disk before its messages go out.
	hardTerm, hardVote uint64
	running            atomic.Bool
	closeOnce          sync.Once
	snapshotsIn        atomic.Uint64
	leadership         *leadershipHub
}

type pendingConfChange struct {
	proposalID uint64
	gen        uint64 // readyGen when proposed: the next Ready must show it
}

// New opens the member's Raft log in cfg.DataDir and prepares it: a fresh
// directory bootstraps cfg.Peers (or waits to be contacted when cfg.Join);
// an existing one restarts from its log, with the state machine's applied
// index as the point raft resumes applying from.
func New(cfg Config, sm StateMachine) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("component", "raft").Uint64("member", cfg.ID).Logger()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	store, err := raftstore.Open(cfg.DataDir, raftstore.Options{CrashHook: cfg.CrashHook, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("raftnode: %w", err)
	}
	n, err := newNode(cfg, sm, store, log, m)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	if err := m.registerNode(n); err != nil {
		_ = store.Close()
		return nil, err
	}
	return n, nil
}

func newNode(cfg Config, sm StateMachine, store *raftstore.Store, log zerolog.Logger, m *metrics) (*Node, error) {
	fresh := store.IsEmpty()
	if fresh && !cfg.Join {
		if !containsMember(cfg.Peers, cfg.ID) {
			return nil, fmt.Errorf("raftnode: bootstrap peers %v do not include this member %d", cfg.Peers, cfg.ID)
		}
	}
	if fresh && sm.AppliedIndex() != 0 {
		return nil, fmt.Errorf("raftnode: state machine applied index %d but the raft log is empty", sm.AppliedIndex())
	}
	if err := restoreFromStoredSnapshot(store, sm, log); err != nil {
		return nil, err
	}
	applied := sm.AppliedIndex()
	hs := store.HardState()
	if applied > hs.GetCommit() {
		// Commit-index-only HardState updates are persisted without sync
		// (see raftstore.SaveReady), so a crash can leave the durable
		// commit index behind what the state machine (a separate
		// database) synced. Entries are synced before they are applied and
		// only committed entries are applied, so the log holds them and
		// they are committed: raise the commit index to match, as raft
		// refuses to start with applied beyond commit.
		last, err := store.LastIndex()
		if err != nil {
			return nil, fmt.Errorf("raftnode: %w", err)
		}
		if applied > last {
			return nil, fmt.Errorf("raftnode: state machine applied index %d beyond the log's last index %d", applied, last)
		}
		log.Warn().Uint64("applied", applied).Uint64("commit", hs.GetCommit()).
			Msg("durable commit index behind the state machine after a crash; raising it")
		if err := store.RaiseCommit(applied); err != nil {
			return nil, fmt.Errorf("raftnode: %w", err)
		}
		hs = store.HardState()
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   store,
		Applied:                   applied,
		MaxSizePerMsg:             maxSizePerMsg,
		MaxInflightMsgs:           maxInflightMsgs,
		MaxUncommittedEntriesSize: maxUncommittedEntriesSize,
		CheckQuorum:               true,
		PreVote:                   true,
		// Followers answer NotLeader themselves; a forwarded proposal
		// would leave its waiter on the wrong member.
		DisableProposalForwarding: true,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{log: log},
	})
	if err != nil {
		return nil, fmt.Errorf("raftnode: new raw node: %w", err)
	}
	members := store.Membership()
	if fresh && !cfg.Join {
		peers := make([]raft.Peer, 0, len(cfg.Peers))
		for _, p := range cfg.Peers {
			ctx, err := proto.Marshal(&placementpb.Member{Id: p.GetId(), Addr: p.GetAddr()})
			if err != nil {
				return nil, fmt.Errorf("raftnode: marshal peer: %w", err)
			}
			peers = append(peers, raft.Peer{ID: p.GetId(), Context: ctx})
			// Known in memory at once so the first messages can be
			// sent; made durable when the bootstrap entries apply.
			members = members.WithMember(p.GetId(), p.GetAddr())
		}
		if err := rn.Bootstrap(peers); err != nil {
			return nil, fmt.Errorf("raftnode: bootstrap: %w", err)
		}
		log.Info().Int("peers", len(peers)).Msg("bootstrapping a new cluster")
	} else if !fresh {
		log.Info().Uint64("applied", applied).Uint64("commit", hs.GetCommit()).
			Uint64("term", hs.GetTerm()).Msg("restarting from the raft log")
	} else {
		log.Info().Msg("joining an existing cluster; waiting for the leader")
	}
	_, cs, err := store.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raftnode: %w", err)
	}
	n := &Node{
		cfg:         cfg,
		sm:          sm,
		store:       store,
		log:         log,
		metrics:     m,
		rn:          rn,
		wake:        make(chan struct{}, 1),
		members:     members,
		learned:     make(map[uint64]string),
		term:        hs.GetTerm(),
		proposals:   newProposalWaiters(),
		reads:       newReadWaiters(),
		applied:     newAppliedNotifier(applied),
		applyc:      make(chan applyItem, applyQueueLen),
		applyExited: make(chan struct{}),
		stopping:    make(chan struct{}),
		leadership:  newLeadershipHub(),
	}
	n.hardTerm, n.hardVote = hs.GetTerm(), hs.GetVote()
	n.applier = &applier{n: n, applied: applied, lastSnap: max(store.SnapshotIndex(), store.LogStart()),
		conf: cs, members: members, snapWanted: make(chan struct{}, 1), snapDone: make(chan snapResult, 1)}
	store.SetSnapshotWanted(n.applier.wantSnapshot)
	n.commitIndex.Store(hs.GetCommit())
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("raftnode: seed proposal ids: %w", err)
	}
	// A random start keeps ids of this incarnation apart from a previous
	// one's entries still in the log.
	n.proposalSeq.Store(binary.BigEndian.Uint64(seed[:]))
	n.readSeq.Store(binary.BigEndian.Uint64(seed[:]) >> 1)
	m.term.Set(float64(hs.GetTerm()))
	m.commitIndex.Set(float64(hs.GetCommit()))
	m.appliedIndex.Set(float64(applied))
	return n, nil
}

// restoreFromStoredSnapshot brings a state machine that is behind the raft
// store's snapshot up to it. That happens after a crash between persisting
// a snapshot received from the leader and restoring it, and raft cannot
// resume applying from before its log's start.
func restoreFromStoredSnapshot(store *raftstore.Store, sm StateMachine, log zerolog.Logger) error {
	snap := store.StoredSnapshot()
	idx := snap.GetMetadata().GetIndex()
	if raft.IsEmptySnap(snap) || sm.AppliedIndex() >= idx {
		return nil
	}
	env, err := raftstore.UnmarshalSnapshotData(snap.GetData())
	if err != nil {
		return fmt.Errorf("raftnode: stored snapshot %d: %w", idx, err)
	}
	log.Warn().Uint64("applied", sm.AppliedIndex()).Uint64("snapshot", idx).
		Msg("state machine behind the stored snapshot; restoring it")
	if err := sm.Restore(env.StateMachine, idx); err != nil {
		return fmt.Errorf("raftnode: restore stored snapshot %d: %w", idx, err)
	}
	if got := sm.AppliedIndex(); got != idx {
		return fmt.Errorf("raftnode: state machine applied index %d after restoring snapshot %d", got, idx)
	}
	return nil
}

func containsMember(ms []*placementpb.Member, id uint64) bool {
	for _, m := range ms {
		if m.GetId() == id {
			return true
		}
	}
	return false
}

// RegisterTransport registers the Raft peer service on s. The server must
// accept messages as large as the biggest snapshot
// (grpc.MaxRecvMsgSize).
func (n *Node) RegisterTransport(s *grpc.Server) {
	placementpb.RegisterRaftTransportServer(s, transportServer{n: n})
}

// Close releases the raft store of a Node whose Run was never called (Run
// closes it itself). It is safe to call more than once and after Run.
func (n *Node) Close() error {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	var err error
	n.closeOnce.Do(func() { err = n.store.Close() })
	return err
}

// Run drives the member until ctx is done (returning nil), the state
// machine or the raft store fails, a crash hook fires, or the member is
// removed (ErrRemoved). It returns after every goroutine it started has
// stopped, pending callers failed and the raft store closed. Run may be
// called once.
func (n *Node) Run(ctx context.Context) error {
	if !n.running.CompareAndSwap(false, true) {
		return errors.New("raftnode: Run called twice")
	}
	n.mu.Lock()
	stopped := n.stopped
	n.mu.Unlock()
	if stopped {
		return errors.New("raftnode: Run after Close")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Peer stream handlers return once the member stops (see transportServer.Send).
	context.AfterFunc(ctx, func() { close(n.stopping) })

	tr := newTransport(ctx, n.cfg.Addr, n, n.log)
	n.viewMu.Lock()
	n.transport = tr
	n.viewMu.Unlock()
	n.reconcilePeers()

	go func() {
		defer close(n.applyExited)
		n.applyErr = n.applier.run(n.applyc)
	}()

	err := n.runRaft(ctx)

	// Nothing touches the RawNode from here on.
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	close(n.applyc)
	<-n.applyExited
	if err == nil && n.applyErr != nil {
		err = n.applyErr
	}
	tr.stop()
	n.viewMu.Lock()
	n.transport = nil
	wasLeader := n.raftState == raft.StateLeader
	n.raftState = raft.StateFollower
	n.lead = 0
	n.viewMu.Unlock()
	if wasLeader {
		n.leadership.publish(LeadershipChange{IsLeader: false, Term: n.currentTerm()})
		n.metrics.isLeader.Set(0)
	}
	stopErr := rpcerr.NotLeader(0, "")
	// Closed first: a Propose racing with this either queues before (and
	// its waiter, registered before it queued, is failed below) or is
	// refused.
	n.propq.close()
	n.proposals.failAll(stopErr)
	n.closeOnce.Do(func() {
		if cerr := n.store.Close(); cerr != nil && err == nil {
			err = cerr
		}
	})
	if err != nil {
		n.log.Error().Err(err).Msg("raft member stopped")
	} else {
		n.log.Info().Msg("raft member stopped")
	}
	return err
}

// signal wakes the Ready loop.
func (n *Node) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Node) hook(point string) error {
	if n.cfg.CrashHook == nil {
		return nil
	}
	if err := n.cfg.CrashHook(point); err != nil {
		return fmt.Errorf("raftnode: crash hook at %s: %w", point, err)
	}
	return nil
}

// runRaft is the Ready loop: tick, and handle every Ready in order.
func (n *Node) runRaft(ctx context.Context) error {
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.applyExited:
			return n.applyErr
		case <-ticker.C:
			n.mu.Lock()
			n.rn.Tick()
			n.mu.Unlock()
		case <-n.wake:
		}
		for i := 0; ; i++ {
			if i == maxReadyPerWake {
				n.signal()
				break
			}
			n.flushProposals()
			n.mu.Lock()
			if !n.rn.HasReady() {
				n.mu.Unlock()
				break
			}
			rd := n.rn.Ready()
			n.readyGen++
			gen, pending := n.readyGen, n.pendingConf
			n.mu.Unlock()

			if err := n.handleReady(ctx, rd, gen, pending); err != nil {
				if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
					return nil // stopping while waiting on the applier
				}
				return err
			}

			n.mu.Lock()
			n.rn.Advance(rd)
			n.mu.Unlock()
			if n.removed {
				n.log.Warn().Msg("this member was removed from the cluster; it stops participating")
				return ErrRemoved
			}
		}
	}
}

// handleReady processes one Ready in the order raft's doc.go requires:
// persist snapshot, entries and HardState in one batch (synced when
// rd.MustSync or a snapshot is in it); only then send messages; then apply
// the snapshot and committed entries.
//
// One exception, the leader optimization of the Raft thesis (10.2.1) that
// raft's doc.go allows: a leader whose HardState keeps its persisted term
// and vote sends its MsgApp and MsgHeartbeat messages before persisting the
// Ready, so followers write the new entries while the leader does. This is
// safe because (1) those messages depend on no unpersisted term or vote
// (only the commit index may be new, which needs no disk), (2) every entry
// of earlier Readies is already persisted (Readies are handled one after
// the other), and (3) raft counts the leader's own copy of an entry towards
// the quorum only after Advance, i.e. after Save returned (the leader's
// self-acknowledgement is stepped on Advance), so an entry is never
// committed on the strength of an unpersisted leader copy. Every other
// message, and every message of a Ready that changes term or vote, is sent
// after Save.
func (n *Node) handleReady(ctx context.Context, rd raft.Ready, gen uint64, pending *pendingConfChange) error {
	if rd.HardState != nil {
		n.commitIndex.Store(rd.HardState.GetCommit())
		n.metrics.commitIndex.Set(float64(rd.HardState.GetCommit()))
		n.viewMu.Lock()
		n.term = rd.HardState.GetTerm()
		n.viewMu.Unlock()
		n.metrics.term.Set(float64(rd.HardState.GetTerm()))
	}
	if rd.SoftState != nil {
		n.onSoftState(*rd.SoftState)
	}
	n.trackAppended(rd.Entries, gen, pending)

	msgs := rd.Messages
	hsKept := raft.IsEmptyHardState(rd.HardState) ||
		(rd.HardState.GetTerm() == n.hardTerm && rd.HardState.GetVote() == n.hardVote)
	// n.raftState was set from this Ready's SoftState by onSoftState above
	// and is written only by this goroutine.
	if n.raftState == raft.StateLeader && hsKept && raft.IsEmptySnap(rd.Snapshot) && len(msgs) > 0 {
		var early []*raftpb.Message
		early, msgs = splitLeaderEarly(msgs)
		n.sendMessages(early)
		if len(early) > 0 {
			// The peers' senders were just made runnable on this
			// goroutine's P, which the fsync below would hold in a system
			// call: they ran only when the scheduler took the P back or
			// another thread stole them, 110-150 µs later on average at
			// concurrency 1 on the benchmark machine (1.5 µs with the
			// yield). Yielding lets them hand the messages to gRPC first,
			// so the followers' writes overlap the leader's.
			runtime.Gosched()
		}
	}
	if err := n.store.SaveReady(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
		return fmt.Errorf("raftnode: persist ready: %w", err)
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		n.hardTerm, n.hardVote = rd.HardState.GetTerm(), rd.HardState.GetVote()
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(ctx, rd.Snapshot); err != nil {
			return err
		}
	}
	if err := n.hook(CrashBeforeSend); err != nil {
		return err
	}
	n.sendMessages(msgs)
	if err := n.commitEntries(ctx, rd.CommittedEntries); err != nil {
		return err
	}
	for _, rs := range rd.ReadStates {
		n.reads.resolve(rs.RequestCtx, rs.Index)
	}
	return nil
}

// splitLeaderEarly splits a leader's messages into the MsgApp and
// MsgHeartbeat ones it may send before persisting (see handleReady) and
// the rest, keeping each list's order.
func splitLeaderEarly(msgs []*raftpb.Message) (early, late []*raftpb.Message) {
	for _, m := range msgs {
		switch m.GetType() {
		case raftpb.MsgApp, raftpb.MsgHeartbeat:
			early = append(early, m)
		default:
			late = append(late, m)
		}
	}
	return early, late
}

// onSoftState records leadership changes, fails proposals that can no
// longer commit through this member and tells subscribers.
func (n *Node) onSoftState(ss raft.SoftState) {
	n.viewMu.Lock()
	prevLead, prevState := n.lead, n.raftState
	n.lead, n.raftState = ss.Lead, ss.RaftState
	term := n.term
	n.viewMu.Unlock()

	if ss.Lead != prevLead {
		n.metrics.leaderChanges.Inc()
		n.log.Info().Uint64("leader", ss.Lead).Uint64("term", term).Str("state", raftStateName(ss.RaftState)).
			Msg("raft leader changed")
	}
	wasLeader, isLeader := prevState == raft.StateLeader, ss.RaftState == raft.StateLeader
	if wasLeader && !isLeader {
		n.proposals.failUncommitted(n.commitIndex.Load(), rpcerr.NotLeader(ss.Lead, n.addrOf(ss.Lead)))
	}
	if wasLeader != isLeader {
		if isLeader {
			n.metrics.isLeader.Set(1)
		} else {
			n.metrics.isLeader.Set(0)
		}
		n.leadership.publish(LeadershipChange{IsLeader: isLeader, Term: term, LeaderID: ss.Lead})
	}
}

// trackAppended notes the log index of this leader's own proposals as
// they are appended, and detects a conf change proposal that raft refused
// by turning it into an empty entry.
func (n *Node) trackAppended(entries []*raftpb.Entry, gen uint64, pending *pendingConfChange) {
	if n.proposals.empty() {
		return
	}
	pendingSeen := false
	for _, e := range entries {
		switch e.GetType() {
		case raftpb.EntryNormal:
			if id := proposalIDOf(e.GetData()); id != 0 && n.ownsProposal(id) {
				n.proposals.setIndex(id, e.GetIndex())
			}
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := proto.Unmarshal(e.GetData(), &cc); err == nil && cc.GetId() != 0 {
				n.proposals.setIndex(cc.GetId(), e.GetIndex())
				if pending != nil && cc.GetId() == pending.proposalID {
					pendingSeen = true
				}
			}
		}
	}
	if pending == nil || pending.gen >= gen {
		return // proposed after this Ready was taken: the next one shows it
	}
	n.mu.Lock()
	if n.pendingConf == pending {
		n.pendingConf = nil
	}
	n.mu.Unlock()
	if !pendingSeen {
		n.proposals.resolve(pending.proposalID, proposalResult{err: errConfChangeRefused})
	}
}

// proposalIDOf reads Command.proposal_id (field 1) from a marshalled
// Command without decoding the rest.
func proposalIDOf(data []byte) uint64 {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return 0
		}
		data = data[n:]
		if num == 1 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return 0
			}
			return v
		}
		n = protowire.ConsumeFieldValue(num, typ, data)
		if n < 0 {
			return 0
		}
		data = data[n:]
	}
	return 0
}

// installSnapshot takes a snapshot the leader sent (already persisted):
// membership and transport now, the state machine through the applier so it
// stays in order with entries queued before it.
func (n *Node) installSnapshot(ctx context.Context, snap *raftpb.Snapshot) error {
	meta := snap.GetMetadata()
	env, err := raftstore.UnmarshalSnapshotData(snap.GetData())
	if err != nil {
		return fmt.Errorf("raftnode: snapshot %d: %w", meta.GetIndex(), err)
	}
	n.viewMu.Lock()
	n.members = env.Membership.Clone()
	for id := range n.learned {
		if id <= n.members.MaxID {
			delete(n.learned, id)
		}
	}
	n.viewMu.Unlock()
	n.reconcilePeers()
	if !env.Membership.Contains(n.cfg.ID) && len(env.Membership.Members) > 0 && env.Membership.MaxID >= n.cfg.ID {
		n.removed = true
	}
	n.snapshotsIn.Add(1)
	n.metrics.snapshots.WithLabelValues(snapshotInstalled).Inc()
	n.log.Info().Uint64("index", meta.GetIndex()).Uint64("term", meta.GetTerm()).
		Int("bytes", len(snap.GetData())).Msg("installing snapshot from the leader")
	return n.enqueue(ctx, applyItem{restore: &restoreItem{
		index:   meta.GetIndex(),
		data:    env.StateMachine,
		conf:    meta.GetConfState(),
		members: env.Membership,
	}})
}

// sendMessages queues every message for its peer. A message that cannot be
// queued is reported so raft stops assuming it was delivered.
func (n *Node) sendMessages(msgs []*raftpb.Message) {
	n.viewMu.RLock()
	tr := n.transport
	n.viewMu.RUnlock()
	for _, m := range msgs {
		to := m.GetTo()
		if to == n.cfg.ID || tr == nil {
			continue
		}
		data, err := proto.Marshal(m)
		if err != nil {
			n.log.Error().Err(err).Str("type", m.GetType().String()).Msg("marshal raft message")
			continue
		}
		isSnap := m.GetType() == raftpb.MsgSnap
		if isSnap {
			n.metrics.snapshots.WithLabelValues(snapshotSent).Inc()
		}
		if !tr.send(to, outbound{data: data, snap: isSnap}) {
			n.reportUnreachable(to)
			if isSnap {
				n.reportSnapshot(to, raft.SnapshotFailure)
			}
		}
	}
}

func (n *Node) reportUnreachable(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.stopped {
		n.rn.ReportUnreachable(id)
	}
}

func (n *Node) reportSnapshot(id uint64, st raft.SnapshotStatus) {
	n.mu.Lock()
	if !n.stopped {
		n.rn.ReportSnapshot(id, st)
	}
	n.mu.Unlock()
	n.signal()
}

// commitEntries hands committed entries to the applier in order. A conf
// change is applied to raft here, synchronously, as raft requires before the
// next Ready; first the applier drains and syncs everything before it, so
// the durable state machine is at most this one conf change behind the
// durable ConfState, and a restart that replays it re-applies it
// idempotently.
func (n *Node) commitEntries(ctx context.Context, entries []*raftpb.Entry) error {
	var batch []committedEntry
	for _, e := range entries {
		switch e.GetType() {
		case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
			if len(batch) > 0 {
				if err := n.enqueue(ctx, applyItem{entries: batch}); err != nil {
					return err
				}
				batch = nil
			}
			if err := n.barrier(ctx); err != nil {
				return err
			}
			res, err := n.applyConfChange(e)
			if err != nil {
				return err
			}
			batch = append(batch, committedEntry{entry: e, conf: res})
		default:
			batch = append(batch, committedEntry{entry: e})
		}
	}
	if len(batch) > 0 {
		return n.enqueue(ctx, applyItem{entries: batch})
	}
	return nil
}

func (n *Node) enqueue(ctx context.Context, it applyItem) error {
	select {
	case n.applyc <- it:
		return nil
	case <-n.applyExited:
		if n.applyErr != nil {
			return n.applyErr
		}
		return errors.New("raftnode: applier stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// barrier waits until the applier applied and synced everything queued.
func (n *Node) barrier(ctx context.Context) error {
	done := make(chan struct{})
	if err := n.enqueue(ctx, applyItem{barrier: done}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-n.applyExited:
		if n.applyErr != nil {
			return n.applyErr
		}
		return errors.New("raftnode: applier stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// confResult is the outcome of one applied conf change entry.
type confResult struct {
	proposalID uint64
	confState  *raftpb.ConfState
	members    raftstore.Membership
}

// applyConfChange applies a committed conf change to raft, to the
// membership (addresses ride in the change's context as a marshalled
// placementpb.Member) and durably to the raft store.
func (n *Node) applyConfChange(e *raftpb.Entry) (*confResult, error) {
	var (
		cci        raftpb.ConfChangeI
		ctxData    []byte
		proposalID uint64
	)
	if e.GetType() == raftpb.EntryConfChange {
		cc := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return nil, fmt.Errorf("raftnode: conf change at %d: %w", e.GetIndex(), err)
		}
		cci, ctxData, proposalID = cc, cc.GetContext(), cc.GetId()
	} else {
		cc := &raftpb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return nil, fmt.Errorf("raftnode: conf change v2 at %d: %w", e.GetIndex(), err)
		}
		cci, ctxData = cc, cc.GetContext()
	}
	var ctxMember placementpb.Member
	if len(ctxData) > 0 {
		if err := proto.Unmarshal(ctxData, &ctxMember); err != nil {
			n.log.Warn().Err(err).Uint64("index", e.GetIndex()).Msg("conf change context is not a member")
		}
	}

	n.mu.Lock()
	cs := n.rn.ApplyConfChange(cci)
	n.mu.Unlock()

	n.viewMu.Lock()
	members := n.members
	for _, ch := range cci.AsV2().GetChanges() {
		id := ch.GetNodeId()
		if id == 0 {
			continue
		}
		switch ch.GetType() {
		case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
			addr := ""
			if ctxMember.GetId() == id {
				addr = ctxMember.GetAddr()
			}
			if addr == "" {
				addr, _ = members.Addr(id)
			}
			if addr == "" {
				addr = n.learned[id]
			}
			members = members.WithMember(id, addr)
			delete(n.learned, id)
		case raftpb.ConfChangeRemoveNode:
			members = members.WithoutMember(id)
			delete(n.learned, id)
			if id == n.cfg.ID {
				n.removed = true
			}
		}
	}
	n.members = members
	n.viewMu.Unlock()

	if err := n.store.SetConfState(cs, members); err != nil {
		return nil, fmt.Errorf("raftnode: persist conf state at %d: %w", e.GetIndex(), err)
	}
	n.reconcilePeers()
	n.log.Info().Uint64("index", e.GetIndex()).Uints64("voters", cs.GetVoters()).
		Int("members", len(members.Members)).Msg("applied membership change")
	return &confResult{proposalID: proposalID, confState: cs, members: members.Clone()}, nil
}

// reconcilePeers points the transport at every member and learned address
// except this member.
func (n *Node) reconcilePeers() {
	n.viewMu.RLock()
	tr := n.transport
	addrs := make(map[uint64]string, len(n.members.Members)+len(n.learned))
	for id, addr := range n.learned {
		addrs[id] = addr
	}
	for _, m := range n.members.Members {
		addrs[m.GetId()] = m.GetAddr()
	}
	n.viewMu.RUnlock()
	delete(addrs, n.cfg.ID)
	if tr != nil {
		tr.setPeers(addrs)
	}
}

// receive steps a message from a peer into raft.
func (n *Node) receive(m *raftpb.Message, fromAddr string) error {
	if m.GetTo() != n.cfg.ID {
		n.log.Debug().Uint64("to", m.GetTo()).Msg("dropping raft message for another member")
		return nil
	}
	from := m.GetFrom()
	if fromAddr != "" && from != 0 && from != n.cfg.ID {
		n.learnAddr(from, fromAddr)
	}
	n.mu.Lock()
	if n.stopped || !n.running.Load() {
		n.mu.Unlock()
		return errNotRunning
	}
	err := n.rn.Step(m)
	n.mu.Unlock()
	if err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
		n.log.Debug().Err(err).Str("type", m.GetType().String()).Uint64("from", from).Msg("raft step")
	}
	n.signal()
	return nil
}

// learnAddr remembers the address of a sender that membership does not
// know yet (a member that joined before this one applied its addition, or
// the leader of a cluster this fresh member is joining). Ids at or below
// the highest known id are members or removed members: never learned.
func (n *Node) learnAddr(id uint64, addr string) {
	n.viewMu.Lock()
	if n.members.Contains(id) || id <= n.members.MaxID || n.learned[id] == addr {
		n.viewMu.Unlock()
		return
	}
	n.learned[id] = addr
	n.viewMu.Unlock()
	n.log.Info().Uint64("peer", id).Str("addr", addr).Msg("learned raft peer address")
	n.reconcilePeers()
}

// addrOf returns the address of member id, "" if unknown.
func (n *Node) addrOf(id uint64) string {
	if id == 0 {
		return ""
	}
	if id == n.cfg.ID {
		return n.cfg.Addr
	}
	n.viewMu.RLock()
	defer n.viewMu.RUnlock()
	if addr, ok := n.members.Addr(id); ok {
		return addr
	}
	return n.learned[id]
}

func (n *Node) currentTerm() uint64 {
	n.viewMu.RLock()
	defer n.viewMu.RUnlock()
	return n.term
}
