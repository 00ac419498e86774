package raftnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// testSM is an in-memory StateMachine counting how often each PutKV key was
// applied. It models durability: Sync copies the state aside, and crash
// reverts to that copy, as a process crash would lose unsynced applies.
type testSM struct {
	mu      sync.Mutex
	state   smState
	durable smState
}

type smState struct {
	Applied uint64         `json:"applied"`
	Counts  map[string]int `json:"counts"`
}

func (s smState) clone() smState {
	return smState{Applied: s.Applied, Counts: maps.Clone(s.Counts)}
}

func newTestSM() *testSM {
	return &testSM{state: smState{Counts: map[string]int{}}, durable: smState{Counts: map[string]int{}}}
}

func (s *testSM) Apply(entries []Committed) ([]Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Outcome, len(entries))
	for i, e := range entries {
		if e.Index != s.state.Applied+1 {
			return nil, fmt.Errorf("testSM: entry %d after applied %d", e.Index, s.state.Applied)
		}
		s.state.Applied = e.Index
		key := e.Cmd.GetPutKv().GetKey()
		switch {
		case e.Cmd == nil:
		case key == "reject":
			out[i] = Outcome{Err: rpcerr.InvalidArgument("key", "rejected by the test state machine")}
		default:
			s.state.Counts[key]++
			out[i] = Outcome{Value: wrapperspb.String(key)}
		}
	}
	return out, nil
}

func (s *testSM) AppliedIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Applied
}

func (s *testSM) Snapshot() ([]byte, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := json.Marshal(s.state)
	return data, s.state.Applied, err
}

func (s *testSM) Restore(data []byte, index uint64) error {
	var st smState
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	if st.Applied != index {
		return fmt.Errorf("testSM: snapshot data at %d, index %d", st.Applied, index)
	}
	if st.Counts == nil {
		st.Counts = map[string]int{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = st
	// Restore is durable, as the real state machine's is.
	s.durable = st.clone()
	return nil
}

func (s *testSM) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.durable = s.state.clone()
	return nil
}

// crash drops everything applied since the last Sync.
func (s *testSM) crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = s.durable.clone()
}

func (s *testSM) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Counts[key]
}

func (s *testSM) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.state.Counts)
}

// member is one in-process placement-center member of a test cluster.
type member struct {
	id   uint64
	addr string
	dir  string
	sm   *testSM
	reg  *prometheus.Registry

	node   *Node
	srv    *grpc.Server
	cancel context.CancelFunc
	done   chan error
	runErr error
}

type cluster struct {
	t *testing.T
	// mu guards members and each member's node, which background writers
	// read while the test starts and stops members.
	mu      sync.Mutex
	members []*member
	peers   []*placementpb.Member
	tweak   func(*Config)
}

const (
	testTick    = 40 * time.Millisecond
	waitTimeout = 20 * time.Second
)

