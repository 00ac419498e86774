package raftnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/placement-center/internal/raftstore"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// TestClusterBasics: a leader is elected; writes through it apply on all
// three members with their Outcome; followers refuse writes with the
// leader's address; ReadIndex on a follower sees writes made through the
// leader; state machine errors and oversize commands come back typed.
func TestClusterBasics(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()

	ks := keys("k", 20)
	for _, k := range ks {
		if err := put(leader.node, k); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	waitApplied(t, c.members, ks)

	follower := c.followers(leader)[0]
	_, err := follower.node.Propose(context.Background(), putCmd("nope"))
	nl, ok := rpcerr.AsNotLeader(err)
	if !ok || nl.GetLeaderId() != leader.id || nl.GetLeaderAddr() != leader.addr {
		t.Fatalf("follower Propose = %v (detail %v), want NotLeader(%d, %s)", err, nl, leader.id, leader.addr)
	}
	if follower.sm.count("nope") != 0 {
		t.Fatal("a follower's refused proposal was applied")
	}

	// Linearizable reads on followers: each write is visible on the
	// follower right after its ReadIndex returns.
	for i := range 10 {
		key := fmt.Sprintf("lin%d", i)
		if err := put(leader.node, key); err != nil {
			t.Fatal(err)
		}
		for _, f := range c.followers(leader) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := f.node.ReadIndex(ctx)
			cancel()
			if err != nil {
				t.Fatalf("ReadIndex on %d: %v", f.id, err)
			}
			if f.sm.count(key) != 1 {
				t.Fatalf("member %d does not see %s after ReadIndex", f.id, key)
			}
		}
	}

	_, err = leader.node.Propose(context.Background(), putCmd("reject"))
	if rpcerr.Code(err) != codes.InvalidArgument {
		t.Fatalf("rejected command: %v, want the state machine's InvalidArgument", err)
	}
	big := putCmd("big")
	big.GetPutKv().Value = make([]byte, DefaultMaxProposalBytes+1)
	if _, err := leader.node.Propose(context.Background(), big); rpcerr.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversize command: %v, want ResourceExhausted", err)
	}
	// The caller's command is not modified.
	cmd := putCmd("mine")
	if _, err := leader.node.Propose(context.Background(), cmd); err != nil || cmd.GetProposalId() != 0 {
		t.Fatalf("Propose = %v, caller's proposal id %d", err, cmd.GetProposalId())
	}

	st := leader.node.Status()
	if st.RaftState != "leader" || st.LeaderID != leader.id || st.LeaderAddr != leader.addr ||
		len(st.Members) != 3 || st.CommitIndex < 30 || st.Term == 0 {
		t.Fatalf("leader status = %+v", st)
	}
	fst := follower.node.Status()
	if fst.RaftState != "follower" || fst.LeaderAddr != leader.addr {
		t.Fatalf("follower status = %+v", fst)
	}
	for _, m := range st.Members {
		if m.GetAddr() != c.peers[m.GetId()-1].GetAddr() {
			t.Fatalf("member %v has the wrong address", m)
		}
	}

	ch, unsubscribe := leader.node.SubscribeLeadership()
	defer unsubscribe()
	if lc := <-ch; !lc.IsLeader || lc.Term != st.Term {
		t.Fatalf("leadership = %+v, want leader at term %d", lc, st.Term)
	}

	families, err := leader.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	lagSeries := 0
	for _, f := range families {
		seen[f.GetName()] = true
		if f.GetName() == "robustmq_placement_raft_follower_lag_entries" {
			lagSeries = len(f.GetMetric())
		}
	}
	for _, name := range []string{"robustmq_placement_raft_term", "robustmq_placement_raft_proposals_total",
		"robustmq_placement_raft_is_leader", "robustmq_placement_raft_applied_index", "robustmq_placement_raft_commit_index",
		"robustmq_placement_raft_apply_lag_entries", "robustmq_placement_raft_proposals_dropped_total"} {
		if !seen[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
	// The leader reports the replication lag of both other members.
	if lagSeries != 2 {
		t.Errorf("robustmq_placement_raft_follower_lag_entries has %d series on the leader, want 2", lagSeries)
	}
}

// TestLeaderFailover: stopping the leader elects another one, which its
// subscribers learn at a higher term; writes continue; the old leader
// catches up when it returns.
func TestLeaderFailover(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.waitLeader()
	oldTerm := old.node.Status().Term
	subs := map[uint64]<-chan LeadershipChange{}
	for _, f := range c.followers(old) {
		ch, unsub := f.node.SubscribeLeadership()
		defer unsub()
		subs[f.id] = ch
	}
	before := keys("a", 10)
	for _, k := range before {
		if err := put(old.node, k); err != nil {
			t.Fatal(err)
		}
	}
	c.stop(old)
	if old.runErr != nil {
		t.Fatalf("stopped leader's Run = %v", old.runErr)
	}

	leader := c.waitLeader()
	if leader == old {
		t.Fatal("stopped member still leads")
	}
	waitFor(t, "the new leader's subscription", func() bool {
		select {
		case lc := <-subs[leader.id]:
			if lc.IsLeader && lc.Term > oldTerm {
				return true
			}
		default:
		}
		return false
	})

	after := keys("b", 10)
	for _, k := range after {
		if err := c.putViaLeader(k); err != nil {
			t.Fatal(err)
		}
	}
	c.start(old, nil, false)
	waitApplied(t, c.members, append(before, after...))
}

// TestSnapshotCatchUp: a member stopped while the log is compacted past it
// catches up through a snapshot from the leader.
func TestSnapshotCatchUp(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 50
		cfg.CompactKeep = 10
	})
	leader := c.waitLeader()
	lagger := c.followers(leader)[0]
	first := keys("s", 5)
	for _, k := range first {
		if err := put(leader.node, k); err != nil {
			t.Fatal(err)
		}
	}
	waitApplied(t, []*member{lagger}, first)
	laggerLast := lagger.node.Status().CommitIndex
	c.stop(lagger)

	rest := keys("t", 220)
	putConcurrently(t, c, rest, 8)
	lst := leader.node.Status()
	if lst.FirstIndex <= laggerLast+1 || lst.SnapshotIndex == 0 {
		t.Fatalf("leader log not compacted past the stopped member: first %d, snapshot %d, member at %d",
			lst.FirstIndex, lst.SnapshotIndex, laggerLast)
	}

	c.start(lagger, nil, false)
	waitApplied(t, c.members, append(first, rest...))
	if got := lagger.node.Status().SnapshotsReceived; got == 0 {
		t.Fatal("the restarted member caught up without a snapshot")
	}
	// And it keeps following after the snapshot.
	if err := c.putViaLeader("after-snap"); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, c.members, []string{"after-snap"})
}

