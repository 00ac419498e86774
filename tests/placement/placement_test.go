package placement

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

const (
	serializable = placementpb.ReadConsistency_READ_CONSISTENCY_SERIALIZABLE
	// leaderTimeout bounds every wait for an (agreed) leader.
	leaderTimeout = 30 * time.Second
	// catchUpTimeout bounds every wait for a member to catch up.
	catchUpTimeout = 60 * time.Second
	// failoverBudget is how soon after a leader's SIGKILL writes must
	// succeed again.
	failoverBudget = 3 * time.Second
	// maxWriteStall is the longest pause in acknowledged writes allowed
	// while members are added and removed (no member fails meanwhile, so
	// this is generous: a loaded machine may pause for a second or two).
	maxWriteStall = 5 * time.Second
)

// TestIntegrationLeaderElection: three fresh members elect one leader and
// every member names the same leader, at the same term, at its address.
func TestIntegrationLeaderElection(t *testing.T) {
	c := harness.StartPlacement(t, harness.PlacementOptions{})
	leader := c.WaitLeader(leaderTimeout)
	ctx := testContext(t, 30*time.Second)

	var term uint64
	for _, m := range c.Members() {
		st, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.GetMemberId() != m.ID {
			t.Errorf("member %d reports member_id %d", m.ID, st.GetMemberId())
		}
		if st.GetLeaderId() != leader.ID || st.GetLeaderAddr() != leader.Addr {
			t.Errorf("member %d names leader %d at %q, want %d at %q", m.ID, st.GetLeaderId(), st.GetLeaderAddr(), leader.ID, leader.Addr)
		}
		if term == 0 {
			term = st.GetTerm()
		} else if st.GetTerm() != term {
			t.Errorf("member %d is at term %d, another at %d", m.ID, st.GetTerm(), term)
		}
		wantState := "follower"
		if m == leader {
			wantState = "leader"
		}
		if st.GetRaftState() != wantState {
			t.Errorf("member %d is %q, want %q", m.ID, st.GetRaftState(), wantState)
		}
		if len(st.GetMembers()) != 3 {
			t.Errorf("member %d lists members %v, want 3", m.ID, st.GetMembers())
		}
		// /healthz answers 200 once a leader is known.
		resp, err := http.Get("http://" + m.HTTPAddr + "/healthz")
		if err != nil {
			t.Errorf("member %d /healthz: %v", m.ID, err)
		} else {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("member %d /healthz: %s", m.ID, resp.Status)
			}
		}
	}
	if term == 0 {
		t.Fatal("term 0 after an election")
	}
	t.Logf("leader %d at term %d", leader.ID, term)
}

// TestIntegrationWriteThroughEveryMember: a write sent straight to a
// follower is refused with NotLeader naming the leader's address; the
// shared client follows that hint; and every write is readable with the
// default (linearizable) consistency from every member as soon as it
// returns.
func TestIntegrationWriteThroughEveryMember(t *testing.T) {
	c := harness.StartPlacement(t, harness.PlacementOptions{})
	ctx := testContext(t, 60*time.Second)

	for _, m := range c.Members() {
		key := fmt.Sprintf("through/%d", m.ID)
		var put *placementpb.PutKVResponse
		// A spurious election (a loaded machine can starve heartbeats)
		// would make the leader named before the write stale; that is
		// retried, any other surprise fails.
		for attempt := 1; put == nil; attempt++ {
			var moved bool
			if put, moved = writeVia(t, ctx, c, m, key); moved {
				if attempt == 3 {
					t.Fatalf("leadership moved during all %d attempts to write through member %d", attempt, m.ID)
				}
				t.Logf("leadership moved while writing through member %d; again", m.ID)
			}
		}
		// No waiting: a linearizable read anywhere must see the write.
		for _, r := range c.Members() {
			got, err := r.API().GetKV(ctx, &placementpb.GetKVRequest{Key: key})
			if err != nil {
				t.Fatalf("GetKV %s on member %d right after the write: %v", key, r.ID, err)
			}
			if string(got.GetKv().GetValue()) != key || got.GetKv().GetVersion() != put.GetKv().GetVersion() {
				t.Fatalf("GetKV %s on member %d right after the write = %v, want value %q version %d",
					key, r.ID, got.GetKv(), key, put.GetKv().GetVersion())
			}
		}
	}
}

