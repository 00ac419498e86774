package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// PlacementBinary is the placement center's binary name in BinDir.
const PlacementBinary = "placement-center"

// placementEnvPrefix prefixes the placement center's environment
// overrides; the harness scrubs the test's own so they cannot leak in.
const placementEnvPrefix = "ROBUSTMQ_PLACEMENT_"

// Defaults for PlacementOptions fields left at zero.
const (
	DefaultPlacementMembers = 3
	DefaultLeaderTimeout    = 30 * time.Second
	// statusTimeout bounds one Status call made by the harness.
	statusTimeout = 2 * time.Second
)

// PlacementOptions configures a placement cluster.
type PlacementOptions struct {
	// Members is the number of bootstrap voters (DefaultPlacementMembers
	// when zero).
	Members int
	// SnapshotEntries sets --snapshot-entries when non-zero.
	SnapshotEntries uint64
	// Lease sets --lease when non-zero.
	Lease time.Duration
	// Env holds extra ROBUSTMQ_PLACEMENT_* overrides for settings without
	// a flag, e.g. "ROBUSTMQ_PLACEMENT_RAFT_COMPACT_KEEP=100".
	Env []string
	// ExtraArgs are appended to every member's arguments.
	ExtraArgs []string
	// LeaderTimeout bounds the wait for the first leader
	// (DefaultLeaderTimeout when zero).
	LeaderTimeout time.Duration
}

// PlacementMember is one placement-center process and a direct (not
// leader-following) connection to it.
type PlacementMember struct {
	ID       uint64
	Addr     string // gRPC: client API, admin and Raft peers
	HTTPAddr string // /metrics and /healthz
	DataDir  string
	*Process
	conn *grpc.ClientConn
}

// Conn is the member's direct connection.
func (m *PlacementMember) Conn() *grpc.ClientConn { return m.conn }

// API is a PlacementService client bound to this member only.
func (m *PlacementMember) API() placementpb.PlacementServiceClient {
	return placementpb.NewPlacementServiceClient(m.conn)
}

// Admin is a ClusterService client bound to this member only.
func (m *PlacementMember) Admin() placementpb.ClusterServiceClient {
	return placementpb.NewClusterServiceClient(m.conn)
}

// Status asks this member for its view of the Raft group, bounded by a
// short timeout.
func (m *PlacementMember) Status(ctx context.Context) (*placementpb.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	st, err := m.Admin().Status(ctx, &placementpb.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("member %d status: %w", m.ID, err)
	}
	return st, nil
}

// Restart starts the member again on its data dir and ports and waits
// until it answers Status.
func (m *PlacementMember) Restart() {
	m.t.Helper()
	// The connection may sit in reconnect backoff from the downtime.
	m.conn.ResetConnectBackoff()
	m.Process.Restart()
}

// PlacementCluster is a set of placement-center processes started by one
// test. Its methods that take no testing.TB fail the test that started it
// and belong on that test's goroutine.
type PlacementCluster struct {
	t    testing.TB
	bin  string
	opts PlacementOptions

	mu      sync.Mutex
	members []*PlacementMember
}

// StartPlacement starts opts.Members bootstrap voters on free loopback
// ports with matching --peers, waits until each answers Status and they
// agree on a leader.
func StartPlacement(t testing.TB, opts PlacementOptions) *PlacementCluster {
	t.Helper()
	if opts.Members <= 0 {
		opts.Members = DefaultPlacementMembers
	}
	if opts.LeaderTimeout <= 0 {
		opts.LeaderTimeout = DefaultLeaderTimeout
	}
	c := &PlacementCluster{t: t, bin: Binary(t, PlacementBinary), opts: opts}
	peers := make([]string, 0, opts.Members)
	planned := make([]*PlacementMember, 0, opts.Members)
	ports := FreePorts(t, 2*opts.Members)
	for i := 1; i <= opts.Members; i++ {
		m := &PlacementMember{ID: uint64(i), Addr: LoopbackAddr(ports[2*i-2]), HTTPAddr: LoopbackAddr(ports[2*i-1])}
		peers = append(peers, fmt.Sprintf("%d=%s", m.ID, m.Addr))
		planned = append(planned, m)
	}
	for _, m := range planned {
		c.start(m, strings.Join(peers, ","), false)
	}
	c.WaitLeader(opts.LeaderTimeout)
	return c
}