// putConcurrently writes ks through the leader with workers goroutines.
func putConcurrently(t *testing.T, c *cluster, ks []string, workers int) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		errs = make(chan error, workers)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ks) {
					return
				}
				if err := c.putViaLeader(ks[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestFullRestart: all members stopped and restarted keep every committed
// entry, applied exactly once, including a member whose state machine lost
// its unsynced applies and replays them from the log (with snapshots, and
// without, where the replay re-applies bootstrap membership changes).
func TestFullRestart(t *testing.T) {
	cases := []struct {
		name            string
		snapshotEntries uint64
	}{
		{"with-snapshots", 25},
		{"log-only", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 3, func(cfg *Config) {
				cfg.SnapshotEntries = tc.snapshotEntries
				cfg.CompactKeep = 5
			})
			leader := c.waitLeader()
			ks := keys("r", 60)
			for _, k := range ks {
				if err := put(leader.node, k); err != nil {
					t.Fatal(err)
				}
			}
			waitApplied(t, c.members, ks)
			for _, m := range c.members {
				c.stop(m)
			}
			// One member's state machine comes back with only what it synced.
			appliedBefore := c.members[1].sm.AppliedIndex()
			c.members[1].sm.crash()
			if c.members[1].sm.AppliedIndex() >= appliedBefore {
				t.Fatal("crash lost nothing; the replay path is not exercised")
			}
			for _, m := range c.members {
				c.start(m, nil, false)
			}
			c.waitLeader()
			waitApplied(t, c.members, ks)
			if err := c.putViaLeader("after-restart"); err != nil {
				t.Fatal(err)
			}
			waitApplied(t, c.members, append(ks, "after-restart"))
		})
	}
}

