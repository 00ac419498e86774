package raftnode

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/placement-center/internal/raftstore"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// applyItem is one unit of work for the applier, processed in order.
// Exactly one field is set.
type applyItem struct {
	entries []committedEntry
	restore *restoreItem
	// barrier is closed once everything before it is applied and synced.
	barrier chan struct{}
}

type committedEntry struct {
	entry *raftpb.Entry
	conf  *confResult // set for conf change entries, already applied to raft
}

type restoreItem struct {
	index   uint64
	data    []byte
	conf    *raftpb.ConfState
	members raftstore.Membership
}

// applier owns the state machine side: it applies committed entries off
// the Ready loop, resolves proposal waiters with their Outcomes, compacts
// the log and triggers snapshots. It runs in one goroutine started by Run;
// a snapshot is taken by one more goroutine it starts (at most one at a
// time) and waits for before run returns.
type applier struct {
	n       *Node
	applied uint64
	// lastSnap is the applied index at the last snapshot or compaction
	// round (the next one is due SnapshotEntries later).
	lastSnap uint64
	// conf and members are the configuration as of applied, which is what
	// a snapshot at applied must carry.
	conf    *raftpb.ConfState
	members raftstore.Membership

	// confEpoch counts the conf changes and snapshot restores the applier
	// started to apply. It is bumped before the state machine sees them, so
	// a snapshot goroutine that finds it unchanged after StateMachine.Snapshot
	// returned knows the configuration it started from is the one at the
	// snapshot's index.
	confEpoch atomic.Uint64
	// snapping: a snapshot goroutine runs and will send on snapDone
	// (buffered 1). Applier goroutine only.
	snapping bool
	snapDone chan snapResult
	// snapWanted (buffered 1) is signalled by the raft store when raft
	// needs a snapshot newer than the stored one (see wantSnapshot).
	snapWanted chan struct{}
}

// wantSnapshot is the raft store's SnapshotWanted hook: raft wants to send
// a snapshot and the stored one is older than the log. It only signals.
func (a *applier) wantSnapshot() {
	select {
	case a.snapWanted <- struct{}{}:
	default:
	}
}

// snapBase is the applier's position when it starts a snapshot.
type snapBase struct {
	applied uint64
	conf    *raftpb.ConfState
	members raftstore.Membership
	epoch   uint64
}

// snapResult is what a snapshot goroutine reports: the index it stored a
// snapshot at, or skipped (a newer snapshot exists, or the configuration
// changed under it; the next trigger retries), or an error.
type snapResult struct {
	index   uint64
	skipped bool
	err     error
	bytes   int
	// serialize: StateMachine.Snapshot and the envelope; store: the
	// synced write to the raft store.
	serialize, store time.Duration
}

// run applies items until items is closed or applying fails. It returns
// only once no snapshot goroutine runs, so the caller may close the store.
func (a *applier) run(items <-chan applyItem) (err error) {
	defer func() {
		if a.snapping {
			r := <-a.snapDone
			a.snapping = false
			if err == nil && r.err != nil {
				err = r.err
			}
		}
	}()
	var held *applyItem // taken from items while coalescing, not yet run
	for {
		var (
			it     applyItem
			ok     = true
			closed bool
		)
		if held != nil {
			it, held = *held, nil
		} else {
			select {
			case it, ok = <-items:
			case r := <-a.snapDone:
				a.snapping = false
				if err = a.snapshotDone(r); err != nil {
					return err
				}
				continue
			case <-a.snapWanted:
				if !a.snapping {
					a.startSnapshot()
				}
				continue
			}
		}
		if !ok {
			return nil
		}
		if it.entries != nil {
			it, held, closed = coalesceEntries(it, items)
		}
		switch {
		case it.barrier != nil:
			err = a.n.sm.Sync()
			if err == nil {
				close(it.barrier)
			}
		case it.restore != nil:
			err = a.restore(it.restore)
		default:
			err = a.apply(it.entries)
		}
		if err != nil {
			return err
		}
		if closed {
			return nil
		}
	}
}

// maxApplyBatch bounds the entries coalesced into one StateMachine.Apply.
const maxApplyBatch = 4096

