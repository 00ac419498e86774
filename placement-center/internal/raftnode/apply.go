package raftnode

import (
	"errors"
	"fmt"

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
// the Ready loop, resolves proposal waiters with their Outcomes and takes
// snapshots. It runs in one goroutine started by Run.
type applier struct {
	n        *Node
	applied  uint64
	lastSnap uint64
	// conf and members are the configuration as of applied, which is what
	// a snapshot at applied must carry.
	conf    *raftpb.ConfState
	members raftstore.Membership
}

// run applies items until items is closed or applying fails.
func (a *applier) run(items <-chan applyItem) error {
	for it := range items {
		var err error
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
	}
	return nil
}

func (a *applier) restore(r *restoreItem) error {
	if r.index <= a.applied {
		return nil
	}
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

// maybeSnapshot snapshots the state machine and compacts the log once
// SnapshotEntries entries were applied since the last snapshot.
func (a *applier) maybeSnapshot() error {
	cfg := a.n.cfg
	if a.applied-a.lastSnap < cfg.SnapshotEntries {
		return nil
	}
	// Durable first: the log below the snapshot is about to go.
	if err := a.n.sm.Sync(); err != nil {
		return fmt.Errorf("raftnode: sync before snapshot: %w", err)
	}
	data, idx, err := a.n.sm.Snapshot()
	if err != nil {
		return fmt.Errorf("raftnode: state machine snapshot: %w", err)
	}
	if idx != a.applied {
		// The configuration carried would not match idx.
		return fmt.Errorf("raftnode: state machine snapshot at %d, applied %d", idx, a.applied)
	}
	env, err := raftstore.SnapshotData{Membership: a.members, StateMachine: data}.Marshal()
	if err != nil {
		return fmt.Errorf("raftnode: snapshot envelope: %w", err)
	}
	if _, err := a.n.store.CreateSnapshot(idx, a.conf, env); err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			a.lastSnap = max(a.lastSnap, a.n.store.SnapshotIndex())
			return nil
		}
		return fmt.Errorf("raftnode: store snapshot %d: %w", idx, err)
	}
	a.lastSnap = idx
	a.n.metrics.snapshots.WithLabelValues(snapshotCreated).Inc()
	if idx > cfg.CompactKeep {
		if err := a.n.store.Compact(idx - cfg.CompactKeep); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("raftnode: compact log to %d: %w", idx-cfg.CompactKeep, err)
		}
	}
	a.n.log.Info().Uint64("index", idx).Int("bytes", len(env)).Msg("snapshot taken and log compacted")
	return nil
}