// TestLeadershipLossFailsProposals: a leader that loses its quorum steps
// down (CheckQuorum) and fails its pending proposal with NotLeader at once
// instead of letting it run into its deadline; with no leader, reads and
// writes answer NotLeader.
func TestLeadershipLossFailsProposals(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	if err := put(leader.node, "before"); err != nil {
		t.Fatal(err)
	}
	for _, f := range c.followers(leader) {
		c.stop(f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	_, err := leader.node.Propose(ctx, putCmd("orphan"))
	if _, ok := rpcerr.AsNotLeader(err); !ok {
		t.Fatalf("Propose without quorum = %v, want NotLeader", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("NotLeader took %v", d)
	}
	waitFor(t, "the old leader to forget its leadership", func() bool {
		lead, _ := leader.node.LeaderAddr()
		return lead == 0
	})
	if err := leader.node.ReadIndex(context.Background()); rpcerr.Code(err) != codes.Unavailable {
		t.Fatalf("ReadIndex without a leader = %v", err)
	}
	if _, err := leader.node.Propose(context.Background(), putCmd("x")); rpcerr.Code(err) != codes.Unavailable {
		t.Fatalf("Propose without a leader = %v", err)
	}
}

// TestAddRemoveMember: a fourth member is added, joins through a snapshot
// (the log is compacted by then), catches up and is removed while writes
// continue; ids are never reused.
func TestAddRemoveMember(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 20
		cfg.CompactKeep = 5
	})
	leader := c.waitLeader()

	var (
		stopWriter = make(chan struct{})
		writerDone = make(chan struct{})
		ackedMu    sync.Mutex
		acked      []string
	)
	go func() {
		defer close(writerDone)
		for i := 0; i < 5000; i++ {
			select {
			case <-stopWriter:
				return
			default:
			}
			key := fmt.Sprintf("bg%d", i)
			if err := c.putViaLeader(key); err != nil {
				t.Errorf("background write %s: %v", key, err)
				return
			}
			ackedMu.Lock()
			acked = append(acked, key)
			ackedMu.Unlock()
		}
	}()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr4 := lis.Addr().String()
	if _, _, err := c.followers(leader)[0].node.AddMember(context.Background(), addr4); err == nil {
		t.Fatal("AddMember on a follower succeeded")
	} else if _, ok := rpcerr.AsNotLeader(err); !ok {
		t.Fatalf("AddMember on a follower: %v", err)
	}
	if _, _, err := leader.node.AddMember(context.Background(), "no-port"); rpcerr.Code(err) != codes.InvalidArgument {
		t.Fatalf("AddMember with a bad address: %v", err)
	}
	if _, _, err := leader.node.AddMember(context.Background(), leader.addr); rpcerr.Code(err) != codes.AlreadyExists {
		t.Fatalf("AddMember of an existing address: %v", err)
	}
	m4, members, err := leader.node.AddMember(context.Background(), addr4)
	if err != nil {
		t.Fatal(err)
	}
	if m4.GetId() != 4 || len(members) != 4 {
		t.Fatalf("AddMember = %v, %v", m4, members)
	}
	// Writes continue with the new member down (3 of 4 is a quorum) until
	// the log no longer starts at 1.
	waitFor(t, "the leader to compact its log", func() bool {
		return c.waitLeader().node.Status().FirstIndex > 1
	})
	fourth := &member{id: m4.GetId(), addr: addr4, dir: t.TempDir(), sm: newTestSM()}
	c.setMembers(append(c.all(), fourth))
	c.start(fourth, lis, true)

	// The new member catches up with what was written before it joined.
	ackedMu.Lock()
	sofar := append([]string(nil), acked...)
	ackedMu.Unlock()
	waitApplied(t, []*member{fourth}, sofar)
	waitFor(t, "the new member to know all members", func() bool {
		return len(fourth.node.Status().Members) == 4
	})
	if fourth.node.Status().SnapshotsReceived == 0 {
		t.Fatal("the new member joined without a snapshot although the log was compacted")
	}

	c.waitLeader()
	members, err = removeWithRetry(c, fourth.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 3 || containsMember(members, fourth.id) {
		t.Fatalf("members after removal = %v", members)
	}
	c.stop(fourth)
	if fourth.runErr != nil && !errors.Is(fourth.runErr, ErrRemoved) {
		t.Fatalf("removed member's Run = %v", fourth.runErr)
	}
	c.setMembers(c.all()[:3])

	// Ids are never reused: the next member gets 5, not 4.
	leader = c.waitLeader()
	m5, _, err := leader.node.AddMember(context.Background(), "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if m5.GetId() != 5 {
		t.Fatalf("next id = %d, want 5", m5.GetId())
	}
	if _, err := removeWithRetry(c, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := c.waitLeader().node.RemoveMember(context.Background(), 4); rpcerr.Code(err) != codes.NotFound {
		t.Fatalf("removing a removed member: %v", err)
	}

	close(stopWriter)
	<-writerDone
	ackedMu.Lock()
	defer ackedMu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no background write went through")
	}
	waitApplied(t, c.all(), acked)
}

// removeWithRetry removes id through whichever member leads, retrying
// NotLeader and refused (in progress) changes.
func removeWithRetry(c *cluster, id uint64) ([]*placementpb.Member, error) {
	var err error
	for range 50 {
		leader := c.waitLeader()
		var ms []*placementpb.Member
		ms, err = leader.node.RemoveMember(context.Background(), id)
		if err == nil {
			return ms, nil
		}
		if rpcerr.Code(err) != codes.Unavailable {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}

// TestCrashPoints crashes a single-member cluster at each crash point, as a
// process crash would (the state machine loses unsynced applies), restarts
// it and checks every acknowledged write survived exactly once.
func TestCrashPoints(t *testing.T) {
	points := []string{"before-batch", "after-batch", CrashBeforeSend, CrashBeforeApply, CrashAfterApply}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			m := &member{id: 1, addr: lis.Addr().String(), dir: t.TempDir(), sm: newTestSM()}
			var calls atomic.Int64
			armed := true // the restart runs without the hook
			c := &cluster{t: t, members: []*member{m}, peers: []*placementpb.Member{{Id: 1, Addr: m.addr}},
				tweak: func(cfg *Config) {
					cfg.SnapshotEntries = 7 // snapshots and compaction happen around the crash too
					cfg.CompactKeep = 2
					if !armed {
						return
					}
					cfg.CrashHook = func(p string) error {
						if p == point && calls.Add(1) == 12 {
							return errInjected
						}
						return nil
					}
				}}
			c.start(m, lis, false)
			c.waitLeader()

			var acked []string
			for i := 0; i < 100; i++ {
				key := fmt.Sprintf("c%d", i)
				if err := put(m.node, key); err != nil {
					break
				}
				acked = append(acked, key)
			}
			select {
			case m.runErr = <-m.done:
			case <-time.After(waitTimeout):
				t.Fatal("Run did not stop at the crash point")
			}
			if !errors.Is(m.runErr, errInjected) {
				t.Fatalf("Run = %v, want the injected crash", m.runErr)
			}
			m.srv.Stop()
			m.node = nil
			m.sm.crash()

			armed = false
			c.start(m, nil, false)
			t.Cleanup(func() {
				if m.node != nil {
					c.stop(m)
				}
			})
			c.waitLeader()
			waitApplied(t, c.members, acked)
			if err := put(m.node, "after-crash"); err != nil {
				t.Fatal(err)
			}
			if m.node.Status().RaftState != "leader" {
				t.Fatalf("status %+v", m.node.Status())
			}
		})
	}
}

func TestProposalIDs(t *testing.T) {
	n := &Node{cfg: Config{ID: 7}}
	n.proposalSeq.Store(1<<proposalSeqBits - 2) // wraps within the low bits
	seen := map[uint64]bool{}
	for range 5 {
		id := n.nextProposalID()
		if !n.ownsProposal(id) || id>>proposalSeqBits != 7 || id&(1<<proposalSeqBits-1) == 0 || seen[id] {
			t.Fatalf("bad proposal id %x", id)
		}
		seen[id] = true
		data, err := proto.Marshal(&placementpb.Command{ProposalId: id, ProposedAtMs: 5, Op: putCmd("x").Op})
		if err != nil {
			t.Fatal(err)
		}
		if got := proposalIDOf(data); got != id {
			t.Fatalf("proposalIDOf = %x, want %x", got, id)
		}
	}
	other := &Node{cfg: Config{ID: 8}}
	for id := range seen {
		if other.ownsProposal(id) {
			t.Fatalf("member 8 owns member 7's proposal %x", id)
		}
	}
	if proposalIDOf([]byte{0xff}) != 0 || proposalIDOf(nil) != 0 {
		t.Fatal("garbage has a proposal id")
	}
}

func TestWaitersFailUncommitted(t *testing.T) {
	w := newProposalWaiters()
	committed := w.register(1)
	uncommitted := w.register(2)
	unknown := w.register(3)
	w.setIndex(1, 10)
	w.setIndex(2, 11)
	w.failUncommitted(10, rpcerr.NotLeader(2, "b"))
	for _, pw := range []*proposalWaiter{uncommitted, unknown} {
		select {
		case r := <-pw.ch:
			if _, ok := rpcerr.AsNotLeader(r.err); !ok {
				t.Fatalf("failed with %v", r.err)
			}
		default:
			t.Fatal("uncommitted waiter not failed")
		}
	}
	select {
	case r := <-committed.ch:
		t.Fatalf("committed waiter failed: %v", r.err)
	default:
	}
	w.resolve(1, proposalResult{})
	select {
	case <-committed.ch:
	default:
		t.Fatal("committed waiter not resolved")
	}
	if !w.empty() {
		t.Fatal("waiters left behind")
	}

	a := newAppliedNotifier(5)
	select {
	case <-a.wait(5):
	default:
		t.Fatal("wait on an applied index blocked")
	}
	w9, w7 := a.wait(9), a.wait(7)
	a.advance(8)
	select {
	case <-w7:
	default:
		t.Fatal("wait(7) not released at 8")
	}
	select {
	case <-w9:
		t.Fatal("wait(9) released at 8")
	default:
	}
}

// TestRestartRaisesLaggingCommit: commit-index-only HardState updates are
// written without sync, so after a crash the raft store's durable commit
// index can be behind what the state machine synced. The member must
// restart (raising the commit index to its applied index) instead of
// refusing to start or letting raft panic.
func TestRestartRaisesLaggingCommit(t *testing.T) {
	c := newCluster(t, 1, nil)
	m := c.waitLeader()
	ks := keys("lag", 10)
	for _, k := range ks {
		if err := put(m.node, k); err != nil {
			t.Fatal(err)
		}
	}
	c.stop(m)
	if err := m.sm.Sync(); err != nil {
		t.Fatal(err)
	}
	applied := m.sm.AppliedIndex()

	// What a crash can leave: the commit index of an earlier Ready.
	st, err := raftstore.Open(m.dir, raftstore.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	hs := st.HardState()
	if hs.GetCommit() != applied {
		t.Fatalf("stored commit %d, applied %d", hs.GetCommit(), applied)
	}
	hs.Commit = new(applied - 4)
	if err := st.Save(hs, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	c.start(m, nil, false)
	c.waitLeader()
	waitApplied(t, c.members, ks)
	if err := put(m.node, "after"); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, c.members, append(ks, "after"))
	for _, k := range ks {
		if got := m.sm.count(k); got != 1 {
			t.Fatalf("key %s applied %d times", k, got)
		}
	}
}

// TestMarshalProposal: the clone-free encoding decodes to the command with
// the id and time set, proposalIDOf finds the id, and the caller's command
// is left alone.
func TestMarshalProposal(t *testing.T) {
	for _, cmd := range []*placementpb.Command{
		putCmd("k"),
		{},
		{ProposalId: 3, ProposedAtMs: 4, Op: putCmd("set").Op},
	} {
		before := proto.Clone(cmd)
		data, err := marshalProposal(cmd, 1<<50|9, 1234)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(cmd, before) {
			t.Fatalf("command changed to %v", cmd)
		}
		got := &placementpb.Command{}
		if err := proto.Unmarshal(data, got); err != nil {
			t.Fatal(err)
		}
		want := proto.Clone(cmd).(*placementpb.Command)
		want.ProposalId, want.ProposedAtMs = 1<<50|9, 1234
		if !proto.Equal(got, want) {
			t.Fatalf("decoded %v, want %v", got, want)
		}
		if id := proposalIDOf(data); id != 1<<50|9 {
			t.Fatalf("proposalIDOf = %x", id)
		}
	}
}

// TestSnapshotOnDemandAfterLeaderChange: members that do not lead compact
// their log without taking snapshots; when one of them becomes leader and a
// member needs a snapshot, the raft store asks for one, the new leader
// takes it and the member catches up through it.
func TestSnapshotOnDemandAfterLeaderChange(t *testing.T) {
	c := newCluster(t, 5, func(cfg *Config) {
		cfg.SnapshotEntries = 40
		cfg.CompactKeep = 5
	})
	leader := c.waitLeader()
	fs := c.followers(leader)
	lagger := fs[0]
	first := keys("o", 5)
	for _, k := range first {
		if err := put(leader.node, k); err != nil {
			t.Fatal(err)
		}
	}
	waitApplied(t, c.members, first)
	c.stop(lagger)

	mid := keys("p", 120)
	putConcurrently(t, c, mid, 4)
	for _, f := range fs[1:] {
		if st := f.node.Status(); st.SnapshotIndex != 0 || st.FirstIndex <= 1 {
			t.Fatalf("follower %d: snapshot %d, first index %d; want compaction without a snapshot", f.id, st.SnapshotIndex, st.FirstIndex)
		}
	}
	c.stop(leader)
	newLeader := c.waitLeader()
	if st := newLeader.node.Status(); st.SnapshotIndex != 0 || st.FirstIndex <= 1 {
		t.Fatalf("new leader: snapshot %d, first index %d; want a compacted log and no snapshot yet", st.SnapshotIndex, st.FirstIndex)
	}

	c.start(lagger, nil, false)
	c.start(leader, nil, false)
	rest := keys("q", 10)
	putConcurrently(t, c, rest, 2)
	all := append(append(append([]string(nil), first...), mid...), rest...)
	waitApplied(t, c.members, all)
	if got := lagger.node.Status().SnapshotsReceived; got == 0 {
		t.Fatal("the restarted member caught up without a snapshot")
	}
}
