package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memCluster is an in-memory Cluster below the core: one log partition
// and a map of saved sessions.
type memCluster struct {
	mu    sync.Mutex
	cond  *sync.Cond
	log   []*Message
	saved map[string]*SessionState
	saves int
}

func newMemCluster() *memCluster {
	c := &memCluster{saved: map[string]*SessionState{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *memCluster) Claim(_ context.Context, cl Claim) (*SessionState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.saved[cl.ClientID]
	if cl.Clean || st == nil {
		return nil, nil
	}
	return st, nil
}

func (c *memCluster) Save(_ context.Context, st *SessionState) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.saved[st.ClientID] = st
	c.saves++
	return nil
}

func (c *memCluster) Release(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.saved, id)
	return nil
}

func (c *memCluster) AppendAsync(_ context.Context, m *Message, done func(Position, error)) error {
	c.mu.Lock()
	c.log = append(c.log, m)
	c.cond.Broadcast()
	pos := Position{Partition: 0, Offset: uint64(len(c.log) - 1), Valid: true}
	c.mu.Unlock()
	done(pos, nil)
	return nil
}

func (c *memCluster) Retain(context.Context, *Message) error { return nil }

func (c *memCluster) AppendMapped(context.Context, *Message) error { return nil }

func (c *memCluster) UpdateRoute(string, bool) <-chan error {
	ch := make(chan error, 1)
	ch <- nil
	return ch
}

func (c *memCluster) Forward(_ *Message, _ Position, shares []string) map[string]bool {
	serve := map[string]bool{}
	for _, s := range shares {
		serve[s] = true
	}
	return serve
}

func (c *memCluster) ForwardShare(*Message, string) bool { return false }

func (c *memCluster) LogEnds(context.Context) (map[uint32]uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return map[uint32]uint64{0: uint64(len(c.log))}, nil
}

func (c *memCluster) OpenLog(_ uint32, from uint64) (LogReader, error) {
	return &memReader{c: c, next: from}, nil
}

type memReader struct {
	c    *memCluster
	next uint64
}