// coalesceEntries appends to it (an entries item) the entries of the items
// already queued behind it, up to maxApplyBatch, so one Apply (one state
// machine batch) covers several Readies' worth under load. It stops at the
// first item of another kind, returned as held to be run next, in order;
// closed reports that items was closed meanwhile.
func coalesceEntries(it applyItem, items <-chan applyItem) (out applyItem, held *applyItem, closed bool) {
	for len(it.entries) < maxApplyBatch {
		select {
		case next, ok := <-items:
			if !ok {
				return it, nil, true
			}
			if next.entries == nil {
				return it, &next, false
			}
			if len(it.entries) == cap(it.entries) {
				// Copy before growing: the slice came from the Ready loop.
				grown := make([]committedEntry, len(it.entries), 2*(len(it.entries)+len(next.entries)))
				copy(grown, it.entries)
				it.entries = grown
			}
			it.entries = append(it.entries, next.entries...)
		default:
			return it, nil, false
		}
	}
	return it, nil, false
}

func (a *applier) restore(r *restoreItem) error {
	if r.index <= a.applied {
		return nil
	}
	a.confEpoch.Add(1) // before the state machine changes: see confEpoch
	if err := a.n.sm.Restore(r.data, r.index); err != nil {
		return fmt.Errorf("raftnode: restore snapshot %d: %w", r.index, err)
	}
	a.applied, a.lastSnap = r.index, r.index
	a.conf, a.members = r.conf, r.members
	a.n.applied.advance(r.index)
	a.n.metrics.appliedIndex.Set(float64(r.index))
	return nil
}

func (a *applier) apply(entries []committedEntry) error {
	cmds := make([]Committed, 0, len(entries))
	kept := make([]committedEntry, 0, len(entries))
	for _, ce := range entries {
		idx := ce.entry.GetIndex()
		if idx <= a.applied {
			continue // covered by a snapshot restored meanwhile
		}
		if want := a.applied + uint64(len(cmds)) + 1; idx != want {
			return fmt.Errorf("raftnode: committed entry %d out of order, expected %d", idx, want)
		}
		c := Committed{Index: idx, Term: ce.entry.GetTerm()}
		if ce.entry.GetType() == raftpb.EntryNormal && len(ce.entry.GetData()) > 0 {
			cmd := &placementpb.Command{}
			if err := proto.Unmarshal(ce.entry.GetData(), cmd); err != nil {
				return fmt.Errorf("raftnode: entry %d is not a command: %w", idx, err)
			}
			c.Cmd = cmd
		}
		cmds = append(cmds, c)
		kept = append(kept, ce)
	}
	if len(cmds) == 0 {
		return nil
	}
	if err := a.n.hook(CrashBeforeApply); err != nil {
		return err
	}
	for _, ce := range kept {
		if ce.conf != nil {
			a.confEpoch.Add(1) // before the state machine applies it: see confEpoch
			break
		}
	}
	outcomes, err := a.n.sm.Apply(cmds)
	if err != nil {
		return fmt.Errorf("raftnode: apply entries %d..%d: %w", cmds[0].Index, cmds[len(cmds)-1].Index, err)
	}
	if len(outcomes) != len(cmds) {
		return fmt.Errorf("raftnode: state machine returned %d outcomes for %d entries", len(outcomes), len(cmds))
	}
	if err := a.n.hook(CrashAfterApply); err != nil {
		return err
	}
	a.applied = cmds[len(cmds)-1].Index
	for i, c := range cmds {
		if conf := kept[i].conf; conf != nil {
			a.conf, a.members = conf.confState, conf.members
			if conf.proposalID != 0 && a.n.ownsProposal(conf.proposalID) {
				a.n.proposals.resolve(conf.proposalID, proposalResult{members: conf.members.Clone()})
			}
			continue
		}
		if c.Cmd == nil || !a.n.ownsProposal(c.Cmd.GetProposalId()) {
			continue
		}
		a.n.proposals.resolve(c.Cmd.GetProposalId(), proposalResult{value: outcomes[i].Value, err: outcomes[i].Err})
	}
	a.n.applied.advance(a.applied)
	a.n.metrics.appliedIndex.Set(float64(a.applied))
	return a.maybeSnapshot()
}