// writeVia writes key (value = key) straight to m: accepted if m leads;
// otherwise refused with NotLeader naming the leader, after which a
// leaderclient that knows only m must get the write to the leader through
// that hint alone. moved reports that the leader changed meanwhile (the
// write may or may not have happened; the caller writes again).
func writeVia(t *testing.T, ctx context.Context, c *harness.PlacementCluster, m *harness.PlacementMember, key string) (put *placementpb.PutKVResponse, moved bool) {
	t.Helper()
	leader, before := c.WaitLeaderStatus(leaderTimeout)
	changed := func() bool {
		_, now := c.WaitLeaderStatus(leaderTimeout)
		return now.GetTerm() != before.GetTerm()
	}
	req := &placementpb.PutKVRequest{Key: key, Value: []byte(key)}
	put, err := m.API().PutKV(ctx, req)
	if m == leader {
		if err != nil {
			if changed() {
				return nil, true
			}
			t.Fatalf("write on the leader %d: %v", m.ID, err)
		}
		return put, false
	}
	nl, ok := rpcerr.AsNotLeader(err)
	if !isCode(err, codes.Unavailable) || !ok || nl.GetLeaderAddr() != leader.Addr || nl.GetLeaderId() != leader.ID {
		if changed() {
			return nil, true
		}
		t.Fatalf("follower %d answered a write with %v (NotLeader detail %v), want Unavailable with NotLeader naming %d at %q",
			m.ID, err, nl, leader.ID, leader.Addr)
	}
	cl := harness.NewLeaderClient(t, []string{m.Addr}, harness.ClientOptions())
	if put, err = placementpb.NewPlacementServiceClient(cl).PutKV(ctx, req); err != nil {
		t.Fatalf("leaderclient over follower %d only: %v", m.ID, err)
	}
	if cl.Leader() != leader.Addr {
		if changed() {
			return nil, true
		}
		t.Errorf("leaderclient settled on %q, want the leader %q", cl.Leader(), leader.Addr)
	}
	return put, false
}

// TestIntegrationKillLeaderUnderLoad: writers keep putting unique keys
// through the shared client while the leader is killed with SIGKILL. A new
// leader must take writes within failoverBudget, and after the killed
// member is back every acknowledged key must be readable on every member.
// ROBUSTMQ_CHAOS=1 runs 20 kill cycles instead of 3.
func TestIntegrationKillLeaderUnderLoad(t *testing.T) {
	cycles := 3
	if os.Getenv("ROBUSTMQ_CHAOS") != "" {
		cycles = 20
	}
	const writers = 8
	c := harness.StartPlacement(t, harness.PlacementOptions{})
	api := placementpb.NewPlacementServiceClient(c.Client())

	var worst time.Duration
	for cycle := range cycles {
		leader, before := c.WaitLeaderStatus(leaderTimeout)
		prefix := fmt.Sprintf("kill/c%02d", cycle)
		load := startWriteLoad(t, api, prefix, writers)
		load.waitAcks(t, 50, time.Second, 30*time.Second, "writes before the kill")

		killStart := time.Now()
		leader.Kill9()
		reaped := time.Now()
		// Only a write issued after the old leader was reaped proves a
		// new leader serves.
		var firstAck time.Time
		harness.Eventually(t, 30*time.Second, "a write acknowledged after the leader's kill", func() error {
			var ok bool
			if firstAck, ok = load.FirstAckStartedAfter(reaped); !ok {
				_, failed := load.Failures()
				return fmt.Errorf("none yet; failures %s", failed)
			}
			return nil
		})
		recovery := firstAck.Sub(killStart)
		worst = max(worst, recovery)
		if recovery >= failoverBudget {
			t.Errorf("cycle %d: first write succeeded %v after the leader was killed, want < %v", cycle, recovery, failoverBudget)
		}
		// Keep writing for a while on the new leader.
		load.waitAcks(t, 100, time.Second, 30*time.Second, "writes after the failover")
		load.Stop()

		newLeader, after := c.WaitLeaderStatus(leaderTimeout)
		leader.Restart()
		c.WaitCaughtUp(leader, catchUpTimeout)

		keys := load.Keys()
		missing := verifyKeys(t, c, prefix+"/", keys)
		failed, failures := load.Failures()
		t.Logf("cycle %d: killed leader %d (term %d), new leader %d (term %d); writes resumed %v after the kill; acked %d, failed %d, missing %d; failures %s",
			cycle, leader.ID, before.GetTerm(), newLeader.ID, after.GetTerm(), recovery.Round(time.Millisecond), len(keys), failed, missing, failures)
		if t.Failed() {
			return
		}
	}
	t.Logf("worst failover over %d cycles: %v", cycles, worst.Round(time.Millisecond))
}