func testLogger(t *testing.T) zerolog.Logger {
	if os.Getenv("RAFTNODE_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
}

// newCluster starts size members that bootstrap together.
func newCluster(t *testing.T, size int, tweak func(*Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, tweak: tweak}
	listeners := make([]net.Listener, size)
	for i := range size {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners[i] = lis
		m := &member{id: uint64(i + 1), addr: lis.Addr().String(), dir: t.TempDir(), sm: newTestSM()}
		c.members = append(c.members, m)
		c.peers = append(c.peers, &placementpb.Member{Id: m.id, Addr: m.addr})
	}
	for i, m := range c.members {
		c.start(m, listeners[i], false)
	}
	t.Cleanup(func() {
		for _, m := range c.running() {
			c.stop(m.member)
		}
	})
	return c
}

func (c *cluster) config(m *member, join bool) Config {
	cfg := Config{
		ID:             m.id,
		Addr:           m.addr,
		Peers:          c.peers,
		Join:           join,
		DataDir:        m.dir,
		TickInterval:   testTick,
		ElectionTicks:  10,
		HeartbeatTicks: 1,
		Logger:         testLogger(c.t).With().Uint64("m", m.id).Logger(),
		Registerer:     m.reg,
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

// start runs m on lis (a fresh listener when nil, on m's address).
func (c *cluster) start(m *member, lis net.Listener, join bool) {
	c.t.Helper()
	if lis == nil {
		lis = listenRetry(c.t, m.addr)
	}
	m.reg = prometheus.NewRegistry()
	c.mu.Lock()
	cfg := c.config(m, join)
	c.mu.Unlock()
	node, err := New(cfg, m.sm)
	if err != nil {
		c.t.Fatalf("member %d: New: %v", m.id, err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	node.RegisterTransport(srv)
	go func() { _ = srv.Serve(lis) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	c.mu.Lock()
	m.node, m.srv, m.cancel, m.done, m.runErr = node, srv, cancel, done, nil
	c.mu.Unlock()
}

// stop stops m's Run and server and waits for Run to return.
func (c *cluster) stop(m *member) {
	c.t.Helper()
	c.mu.Lock()
	m.node = nil
	c.mu.Unlock()
	m.cancel()
	m.srv.Stop()
	select {
	case m.runErr = <-m.done:
	case <-time.After(waitTimeout):
		c.t.Fatalf("member %d: Run did not return", m.id)
	}
}

// setMembers replaces the member list.
func (c *cluster) setMembers(ms []*member) {
	c.mu.Lock()
	c.members = ms
	c.mu.Unlock()
}

// all returns the member list.
func (c *cluster) all() []*member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*member(nil), c.members...)
}

func listenRetry(t *testing.T, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lis, err := net.Listen("tcp", addr)
		if err == nil {
			return lis
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// live is a running member with the node it ran when listed: background
// goroutines use that node, never m.node, which the test changes.
type live struct {
	*member
	node *Node
}

func (c *cluster) running() []live {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []live
	for _, m := range c.members {
		if m.node != nil {
			out = append(out, live{member: m, node: m.node})
		}
	}
	return out
}

// waitLeader waits until one running member leads and every running
// member agrees on it.
func (c *cluster) waitLeader() *member {
	c.t.Helper()
	var leader *member
	waitFor(c.t, "a leader all running members agree on", func() bool {
		leader = nil
		var agreed uint64
		for i, m := range c.running() {
			lead, _ := m.node.LeaderAddr()
			if lead == 0 || (i > 0 && lead != agreed) {
				return false
			}
			agreed = lead
			if m.id == lead && m.node.IsLeader() {
				leader = m.member
			}
		}
		return leader != nil
	})
	return leader
}

func (c *cluster) followers(leader *member) []*member {
	var out []*member
	for _, m := range c.running() {
		if m.member != leader {
			out = append(out, m.member)
		}
	}
	return out
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func putCmd(key string) *placementpb.Command {
	return &placementpb.Command{Op: &placementpb.Command_PutKv{PutKv: &placementpb.PutKVCmd{Key: key}}}
}

func put(n *Node, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := n.Propose(ctx, putCmd(key))
	if err != nil {
		return err
	}
	if s, ok := v.(*wrapperspb.StringValue); !ok || s.GetValue() != key {
		return fmt.Errorf("outcome %v, want %q", v, key)
	}
	return nil
}

// putViaLeader retries key on whichever member leads until it is applied.
// The retries can apply key twice only if a proposal timed out after
// committing; callers then see a count of 2.
func (c *cluster) putViaLeader(key string) error {
	deadline := time.Now().Add(waitTimeout)
	var err error
	for time.Now().Before(deadline) {
		for _, m := range c.running() {
			if !m.node.IsLeader() {
				continue
			}
			if err = put(m.node, key); err == nil {
				return nil
			}
			if _, ok := rpcerr.AsNotLeader(err); !ok {
				return err
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("put %q: no leader took it: %w", key, err)
}

// waitApplied waits until every member in ms counts every key exactly once.
func waitApplied(t *testing.T, ms []*member, keys []string) {
	t.Helper()
	for _, m := range ms {
		waitFor(t, fmt.Sprintf("member %d to apply %d keys", m.id, len(keys)), func() bool {
			for _, k := range keys {
				if m.sm.count(k) != 1 {
					return false
				}
			}
			return true
		})
	}
	for _, m := range ms {
		for k, n := range m.sm.counts() {
			if n > 1 {
				t.Fatalf("member %d applied %q %d times", m.id, k, n)
			}
		}
	}
}

func keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

var errInjected = errors.New("injected crash")