// maybeSnapshot runs a compaction round once SnapshotEntries entries were
// applied since the last one. The leader takes a snapshot (off the
// applier, see takeSnapshot) and compacts once it is stored (snapshotDone):
// it is the member that sends snapshots to followers too far behind. A
// member that does not lead only needs its state machine durable past the
// compaction point to restart, so it syncs and compacts without
// serializing the state; should it become leader and raft need a snapshot,
// the raft store asks for one (wantSnapshot).
func (a *applier) maybeSnapshot() error {
	if a.applied-a.lastSnap < a.n.cfg.SnapshotEntries {
		return nil
	}
	if a.n.IsLeader() {
		if !a.snapping {
			a.startSnapshot()
		}
		return nil
	}
	a.lastSnap = a.applied
	return a.compact(a.applied)
}

// startSnapshot starts the snapshot goroutine (none may be running).
func (a *applier) startSnapshot() {
	a.snapping = true
	base := snapBase{applied: a.applied, conf: a.conf, members: a.members.Clone(), epoch: a.confEpoch.Load()}
	go func() { a.snapDone <- a.takeSnapshot(base) }()
}

// compact drops the log up to index-CompactKeep (entries kept for slow
// followers) after syncing the state machine: entries leave the log only
// once their effects are durable (everything applied so far, which covers
// index).
func (a *applier) compact(index uint64) error {
	keep := a.n.cfg.CompactKeep
	if index <= keep {
		return nil
	}
	if err := a.n.sm.Sync(); err != nil {
		return fmt.Errorf("raftnode: sync before compaction: %w", err)
	}
	if err := a.n.store.Compact(index - keep); err != nil && !errors.Is(err, raft.ErrCompacted) {
		return fmt.Errorf("raftnode: compact log to %d: %w", index-keep, err)
	}
	return nil
}

// takeSnapshot runs in its own goroutine, concurrently with Apply:
// StateMachine.Snapshot returns data and the index it covers consistently
// (index >= base.applied), and the configuration at that index is
// base's unless a conf change or restore started since (confEpoch), in
// which case the snapshot is skipped and retried later. It stores the
// snapshot in the raft store; compaction is left to the applier
// (snapshotDone), which first syncs the state machine.
func (a *applier) takeSnapshot(base snapBase) snapResult {
	start := time.Now()
	data, idx, err := a.n.sm.Snapshot()
	if err != nil {
		return snapResult{err: fmt.Errorf("raftnode: state machine snapshot: %w", err)}
	}
	if idx < base.applied {
		return snapResult{err: fmt.Errorf("raftnode: state machine snapshot at %d, applied %d", idx, base.applied)}
	}
	if a.confEpoch.Load() != base.epoch {
		// The configuration carried might not match idx.
		return snapResult{skipped: true}
	}
	env, err := raftstore.SnapshotData{Membership: base.members, StateMachine: data}.Marshal()
	if err != nil {
		return snapResult{err: fmt.Errorf("raftnode: snapshot envelope: %w", err)}
	}
	data = nil
	serialized := time.Now()
	if _, err := a.n.store.CreateSnapshot(idx, base.conf, env); err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return snapResult{skipped: true, index: a.n.store.SnapshotIndex()}
		}
		return snapResult{err: fmt.Errorf("raftnode: store snapshot %d: %w", idx, err)}
	}
	return snapResult{index: idx, bytes: len(env), serialize: serialized.Sub(start), store: time.Since(serialized)}
}

// snapshotDone takes a snapshot goroutine's result on the applier: it
// compacts the log behind a new snapshot, keeping CompactKeep entries for
// slow followers. The state machine is synced first (everything applied so
// far, which covers the snapshot's index): entries are dropped from the log
// only once their effects are durable.
func (a *applier) snapshotDone(r snapResult) error {
	if r.err != nil {
		return r.err
	}
	if r.skipped {
		a.lastSnap = max(a.lastSnap, r.index)
		return nil
	}
	a.n.metrics.snapshots.WithLabelValues(snapshotCreated).Inc()
	// A snapshot older than the last round (one raft asked for) compacts
	// nothing new.
	if r.index > a.lastSnap {
		a.lastSnap = r.index
		if err := a.compact(r.index); err != nil {
			return err
		}
	}
	a.n.log.Info().Uint64("index", r.index).Int("bytes", r.bytes).
		Dur("serialize", r.serialize).Dur("store", r.store).Msg("snapshot taken and log compacted")
	return nil
}