// TestIntegrationSnapshotCatchUp: a follower that was down while the
// leader snapshotted and compacted its log past the follower's position
// catches up (through a snapshot, the only way left), serves the latest
// key from its own state, has compacted its own log, and tells a watcher
// from a revision it no longer holds to resync.
func TestIntegrationSnapshotCatchUp(t *testing.T) {
	const total = 1000
	c := harness.StartPlacement(t, harness.PlacementOptions{
		SnapshotEntries: 100,
		// Keep few entries behind each snapshot, so that the follower's
		// position is surely compacted away after 1000 writes.
		Env: []string{"ROBUSTMQ_PLACEMENT_RAFT_COMPACT_KEEP=50"},
	})
	ctx := testContext(t, 3*time.Minute)
	leader := c.WaitLeader(leaderTimeout)
	follower := c.Followers(leader)[0]
	down, err := follower.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower.Kill9()

	api := placementpb.NewPlacementServiceClient(c.Client())
	keys := make([]string, total)
	for i := range keys {
		keys[i] = fmt.Sprintf("snap/%04d", i)
	}
	last := keys[total-1]
	putKeys(t, ctx, api, keys[:total-1], 8)
	// The last key is written alone, after all the others returned.
	putKeys(t, ctx, api, []string{last}, 1)

	_, ls := c.WaitLeaderStatus(leaderTimeout)
	if ls.GetSnapshotIndex() == 0 || ls.GetFirstLogIndex() <= down.GetAppliedIndex()+1 {
		t.Fatalf("the leader's log was not compacted past the stopped follower (applied %d): snapshot index %d, first log index %d",
			down.GetAppliedIndex(), ls.GetSnapshotIndex(), ls.GetFirstLogIndex())
	}

	follower.Restart()
	st := c.WaitCaughtUp(follower, catchUpTimeout)
	got, err := follower.API().GetKV(ctx, &placementpb.GetKVRequest{Key: last, Consistency: serializable})
	if err != nil || string(got.GetKv().GetValue()) != last {
		t.Fatalf("serializable GetKV %s on the caught-up follower: %v, %v", last, got.GetKv(), err)
	}
	list, err := follower.API().ListKV(ctx, &placementpb.ListKVRequest{Prefix: "snap/", Consistency: serializable})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetKvs()) != total {
		t.Errorf("the caught-up follower holds %d of %d keys", len(list.GetKvs()), total)
	}
	if st.GetSnapshotIndex() == 0 || st.GetFirstLogIndex() <= 1 {
		t.Errorf("the caught-up follower shows no compaction: snapshot index %d, first log index %d", st.GetSnapshotIndex(), st.GetFirstLogIndex())
	}
	t.Logf("follower %d was at applied %d; leader snapshot %d, first log index %d; follower now applied %d, snapshot %d, first log index %d",
		follower.ID, down.GetAppliedIndex(), ls.GetSnapshotIndex(), ls.GetFirstLogIndex(),
		st.GetAppliedIndex(), st.GetSnapshotIndex(), st.GetFirstLogIndex())

	// The follower's history now starts at what the snapshot brought it:
	// a watch from revision 1 there must be told to resync.
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	stream, err := follower.API().Watch(wctx, &placementpb.WatchRequest{StartRevision: 1})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, stream, "a resync response", func(resp *placementpb.WatchResponse) bool { return resp.GetResync() })
}