// start launches m (bootstrapping with peers, or joining) and adds it to
// the cluster.
func (c *PlacementCluster) start(m *PlacementMember, peers string, join bool) {
	c.t.Helper()
	m.DataDir = filepath.Join(c.t.TempDir(), fmt.Sprintf("placement-%d", m.ID))
	args := []string{
		"--node-id", fmt.Sprint(m.ID),
		"--grpc-addr", m.Addr,
		"--http-addr", m.HTTPAddr,
		"--data-dir", m.DataDir,
		"--peers", peers,
		"--log-format", "json",
	}
	if join {
		args = append(args, "--join")
	}
	if c.opts.SnapshotEntries > 0 {
		args = append(args, "--snapshot-entries", fmt.Sprint(c.opts.SnapshotEntries))
	}
	if c.opts.Lease > 0 {
		args = append(args, "--lease", c.opts.Lease.String())
	}
	args = append(args, c.opts.ExtraArgs...)
	m.conn = Dial(c.t, m.Addr)
	m.Process = Start(c.t, Spec{
		Name:             fmt.Sprintf("placement-%d", m.ID),
		Path:             c.bin,
		Args:             args,
		Env:              c.opts.Env,
		ScrubEnvPrefixes: []string{placementEnvPrefix},
		Ready: func(ctx context.Context) error {
			_, err := m.Status(ctx)
			return err
		},
	})
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
}

// Join starts a fresh member with --join under the id AddMember assigned
// to addr. It waits until the process answers Status, not until it caught
// up (see WaitCaughtUp).
func (c *PlacementCluster) Join(id uint64, addr string) *PlacementMember {
	c.t.Helper()
	var peers []string
	for _, m := range c.Members() {
		peers = append(peers, fmt.Sprintf("%d=%s", m.ID, m.Addr))
	}
	// addr is not bound yet, so the HTTP port must be kept off it by hand.
	httpAddr := FreeAddr(c.t)
	for range 10 {
		if httpAddr != addr {
			break
		}
		httpAddr = FreeAddr(c.t)
	}
	m := &PlacementMember{ID: id, Addr: addr, HTTPAddr: httpAddr}
	c.start(m, strings.Join(peers, ","), true)
	return m
}

// Forget drops m from the cluster's member list (after it was removed
// from the Raft group and stopped); its process is still killed at the
// end of the test.
func (c *PlacementCluster) Forget(m *PlacementMember) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members = slices.DeleteFunc(c.members, func(x *PlacementMember) bool { return x == m })
}

// Members returns every member, running or not, in start order.
func (c *PlacementCluster) Members() []*PlacementMember {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.members)
}

// Running returns the members whose process is alive.
func (c *PlacementCluster) Running() []*PlacementMember {
	var out []*PlacementMember
	for _, m := range c.Members() {
		if m.Running() {
			out = append(out, m)
		}
	}
	return out
}

