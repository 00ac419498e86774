package raftnode

import (
	"sync"

	"go.etcd.io/raft/v3"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Status is a point-in-time view of this member.
type Status struct {
	ID           uint64
	LeaderID     uint64
	LeaderAddr   string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	// RaftState is "leader", "follower", "candidate" or "pre-candidate".
	RaftState     string
	Members       []*placementpb.Member
	SnapshotIndex uint64
	FirstIndex    uint64
	// SnapshotsReceived counts snapshots installed from a leader since New.
	SnapshotsReceived uint64
}

// Status reports this member's view of the cluster.
func (n *Node) Status() Status {
	n.mu.Lock()
	bs := n.rn.BasicStatus()
	n.mu.Unlock()
	n.viewMu.RLock()
	members := n.members.Clone().Members
	n.viewMu.RUnlock()
	first, _ := n.store.FirstIndex()
	return Status{
		ID:                n.cfg.ID,
		LeaderID:          bs.Lead,
		LeaderAddr:        n.addrOf(bs.Lead),
		Term:              bs.GetTerm(),
		CommitIndex:       bs.GetCommit(),
		AppliedIndex:      n.applied.get(),
		RaftState:         raftStateName(bs.RaftState),
		Members:           members,
		SnapshotIndex:     n.store.SnapshotIndex(),
		FirstIndex:        first,
		SnapshotsReceived: n.snapshotsIn.Load(),
	}
}

func raftStateName(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	default:
		return "follower"
	}
}

// IsLeader reports whether this member is the Raft leader now.
func (n *Node) IsLeader() bool {
	n.viewMu.RLock()
	defer n.viewMu.RUnlock()
	return n.raftState == raft.StateLeader
}

// LeaderAddr returns the leader's id and address as this member knows
// them; 0 and "" when no leader is known.
func (n *Node) LeaderAddr() (uint64, string) {
	n.viewMu.RLock()
	lead := n.lead
	n.viewMu.RUnlock()
	return lead, n.addrOf(lead)
}

// LeadershipChange tells a subscriber whether this member leads. A change
// of Term with IsLeader still true cannot happen without an intermediate
// loss, but a subscriber may not see that loss (see SubscribeLeadership):
// treat any new Term as a new leadership.
type LeadershipChange struct {
	IsLeader bool
	Term     uint64
	// LeaderID is the leader this member knows of (0 if none).
	LeaderID uint64
}

// SubscribeLeadership returns a channel carrying this member's leadership
// and a function that ends the subscription. The channel holds only the
// latest change: a slow reader skips intermediate ones but always sees the
// current state. The current state is delivered at once. When this member
// becomes leader its state machine may not have applied the whole log yet;
// call ReadIndex before acting on state.
func (n *Node) SubscribeLeadership() (<-chan LeadershipChange, func()) {
	n.viewMu.RLock()
	cur := LeadershipChange{IsLeader: n.raftState == raft.StateLeader, Term: n.term, LeaderID: n.lead}
	n.viewMu.RUnlock()
	return n.leadership.subscribe(cur)
}

// leadershipHub fans leadership changes out to subscribers.
type leadershipHub struct {
	mu   sync.Mutex
	subs map[chan LeadershipChange]struct{}
}

func newLeadershipHub() *leadershipHub {
	return &leadershipHub{subs: make(map[chan LeadershipChange]struct{})}
}

func (h *leadershipHub) subscribe(cur LeadershipChange) (<-chan LeadershipChange, func()) {
	ch := make(chan LeadershipChange, 1)
	ch <- cur
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, ch)
			h.mu.Unlock()
		})
	}
}

// publish replaces whatever a subscriber has not read yet with c. It never
// blocks: publish holds mu, the only sender.
func (h *leadershipHub) publish(c LeadershipChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case <-ch:
		default:
		}
		ch <- c
	}
}