// TestIntegrationFullRestart: keys written before all three members were
// stopped with SIGTERM are all there after they start again.
func TestIntegrationFullRestart(t *testing.T) {
	c := harness.StartPlacement(t, harness.PlacementOptions{SnapshotEntries: 100})
	ctx := testContext(t, 2*time.Minute)
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("restart/%03d", i)
	}
	putKeys(t, ctx, placementpb.NewPlacementServiceClient(c.Client()), keys, 6)
	_, before := c.WaitLeaderStatus(leaderTimeout)

	for _, m := range c.Members() {
		began := time.Now()
		if err := m.Stop(); err != nil {
			t.Errorf("member %d: %v", m.ID, err)
		}
		t.Logf("member %d stopped %v after SIGTERM", m.ID, time.Since(began).Round(time.Millisecond))
	}
	for _, m := range c.Members() {
		m.Restart()
	}
	leader, after := c.WaitLeaderStatus(leaderTimeout)
	if after.GetTerm() <= before.GetTerm() {
		t.Errorf("term %d after the restart, %d before: a restarted cluster must elect at a new term", after.GetTerm(), before.GetTerm())
	}
	verifyKeys(t, c, "restart/", keys)
	// And it takes writes again.
	if _, err := leader.API().PutKV(ctx, &placementpb.PutKVRequest{Key: "restart/after", Value: []byte("x")}); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
	t.Logf("%d keys survived a full SIGTERM restart (term %d -> %d, leader %d)", len(keys), before.GetTerm(), after.GetTerm(), leader.ID)
}