// Member returns the member with the given id, or nil.
func (c *PlacementCluster) Member(id uint64) *PlacementMember {
	for _, m := range c.Members() {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// Followers returns the members other than leader.
func (c *PlacementCluster) Followers(leader *PlacementMember) []*PlacementMember {
	var out []*PlacementMember
	for _, m := range c.Members() {
		if m != leader {
			out = append(out, m)
		}
	}
	return out
}

// Addrs lists every member's gRPC address in start order.
func (c *PlacementCluster) Addrs() []string {
	var out []string
	for _, m := range c.Members() {
		out = append(out, m.Addr)
	}
	return out
}

// ClientOptions are the leaderclient options the harness uses: the
// harness's dial options and a short backoff ceiling, so a failover is
// measured on the servers rather than on the client's pauses.
func ClientOptions() leaderclient.Options {
	return leaderclient.Options{
		CallTimeout:    10 * time.Second,
		AttemptTimeout: 2 * time.Second,
		InitialBackoff: 20 * time.Millisecond,
		MaxBackoff:     250 * time.Millisecond,
		DialOptions:    DialOptions(),
	}
}

// Client returns a leader-following client over every current member,
// closed when the test ends.
func (c *PlacementCluster) Client() *leaderclient.Client {
	c.t.Helper()
	return NewLeaderClient(c.t, c.Addrs(), ClientOptions())
}

// NewLeaderClient dials a leaderclient over addrs, closed when the test
// ends.
func NewLeaderClient(t testing.TB, addrs []string, opts leaderclient.Options) *leaderclient.Client {
	t.Helper()
	cl, err := leaderclient.Dial(addrs, opts)
	if err != nil {
		t.Fatalf("harness: leaderclient over %v: %v", addrs, err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Leader returns the leader that every running member names, at one term,
// and that reports itself as leader, with its Status; an error says why
// there is none right now.
func (c *PlacementCluster) Leader(ctx context.Context) (*PlacementMember, *placementpb.StatusResponse, error) {
	running := c.Running()
	if len(running) == 0 {
		return nil, nil, fmt.Errorf("no member is running")
	}
	var leaderID, term uint64
	statuses := make(map[uint64]*placementpb.StatusResponse, len(running))
	for _, m := range running {
		st, err := m.Status(ctx)
		if err != nil {
			return nil, nil, err
		}
		if st.GetLeaderId() == 0 {
			return nil, nil, fmt.Errorf("member %d knows no leader (state %s, term %d)", m.ID, st.GetRaftState(), st.GetTerm())
		}
		if leaderID != 0 && (st.GetLeaderId() != leaderID || st.GetTerm() != term) {
			return nil, nil, fmt.Errorf("members disagree: leader %d at term %d vs member %d's leader %d at term %d",
				leaderID, term, m.ID, st.GetLeaderId(), st.GetTerm())
		}
		leaderID, term = st.GetLeaderId(), st.GetTerm()
		statuses[m.ID] = st
	}
	st, ok := statuses[leaderID]
	if !ok {
		return nil, nil, fmt.Errorf("the agreed leader %d is not a running member", leaderID)
	}
	if st.GetRaftState() != "leader" {
		return nil, nil, fmt.Errorf("the agreed leader %d reports state %q", leaderID, st.GetRaftState())
	}
	return c.Member(leaderID), st, nil
}

// WaitLeader waits until the running members agree on a running leader.
func (c *PlacementCluster) WaitLeader(timeout time.Duration) *PlacementMember {
	c.t.Helper()
	leader, _ := c.WaitLeaderStatus(timeout)
	return leader
}

// WaitLeaderStatus is WaitLeader that also returns the leader's Status.
func (c *PlacementCluster) WaitLeaderStatus(timeout time.Duration) (*PlacementMember, *placementpb.StatusResponse) {
	c.t.Helper()
	var leader *PlacementMember
	var st *placementpb.StatusResponse
	Eventually(c.t, timeout, "an agreed placement leader", func() error {
		var err error
		leader, st, err = c.Leader(context.Background())
		return err
	})
	return leader, st
}

// WaitCaughtUp waits until m has applied everything the leader had
// committed when the wait began.
func (c *PlacementCluster) WaitCaughtUp(m *PlacementMember, timeout time.Duration) *placementpb.StatusResponse {
	c.t.Helper()
	_, ls := c.WaitLeaderStatus(timeout)
	target := ls.GetCommitIndex()
	var got *placementpb.StatusResponse
	Eventually(c.t, timeout, fmt.Sprintf("member %d to apply index %d", m.ID, target), func() error {
		st, err := m.Status(context.Background())
		if err != nil {
			return err
		}
		if st.GetAppliedIndex() < target {
			return fmt.Errorf("applied %d of %d", st.GetAppliedIndex(), target)
		}
		got = st
		return nil
	})
	return got
}
