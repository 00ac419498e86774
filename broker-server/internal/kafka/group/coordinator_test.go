package group

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/kafka/wire"
)

func joinReq(group, member string) *wire.JoinGroupRequest {
	return &wire.JoinGroupRequest{Group: group, MemberID: member, SessionTimeoutMillis: 2000, RebalanceTimeoutMillis: 2000,
		ProtocolType: "consumer", Protocols: []wire.JoinGroupProtocol{{Name: "range", Metadata: []byte(member + "-md")}}}
}

func newCoordinator(t *testing.T) *Coordinator {
	c := New(Options{Tick: 20 * time.Millisecond, MinSessionTimeout: 100 * time.Millisecond, InitialRebalanceDelay: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// join runs the v4+ two-step join (MEMBER_ID_REQUIRED, then the join with
// the given id).
func join(t *testing.T, c *Coordinator, ctx context.Context, group string) wire.JoinGroupResponse {
	r := c.Join(ctx, joinReq(group, ""), JoinInfo{Version: 5, ClientID: "cl"})
	if r.ErrorCode != wire.ErrMemberIDRequired || r.MemberID == "" {
		t.Errorf("first join: %+v", r)
		return r
	}
	return c.Join(ctx, joinReq(group, r.MemberID), JoinInfo{Version: 5, ClientID: "cl"})
}

func TestTwoMembersRebalanceAndSync(t *testing.T) {
	c := newCoordinator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	res := make([]wire.JoinGroupResponse, 2)
	for i := range res {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = join(t, c, ctx, "g") }()
	}
	wg.Wait()
	if res[0].ErrorCode != 0 || res[1].ErrorCode != 0 || res[0].Generation != res[1].Generation || res[0].LeaderID != res[1].LeaderID {
		t.Fatalf("joins %+v", res)
	}
	leader, follower := res[0], res[1]
	if follower.MemberID == follower.LeaderID {
		leader, follower = follower, leader
	}
	if len(leader.Members) != 2 || len(follower.Members) != 0 || *leader.Protocol != "range" {
		t.Fatalf("leader %+v follower %+v", leader, follower)
	}
	if d := c.Describe("g"); d.State != StateCompletingRebalance {
		t.Fatalf("state %s", d.State)
	}
	// The follower's sync waits for the leader's.
	fsync := make(chan wire.SyncGroupResponse, 1)
	go func() {
		fsync <- c.Sync(ctx, &wire.SyncGroupRequest{Group: "g", Generation: follower.Generation, MemberID: follower.MemberID})
	}()
	time.Sleep(50 * time.Millisecond)
	lr := c.Sync(ctx, &wire.SyncGroupRequest{Group: "g", Generation: leader.Generation, MemberID: leader.MemberID,
		GroupAssignment: []wire.SyncGroupAssignment{{MemberID: leader.MemberID, MemberAssignment: []byte("L")}, {MemberID: follower.MemberID, MemberAssignment: []byte("F")}}})
	fr := <-fsync
	if lr.ErrorCode != 0 || string(lr.MemberAssignment) != "L" || fr.ErrorCode != 0 || string(fr.MemberAssignment) != "F" {
		t.Fatalf("sync leader %+v follower %+v", lr, fr)
	}
	if d := c.Describe("g"); d.State != StateStable || len(d.Members) != 2 {
		t.Fatalf("describe %+v", d)
	}
	gen := leader.Generation
	if code := c.Heartbeat(&wire.HeartbeatRequest{Group: "g", Generation: gen, MemberID: leader.MemberID}); code != 0 {
		t.Fatalf("heartbeat %d", code)
	}
	if code := c.Heartbeat(&wire.HeartbeatRequest{Group: "g", Generation: gen - 1, MemberID: leader.MemberID}); code != wire.ErrIllegalGeneration {
		t.Fatalf("old generation heartbeat %d", code)
	}
	if code := c.Heartbeat(&wire.HeartbeatRequest{Group: "g", Generation: gen, MemberID: "nobody"}); code != wire.ErrUnknownMemberID {
		t.Fatalf("unknown member heartbeat %d", code)
	}
	if code := c.CommitCheck("g", leader.MemberID, gen); code != 0 {
		t.Fatalf("commit check %d", code)
	}
	if code := c.CommitCheck("g", "", -1); code != wire.ErrUnknownMemberID {
		t.Fatalf("simple commit into an active group: %d", code)
	}

	// The follower leaves: the leader learns of the rebalance and rejoins
	// alone into the next generation.
	if code, _ := c.Leave("g", []string{follower.MemberID}); code != 0 {
		t.Fatalf("leave %d", code)
	}
	if code := c.Heartbeat(&wire.HeartbeatRequest{Group: "g", Generation: gen, MemberID: leader.MemberID}); code != wire.ErrRebalanceInProgress {
		t.Fatalf("heartbeat during rebalance %d", code)
	}
	r := c.Join(ctx, joinReq("g", leader.MemberID), JoinInfo{Version: 5})
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin %+v", r)
	}
	if code := c.Delete(ctx, "g"); code != wire.ErrNonEmptyGroup {
		t.Fatalf("delete of a non-empty group: %d", code)
	}
}

func TestSessionExpiryEmptiesGroup(t *testing.T) {
	c := newCoordinator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := joinReq("g", "")
	req.SessionTimeoutMillis = 200
	r := c.Join(ctx, req, JoinInfo{Version: 1}) // v1: no MEMBER_ID_REQUIRED round
	if r.ErrorCode != 0 {
		t.Fatalf("join %+v", r)
	}
	s := c.Sync(ctx, &wire.SyncGroupRequest{Group: "g", Generation: r.Generation, MemberID: r.MemberID,
		GroupAssignment: []wire.SyncGroupAssignment{{MemberID: r.MemberID, MemberAssignment: []byte("A")}}})
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "A" {
		t.Fatalf("sync %+v", s)
	}
	deadline := time.Now().Add(5 * time.Second)
	// Empty, and then forgotten (Dead) at the next tick.
	for st := c.Describe("g").State; st != StateEmpty && st != StateDead; st = c.Describe("g").State {
		if time.Now().After(deadline) {
			t.Fatalf("member never expired: %+v", c.Describe("g"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := c.Heartbeat(&wire.HeartbeatRequest{Group: "g", Generation: r.Generation, MemberID: r.MemberID}); code != wire.ErrUnknownMemberID {
		t.Fatalf("heartbeat after expiry %d", code)
	}
	if code := c.CommitCheck("g", "", -1); code != 0 {
		t.Fatalf("simple commit into an empty group: %d", code)
	}
	if code := c.Delete(ctx, "g"); code != 0 {
		t.Fatalf("delete %d", code)
	}
}

func TestJoinRejects(t *testing.T) {
	c := newCoordinator(t)
	ctx := context.Background()
	if r := c.Join(ctx, joinReq("", ""), JoinInfo{}); r.ErrorCode != wire.ErrInvalidGroupID {
		t.Fatalf("empty group: %d", r.ErrorCode)
	}
	bad := joinReq("g", "")
	bad.SessionTimeoutMillis = 1
	if r := c.Join(ctx, bad, JoinInfo{}); r.ErrorCode != wire.ErrInvalidSessionTimeout {
		t.Fatalf("session timeout: %d", r.ErrorCode)
	}
	if r := c.Join(ctx, joinReq("g", "made-up"), JoinInfo{Version: 5}); r.ErrorCode != wire.ErrUnknownMemberID {
		t.Fatalf("unknown member id: %d", r.ErrorCode)
	}
	// A member whose protocols share nothing with the group's.
	jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	first := c.Join(jctx, joinReq("g2", ""), JoinInfo{Version: 1})
	if first.ErrorCode != 0 {
		t.Fatalf("first %+v", first)
	}
	other := joinReq("g2", "")
	other.Protocols = []wire.JoinGroupProtocol{{Name: "roundrobin", Metadata: []byte{1}}}
	if r := c.Join(jctx, other, JoinInfo{Version: 1}); r.ErrorCode != wire.ErrInconsistentGroupProtocol {
		t.Fatalf("inconsistent protocol: %d", r.ErrorCode)
	}
}

func TestMemoryOffsets(t *testing.T) {
	var s MemoryOffsets
	ctx := context.Background()
	tp := TopicPartition{Topic: "t", Partition: 1}
	if err := s.Commit(ctx, "g", tp, Offset{Offset: 5}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Fetch(ctx, "g", []TopicPartition{tp, {Topic: "t", Partition: 2}})
	if len(got) != 1 || got[tp].Offset != 5 {
		t.Fatalf("fetch %v", got)
	}
}