// TestIntegrationMembershipChange: a fourth member is added (its id
// assigned by the cluster), started with --join, catches up and is
// removed again, twice, while writers keep writing; writes continue
// throughout, no acknowledged write is lost, and the second addition gets
// a new id rather than the removed one's.
func TestIntegrationMembershipChange(t *testing.T) {
	c := harness.StartPlacement(t, harness.PlacementOptions{})
	ctx := testContext(t, 3*time.Minute)
	client := c.Client()
	api := placementpb.NewPlacementServiceClient(client)
	admin := placementpb.NewClusterServiceClient(client)
	original := c.Members()

	load := startWriteLoad(t, api, "member", 4)
	load.waitAcks(t, 20, 0, 30*time.Second, "writes before the membership change")

	var ids []uint64
	changesBegan := time.Now()
	for round := range 2 {
		addr := harness.FreeAddr(t)
		added, err := admin.AddMember(ctx, &placementpb.AddMemberRequest{Addr: addr})
		if err != nil {
			t.Fatalf("round %d: AddMember %s: %v", round, addr, err)
		}
		id := added.GetMember().GetId()
		if id <= uint64(len(original)) || slices.Contains(ids, id) || (len(ids) > 0 && id < ids[len(ids)-1]) {
			t.Fatalf("round %d: AddMember assigned id %d; bootstrap ids 1..%d and earlier additions %v must never be reused", round, id, len(original), ids)
		}
		ids = append(ids, id)
		if !slices.ContainsFunc(added.GetMembers(), func(m *placementpb.Member) bool { return m.GetId() == id && m.GetAddr() == addr }) {
			t.Errorf("round %d: AddMember's membership %v lacks %d=%s", round, added.GetMembers(), id, addr)
		}

		m := c.Join(id, addr)
		st := c.WaitCaughtUp(m, catchUpTimeout)
		c.WaitLeader(leaderTimeout) // the new member agrees on the leader too
		load.waitAcks(t, 20, 0, 30*time.Second, fmt.Sprintf("writes with member %d in the group", id))

		removed, err := admin.RemoveMember(ctx, &placementpb.RemoveMemberRequest{Id: id})
		if err != nil {
			t.Fatalf("round %d: RemoveMember %d: %v", round, id, err)
		}
		if slices.ContainsFunc(removed.GetMembers(), func(m *placementpb.Member) bool { return m.GetId() == id }) ||
			len(removed.GetMembers()) != len(original) {
			t.Errorf("round %d: membership after removing %d: %v", round, id, removed.GetMembers())
		}
		// A removed member stops by itself (today with exit status 1 and
		// "removed from the cluster"); it is stopped here if it did not.
		if harness.Poll(ctx, 10*time.Second, func() error {
			if m.Running() {
				return errors.New("still running")
			}
			return nil
		}) != nil {
			t.Logf("round %d: removed member %d still runs 10s after its removal; stopping it (%v)", round, id, m.Stop())
		}
		c.Forget(m)
		load.waitAcks(t, 20, 0, 30*time.Second, fmt.Sprintf("writes after removing member %d", id))
		t.Logf("round %d: member %d at %s joined (applied %d), was removed; %d writes acked so far", round, id, addr, st.GetAppliedIndex(), load.AckCount())
	}
	changesEnded := time.Now()
	load.Stop()
	// Writes continued throughout: no stall, not just acks at the end.
	gap := load.MaxGap(changesBegan, changesEnded)
	if gap > maxWriteStall {
		t.Errorf("writes stalled for %v during the membership changes, want at most %v", gap, maxWriteStall)
	}

	_, st := c.WaitLeaderStatus(leaderTimeout)
	if len(st.GetMembers()) != len(original) {
		t.Errorf("final membership %v, want the %d original members", st.GetMembers(), len(original))
	}
	keys := load.Keys()
	missing := verifyKeys(t, c, "member/", keys)
	failed, failures := load.Failures()
	t.Logf("membership changes under load: ids %v; acked %d, failed %d, missing %d; longest stall %v; failures %s",
		ids, len(keys), failed, missing, gap.Round(time.Millisecond), failures)
}