func (r *memReader) Next(ctx context.Context) ([]LogRecord, error) {
	stop := context.AfterFunc(ctx, func() {
		r.c.mu.Lock()
		r.c.cond.Broadcast()
		r.c.mu.Unlock()
	})
	defer stop()
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	for uint64(len(r.c.log)) <= r.next && ctx.Err() == nil {
		r.c.cond.Wait()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var out []LogRecord
	for ; r.next < uint64(len(r.c.log)); r.next++ {
		out = append(out, LogRecord{Msg: r.c.log[r.next], Pos: Position{Offset: r.next, Valid: true}})
	}
	return out, nil
}

func (r *memReader) Close() error { return nil }

// syncClient is a Client safe to call from the feed goroutines.
type syncClient struct{ notified, kicked atomic.Int32 }

func (c *syncClient) Notify() { c.notified.Add(1) }
func (c *syncClient) Kick()   { c.kicked.Add(1) }

// pullN pulls from s until n packets came or the wait ends.
func pullN(t *testing.T, s *Session, c Client, window, n int) []Outbound {
	t.Helper()
	var out []Outbound
	deadline := time.Now().Add(5 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		out = append(out, s.Pull(c, window, time.Now())...)
		time.Sleep(5 * time.Millisecond)
	}
	return out
}

func payloads(out []Outbound) string {
	var s []string
	for _, o := range out {
		s = append(s, string(o.Msg.Payload))
	}
	return fmt.Sprint(s)
}

// A persistent session gets its QoS 1 messages from the log, once (the
// live route skips it), and saves a position that covers exactly the
// acknowledged ones: a resume on another broker sends the rest.
func TestFeedResumesFromTheSavedPosition(t *testing.T) {
	mc := newMemCluster()
	b1 := New(Options{Cluster: mc})
	c1 := &syncClient{}
	s, _, err := b1.Connect(context.Background(), Claim{ClientID: "p", Expiry: 3600}, c1)
	if err != nil {
		t.Fatal(err)
	}
	b1.Subscribe(s, sub("", "a/#", 1))
	for i := range 5 {
		publish(t, b1, &Message{Topic: "a/x", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	publish(t, b1, &Message{Topic: "b", QoS: 1, Payload: []byte("other")})
	out := pullN(t, s, c1, 10, 5)
	if payloads(out) != "[0 1 2 3 4]" {
		t.Fatalf("delivered %s", payloads(out))
	}
	time.Sleep(100 * time.Millisecond)
	if more := s.Pull(c1, 10, time.Now()); len(more) != 0 {
		t.Fatalf("delivered twice: %s", payloads(more))
	}
	// Acknowledge 0, 1 and 3: the position stays at 2.
	for _, i := range []int{0, 1, 3} {
		if !s.Acked(out[i].PacketID, false) {
			t.Fatalf("ack %d", i)
		}
	}
	b1.Disconnect(s, c1, nil, 0)
	st := mc.saved["p"]
	if st == nil || st.Positions[0] != 2 || len(st.Subs) != 1 || st.Connected {
		t.Fatalf("saved %+v", st)
	}

	// Another broker resumes the session from the record.
	b2 := New(Options{Cluster: mc})
	c2 := &syncClient{}
	s2, present, err := b2.Connect(context.Background(), Claim{ClientID: "p", Expiry: 3600}, c2)
	if err != nil || !present {
		t.Fatalf("resume: present %v err %v", present, err)
	}
	out = pullN(t, s2, c2, 10, 3)
	if payloads(out) != "[2 3 4]" {
		t.Fatalf("resumed with %s", payloads(out))
	}
	for _, o := range out {
		s2.Acked(o.PacketID, false)
	}
	b2.save(context.Background(), s2)
	if got := mc.saved["p"].Positions[0]; got != 6 {
		t.Fatalf("position after every ack %d, want 6 (past the record that did not match)", got)
	}
}

// The feed holds at most FeedWindow log messages in memory and reads on
// as they are acknowledged.
func TestFeedWindowBoundsMemory(t *testing.T) {
	mc := newMemCluster()
	b := New(Options{Cluster: mc, FeedWindow: 3})
	c := &syncClient{}
	s, _, err := b.Connect(context.Background(), Claim{ClientID: "w", Expiry: 60}, c)
	if err != nil {
		t.Fatal(err)
	}
	b.Subscribe(s, sub("", "t", 1))
	for i := range 10 {
		publish(t, b, &Message{Topic: "t", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	var got []Outbound
	for len(got) < 10 {
		out := pullN(t, s, c, 100, min(3, 10-len(got)))
		if len(out) == 0 {
			t.Fatalf("stalled after %d", len(got))
		}
		s.mu.Lock()
		held := s.openCount
		s.mu.Unlock()
		if held > 3 {
			t.Fatalf("%d log messages held, window 3", held)
		}
		for _, o := range out {
			s.Acked(o.PacketID, false)
		}
		got = append(got, out...)
	}
	if payloads(got) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Fatalf("delivered %s", payloads(got))
	}
}

// Messages a shared-subscription member had not received go to another
// member when it leaves the group.
func TestSharedMessagesMoveWhenAMemberLeaves(t *testing.T) {
	b := New(Options{})
	c1, c2 := &fakeClient{}, &fakeClient{}
	s1, _ := connect(t, b, "m1", true, c1)
	s2, _ := connect(t, b, "m2", true, c2)
	b.Subscribe(s1, sub("", "$share/g/t", 1))
	b.Subscribe(s2, sub("", "$share/g/t", 1))
	for i := range 6 {
		publish(t, b, &Message{Topic: "t", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	// m1 has one in flight and the rest queued; m2 takes everything.
	first := s1.Pull(c1, 1, time.Now())
	if len(first) != 1 {
		t.Fatalf("m1 pulled %d", len(first))
	}
	b.Unsubscribe(s1, "$share/g/t")
	if s1.Queued() != 0 || s1.Inflight() != 0 {
		t.Fatalf("m1 kept %d queued, %d in flight", s1.Queued(), s1.Inflight())
	}
	got := s2.Pull(c2, 100, time.Now())
	if len(got) != 6 {
		t.Fatalf("m2 got %s, want all 6", payloads(got))
	}
}

// Log messages queued but not yet sent when the client goes away are read
// again by the next feed: the saved position stays before them.
func TestFeedQueuedMessagesSurviveADisconnect(t *testing.T) {
	mc := newMemCluster()
	b1 := New(Options{Cluster: mc})
	c1 := &syncClient{}
	s, _, err := b1.Connect(context.Background(), Claim{ClientID: "q", Expiry: 60}, c1)
	if err != nil {
		t.Fatal(err)
	}
	b1.Subscribe(s, sub("", "t", 1))
	for i := range 10 {
		publish(t, b1, &Message{Topic: "t", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	// Wait until the feed queued all ten, then take two and acknowledge them.
	deadline := time.Now().Add(5 * time.Second)
	for s.Queued() < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	out := s.Pull(c1, 2, time.Now())
	if payloads(out) != "[0 1]" {
		t.Fatalf("first two %s", payloads(out))
	}
	for _, o := range out {
		s.Acked(o.PacketID, false)
	}
	b1.Disconnect(s, c1, nil, 0)
	if p := mc.saved["q"].Positions[0]; p != 2 {
		t.Fatalf("saved position %d, want 2 (8 queued messages not sent)", p)
	}
	b2 := New(Options{Cluster: mc})
	c2 := &syncClient{}
	s2, _, err := b2.Connect(context.Background(), Claim{ClientID: "q", Expiry: 60}, c2)
	if err != nil {
		t.Fatal(err)
	}
	if got := pullN(t, s2, c2, 100, 8); payloads(got) != "[2 3 4 5 6 7 8 9]" {
		t.Fatalf("resumed with %s", payloads(got))
	}
}