// TestIntegrationBadInput: requests the center must refuse get their typed
// error and change nothing; a stopped member answers Unavailable on a
// direct connection while the shared client sweeps past it.
func TestIntegrationBadInput(t *testing.T) {
	c := harness.StartPlacement(t, harness.PlacementOptions{})
	ctx := testContext(t, 90*time.Second)
	api := placementpb.NewPlacementServiceClient(c.Client())

	const key = "bad/key"
	if _, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	cur, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: []byte("v2")})
	if err != nil {
		t.Fatal(err)
	}
	current := cur.GetKv()
	stale := current.GetVersion() - 1

	cases := []struct {
		name  string
		call  func() error
		want  codes.Code
		check func(t *testing.T, err error)
	}{
		{
			name: "2 MiB value",
			call: func() error {
				_, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: make([]byte, 2<<20)})
				return err
			},
			want: codes.ResourceExhausted,
		},
		{
			name: "empty key",
			call: func() error {
				_, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: "", Value: []byte("x")})
				return err
			},
			want: codes.InvalidArgument,
		},
		{
			name: "unknown node kind",
			call: func() error {
				_, err := api.ListNodes(ctx, &placementpb.ListNodesRequest{Kind: placementpb.NodeKind(99)})
				return err
			},
			want: codes.InvalidArgument,
		},
		{
			name: "unknown read consistency",
			call: func() error {
				_, err := api.GetKV(ctx, &placementpb.GetKVRequest{Key: key, Consistency: placementpb.ReadConsistency(99)})
				return err
			},
			want: codes.InvalidArgument,
		},
		{
			name: "compare-and-set with a stale version",
			call: func() error {
				_, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: []byte("v3"), ExpectedVersion: proto.Uint64(stale)})
				return err
			},
			want: codes.FailedPrecondition,
			check: func(t *testing.T, err error) {
				vm, ok := rpcerr.AsVersionMismatch(err)
				if !ok {
					t.Fatalf("no VersionMismatch detail in %v", err)
				}
				if vm.GetCurrentVersion() != current.GetVersion() || vm.GetExpectedVersion() != stale {
					t.Errorf("VersionMismatch %v, want expected %d current %d", vm, stale, current.GetVersion())
				}
			},
		},
		{
			name: "delete with a stale version",
			call: func() error {
				_, err := api.DeleteKV(ctx, &placementpb.DeleteKVRequest{Key: key, ExpectedVersion: proto.Uint64(stale)})
				return err
			},
			want: codes.FailedPrecondition,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !isCode(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.check != nil {
				tc.check(t, err)
			}
			got, err := api.GetKV(ctx, &placementpb.GetKVRequest{Key: key})
			if err != nil {
				t.Fatalf("GetKV after the refused request: %v", err)
			}
			if !proto.Equal(got.GetKv(), current) {
				t.Fatalf("state changed by a refused request: %v, was %v", got.GetKv(), current)
			}
		})
	}

	// A stopped member: Unavailable on a direct connection, while a
	// shared client that tries it first sweeps on to the others.
	stopped := c.WaitLeader(leaderTimeout)
	began := time.Now()
	if err := stopped.Stop(); err != nil {
		t.Errorf("stopping the leader: %v", err)
	}
	t.Logf("leader %d stopped %v after SIGTERM", stopped.ID, time.Since(began).Round(time.Millisecond))
	_, err = stopped.API().GetKV(ctx, &placementpb.GetKVRequest{Key: key})
	if !isCode(err, codes.Unavailable) {
		t.Fatalf("direct GetKV on a stopped member: %v, want Unavailable", err)
	}
	addrs := []string{stopped.Addr}
	for _, m := range c.Followers(stopped) {
		addrs = append(addrs, m.Addr)
	}
	sweeping := placementpb.NewPlacementServiceClient(harness.NewLeaderClient(t, addrs, harness.ClientOptions()))
	got, err := sweeping.GetKV(ctx, &placementpb.GetKVRequest{Key: key})
	if err != nil || !proto.Equal(got.GetKv(), current) {
		t.Fatalf("leaderclient GetKV with its first member stopped: %v, %v", got.GetKv(), err)
	}
	if _, err := sweeping.PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: []byte("v3"), ExpectedVersion: proto.Uint64(current.GetVersion())}); err != nil {
		t.Fatalf("leaderclient CAS write with its first member stopped: %v", err)
	}
}

// TestIntegrationNodeLease: a journal node that stops heartbeating is
// declared DEAD, and a watcher hears of it, about one lease after its
// last heartbeat (not before); registering again bumps its incarnation
// and an old incarnation's heartbeat is refused.
func TestIntegrationNodeLease(t *testing.T) {
	const lease = 2 * time.Second
	// How late past the lease the death may be seen on a loaded machine:
	// the registry's check period, a Raft round and the watch delivery.
	const margin = 3 * time.Second
	c := harness.StartPlacement(t, harness.PlacementOptions{Lease: lease})
	ctx := testContext(t, 60*time.Second)
	client := c.Client()
	api := placementpb.NewPlacementServiceClient(client)

	reg, err := api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{
		Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: "127.0.0.1:1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	node := reg.GetNode()
	if node.GetNodeId() == 0 || node.GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("registered node %v", node)
	}
	if reg.GetLeaseMs() != lease.Milliseconds() {
		t.Errorf("lease_ms %d, want %d", reg.GetLeaseMs(), lease.Milliseconds())
	}

	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := api.Watch(wctx, &placementpb.WatchRequest{
		StartRevision: node.GetVersion(),
		Kinds:         []placementpb.ResourceKind{placementpb.ResourceKind_RESOURCE_KIND_NODE},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The stream is read on one goroutine, which hands over events as
	// they arrive, so the time of arrival is measured, not the time the
	// test got round to reading.
	type arrival struct {
		ev *placementpb.WatchEvent
		at time.Time
	}
	arrivals := make(chan arrival, 1024)
	var readerDone sync.WaitGroup
	readerDone.Add(1)
	go func() {
		defer readerDone.Done()
		defer close(arrivals)
		for range 100_000 {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			if resp.GetResync() {
				t.Errorf("unexpected resync on a fresh watch: %v", resp)
				return
			}
			for _, ev := range resp.GetEvents() {
				if ev.GetNode().GetNodeId() != node.GetNodeId() {
					continue
				}
				select {
				case arrivals <- arrival{ev: ev, at: time.Now()}:
				case <-wctx.Done():
					return
				}
			}
		}
	}()
	defer readerDone.Wait()
	defer cancel()
	next := func(what string, match func(*placementpb.ClusterNode) bool) arrival {
		t.Helper()
		for a := range arrivals {
			if match(a.ev.GetNode()) {
				return a
			}
		}
		t.Fatalf("watch ended before %s", what)
		return arrival{}
	}

	var lastBeat time.Time
	for range 4 {
		if _, err := api.Heartbeat(ctx, &placementpb.HeartbeatRequest{NodeId: node.GetNodeId(), Incarnation: node.GetIncarnation()}); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		lastBeat = time.Now()
		time.Sleep(lease / 4)
	}
	nodes, err := api.ListNodes(ctx, &placementpb.ListNodesRequest{Kind: placementpb.NodeKind_NODE_KIND_JOURNAL})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.GetNodes()) != 1 || nodes.GetNodes()[0].GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("while heartbeating, ListNodes = %v", nodes.GetNodes())
	}

	dead := next("the node's death", func(n *placementpb.ClusterNode) bool {
		return n.GetStatus() == placementpb.NodeStatus_NODE_STATUS_DEAD
	})
	silence := dead.at.Sub(lastBeat)
	t.Logf("node %d declared DEAD %v after its last heartbeat (lease %v)", node.GetNodeId(), silence.Round(time.Millisecond), lease)
	// The leader saw the last heartbeat before the test did, so allow a
	// little under the lease.
	if silence < lease-300*time.Millisecond || silence > lease+margin {
		t.Errorf("death seen %v after the last heartbeat, want within [%v, %v]", silence, lease-300*time.Millisecond, lease+margin)
	}

	again, err := api.RegisterNode(ctx, &placementpb.RegisterNodeRequest{Node: &placementpb.ClusterNode{
		NodeId: node.GetNodeId(), Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: "127.0.0.1:1",
	}})
	if err != nil {
		t.Fatalf("re-register: %v", err)
	}
	if again.GetNode().GetIncarnation() <= node.GetIncarnation() || again.GetNode().GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("re-registration gave %v, want ALIVE with incarnation above %d", again.GetNode(), node.GetIncarnation())
	}
	next("the node alive again", func(n *placementpb.ClusterNode) bool {
		return n.GetStatus() == placementpb.NodeStatus_NODE_STATUS_ALIVE && n.GetIncarnation() == again.GetNode().GetIncarnation()
	})
	if _, err := api.Heartbeat(ctx, &placementpb.HeartbeatRequest{NodeId: node.GetNodeId(), Incarnation: node.GetIncarnation()}); err == nil {
		t.Errorf("a heartbeat of the old incarnation %d was accepted", node.GetIncarnation())
	} else {
		t.Logf("old incarnation's heartbeat refused: %v", err)
	}
	if _, err := api.Heartbeat(ctx, &placementpb.HeartbeatRequest{NodeId: node.GetNodeId(), Incarnation: again.GetNode().GetIncarnation()}); err != nil {
		t.Errorf("heartbeat of the new incarnation: %v", err)
	}
}
