package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Binary names in BinDir.
const (
	JournalBinary   = "journal-server"
	RobustctlBinary = "robustctl"
)

// journalEnvPrefix prefixes the journal server's environment overrides;
// the harness scrubs the test's own so they cannot leak in.
const journalEnvPrefix = "ROBUSTMQ_JOURNAL_"

// robustctlEnvPrefix covers ROBUSTMQ_PLACEMENT, which robustctl reads as
// its default --placement (the harness always passes --placement, but a
// developer's value must not matter either way).
const robustctlEnvPrefix = "ROBUSTMQ_PLACEMENT"

// Defaults for JournalOptions fields left at zero.
const (
	DefaultJournalNodes = 3
	// DefaultJournalReadyTimeout bounds a node's start: healthy and
	// registered ALIVE.
	DefaultJournalReadyTimeout = 30 * time.Second
	// DefaultRobustctlTimeout bounds one robustctl run started by the
	// harness (a command's own --timeout is usually shorter).
	DefaultRobustctlTimeout = 5 * time.Minute
	// listNodesTimeout bounds one ListNodes made by a readiness probe.
	listNodesTimeout = 2 * time.Second
)

// JournalOptions configures a set of journal-server processes.
type JournalOptions struct {
	// Nodes is the number of journal nodes (DefaultJournalNodes when zero).
	Nodes int
	// FirstNodeID is the first node's --node-id; the others follow (1 when
	// zero).
	FirstNodeID uint64
	// Placement lists the placement center members (required).
	Placement []string
	// SegmentMaxBytes and SegmentMaxAge set --segment-max-bytes and
	// --segment-max-age when non-zero.
	SegmentMaxBytes uint64
	SegmentMaxAge   time.Duration
	// Env holds extra ROBUSTMQ_JOURNAL_* overrides for settings without a
	// flag, e.g. "ROBUSTMQ_JOURNAL_LIMITS_MAX_BATCH_BYTES=65536".
	Env []string
	// ExtraArgs are appended to every node's arguments.
	ExtraArgs []string
	// ReadyTimeout bounds each node's start (DefaultJournalReadyTimeout
	// when zero).
	ReadyTimeout time.Duration
}

// JournalNode is one journal-server process and a direct connection to
// its gRPC port.
type JournalNode struct {
	ID       uint64
	Addr     string // gRPC: JournalService, health
	HTTPAddr string // /metrics and /healthz
	DataDir  string
	*Process
	conn *grpc.ClientConn

	mu sync.Mutex
	// incarnation is the placement registration seen when the node last
	// became ready; a restarted node is ready only once it registered
	// again (with a higher incarnation).
	incarnation uint64
}

// Conn is the node's direct connection.
func (n *JournalNode) Conn() *grpc.ClientConn { return n.conn }

// API is a JournalService client bound to this node only.
func (n *JournalNode) API() journalpb.JournalServiceClient {
	return journalpb.NewJournalServiceClient(n.conn)
}

// Incarnation is the node's placement incarnation when it last became
// ready.
func (n *JournalNode) Incarnation() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.incarnation
}

// Restart starts the node again on its data dir and ports and waits until
// it is healthy and registered again (a new incarnation, ALIVE).
func (n *JournalNode) Restart() {
	n.t.Helper()
	n.conn.ResetConnectBackoff()
	n.Process.Restart()
}

// Pause stops every process of the node's group with SIGSTOP: it keeps
// its sockets and files but runs nothing (no heartbeats, no replies) until
// Resume. A paused node is still Running; a SIGKILL (Kill9, the test's
// cleanup) ends it as usual.
func (n *JournalNode) Pause() error { return n.signal(syscall.SIGSTOP) }

// Resume continues a paused node with SIGCONT.
func (n *JournalNode) Resume() error { return n.signal(syscall.SIGCONT) }

func (n *JournalNode) signal(sig syscall.Signal) error {
	if _, ok := n.signalGroup(sig); !ok {
		return fmt.Errorf("journal node %d is not running (no %s sent)", n.ID, sig)
	}
	if sig == syscall.SIGSTOP {
		// kill(2) returns before a running process has stopped: wait until
		// the kernel shows it stopped, so nothing it does after Pause
		// returns can be mistaken for the work of a paused node.
		return n.waitStopped(5 * time.Second)
	}
	return nil
}

// waitStopped polls /proc until the node's process is in state T.
func (n *JournalNode) waitStopped(timeout time.Duration) error {
	pid := n.Pid()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return fmt.Errorf("journal node %d: %w", n.ID, err)
		}
		// The state follows the parenthesised command name.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("journal node %d did not stop within %s", n.ID, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// JournalCluster is the journal nodes started by one test against one
// placement cluster. Methods that take no testing.TB fail the test that
// started it and belong on that test's goroutine.
type JournalCluster struct {
	t         testing.TB
	bin       string
	opts      JournalOptions
	placement *leaderclient.Client
	nodes     []*JournalNode
}

// StartJournal starts opts.Nodes journal servers on free loopback ports,
// one after the other, each waited for until its gRPC health check serves
// and the placement center lists it ALIVE at its address.
func StartJournal(t testing.TB, opts JournalOptions) *JournalCluster {
	t.Helper()
	if len(opts.Placement) == 0 {
		t.Fatal("harness: StartJournal needs the placement addresses")
	}
	if opts.Nodes <= 0 {
		opts.Nodes = DefaultJournalNodes
	}
	if opts.FirstNodeID == 0 {
		opts.FirstNodeID = 1
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultJournalReadyTimeout
	}
	c := &JournalCluster{
		t:         t,
		bin:       Binary(t, JournalBinary),
		opts:      opts,
		placement: NewLeaderClient(t, opts.Placement, ClientOptions()),
	}
	ports := FreePorts(t, 2*opts.Nodes)
	for i := range opts.Nodes {
		n := &JournalNode{
			ID:       opts.FirstNodeID + uint64(i),
			Addr:     LoopbackAddr(ports[2*i]),
			HTTPAddr: LoopbackAddr(ports[2*i+1]),
		}
		n.DataDir = filepath.Join(t.TempDir(), fmt.Sprintf("journal-%d", n.ID))
		c.start(n)
	}
	return c
}

// Add starts one more journal node with node id id (unused by any node of
// the cluster, brokers included: they take assigned ids), fresh ports and
// data dir, and waits until it is registered ALIVE.
func (c *JournalCluster) Add(id uint64) *JournalNode {
	c.t.Helper()
	ports := FreePorts(c.t, 2)
	n := &JournalNode{ID: id, Addr: LoopbackAddr(ports[0]), HTTPAddr: LoopbackAddr(ports[1])}
	n.DataDir = filepath.Join(c.t.TempDir(), fmt.Sprintf("journal-%d", n.ID))
	c.start(n)
	return n
}

// journalArgs is a node's command line.
func journalArgs(n *JournalNode, opts JournalOptions) []string {
	args := []string{
		"--node-id", fmt.Sprint(n.ID),
		"--grpc-addr", n.Addr,
		"--http-addr", n.HTTPAddr,
		"--placement", strings.Join(opts.Placement, ","),
		"--data-dir", n.DataDir,
		"--log-format", "json",
	}
	if opts.SegmentMaxBytes > 0 {
		args = append(args, "--segment-max-bytes", fmt.Sprint(opts.SegmentMaxBytes))
	}
	if opts.SegmentMaxAge > 0 {
		args = append(args, "--segment-max-age", opts.SegmentMaxAge.String())
	}
	return append(args, opts.ExtraArgs...)
}

func (c *JournalCluster) start(n *JournalNode) {
	c.t.Helper()
	n.conn = Dial(c.t, n.Addr)
	health := HealthServing(n.conn)
	n.Process = Start(c.t, Spec{
		Name:             fmt.Sprintf("journal-%d", n.ID),
		Path:             c.bin,
		Args:             journalArgs(n, c.opts),
		Env:              c.opts.Env,
		ScrubEnvPrefixes: []string{journalEnvPrefix},
		ReadyTimeout:     c.opts.ReadyTimeout,
		Ready: func(ctx context.Context) error {
			if err := health(ctx); err != nil {
				return fmt.Errorf("health: %w", err)
			}
			return c.registered(ctx, n)
		},
	})
	c.nodes = append(c.nodes, n)
}

// registered checks that the placement center lists n ALIVE at its address
// with an incarnation newer than the one of n's previous run, and records
// it.
func (c *JournalCluster) registered(ctx context.Context, n *JournalNode) error {
	node, err := c.ClusterNode(ctx, n.ID)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case node.GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE:
		return fmt.Errorf("journal node %d registered as %s", n.ID, node.GetStatus())
	case node.GetGrpcAddr() != n.Addr:
		return fmt.Errorf("journal node %d registered at %q, want %q", n.ID, node.GetGrpcAddr(), n.Addr)
	case node.GetIncarnation() <= n.incarnation:
		return fmt.Errorf("journal node %d still at incarnation %d (not registered again yet)", n.ID, node.GetIncarnation())
	}
	n.incarnation = node.GetIncarnation()
	return nil
}

// ClusterNode returns the placement center's record of journal node id
// (a linearizable ListNodes through the leader).
func (c *JournalCluster) ClusterNode(ctx context.Context, id uint64) (*placementpb.ClusterNode, error) {
	ctx, cancel := context.WithTimeout(ctx, listNodesTimeout)
	defer cancel()
	resp, err := c.Placement().ListNodes(ctx, &placementpb.ListNodesRequest{Kind: placementpb.NodeKind_NODE_KIND_JOURNAL})
	if err != nil {
		return nil, fmt.Errorf("list journal nodes: %w", err)
	}
	for _, node := range resp.GetNodes() {
		if node.GetNodeId() == id {
			return node, nil
		}
	}
	return nil, fmt.Errorf("journal node %d not registered", id)
}

// WaitNodeStatus waits until the placement center lists journal node id
// with status want (e.g. DEAD after a kill) and returns how long it took.
func (c *JournalCluster) WaitNodeStatus(id uint64, want placementpb.NodeStatus, timeout time.Duration) time.Duration {
	c.t.Helper()
	began := time.Now()
	Eventually(c.t, timeout, fmt.Sprintf("journal node %d %s", id, want), func() error {
		node, err := c.ClusterNode(context.Background(), id)
		if err != nil {
			return err
		}
		if node.GetStatus() != want {
			return fmt.Errorf("status %s", node.GetStatus())
		}
		return nil
	})
	return time.Since(began)
}

// Placement is a leader-following PlacementService client over the
// placement addresses, closed when the test ends.
func (c *JournalCluster) Placement() placementpb.PlacementServiceClient {
	return placementpb.NewPlacementServiceClient(c.placement)
}

// PlacementAddrs are the placement addresses the nodes were given.
func (c *JournalCluster) PlacementAddrs() []string { return slices.Clone(c.opts.Placement) }

// Nodes returns every node, running or not, in start order.
func (c *JournalCluster) Nodes() []*JournalNode { return slices.Clone(c.nodes) }

// Running returns the nodes whose process is alive.
func (c *JournalCluster) Running() []*JournalNode {
	var out []*JournalNode
	for _, n := range c.nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// KillAll9 sends SIGKILL to every running node at once (no node sees
// another go down first) and returns once all were reaped. It returns the
// nodes it killed.
func (c *JournalCluster) KillAll9() []*JournalNode {
	c.t.Helper()
	return c.signalAll(syscall.SIGKILL, killWait)
}

// StopAll sends SIGTERM to every running node at once and waits until all
// exited; a node still running after its stop timeout is killed and
// reported, as is a node that exited with a failure. It returns the nodes
// it stopped.
func (c *JournalCluster) StopAll() ([]*JournalNode, error) {
	c.t.Helper()
	stopped := c.signalAll(syscall.SIGTERM, DefaultStopTimeout)
	var errs []error
	for _, n := range stopped {
		if n.Running() {
			n.Kill9()
			errs = append(errs, fmt.Errorf("journal node %d did not exit within %s of SIGTERM; killed", n.ID, DefaultStopTimeout))
		} else if err := n.ExitErr(); err != nil {
			errs = append(errs, fmt.Errorf("journal node %d exited badly after SIGTERM: %w", n.ID, err))
		}
	}
	return stopped, errors.Join(errs...)
}

// signalAll signals every running node, then waits up to wait for each
// to be reaped.
func (c *JournalCluster) signalAll(sig syscall.Signal, wait time.Duration) []*JournalNode {
	var sent []*JournalNode
	var exits []<-chan struct{}
	for _, n := range c.nodes {
		if exited, ok := n.signalGroup(sig); ok {
			sent = append(sent, n)
			exits = append(exits, exited)
		}
	}
	deadline := time.After(wait)
	for i, exited := range exits {
		select {
		case <-exited:
		case <-deadline:
			c.t.Logf("harness: journal node %d (pid %d) still running %s after %s", sent[i].ID, sent[i].Pid(), wait, sig)
			return sent
		}
	}
	return sent
}

// RestartAll restarts every node that is not running, one after the
// other (each waited for as Restart does), and returns them.
func (c *JournalCluster) RestartAll() []*JournalNode {
	c.t.Helper()
	var out []*JournalNode
	for _, n := range c.nodes {
		if !n.Running() {
			n.Restart()
			out = append(out, n)
		}
	}
	return out
}

// Node returns the node with the given id, or nil.
func (c *JournalCluster) Node(id uint64) *JournalNode {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Robustctl runs bin/robustctl with --placement set to the cluster's
// placement addresses; see Robustctl.
func (c *JournalCluster) Robustctl(args ...string) string {
	c.t.Helper()
	return Robustctl(c.t, c.opts.Placement, args...)
}

// Robustctl runs bin/robustctl --placement <placement> args..., bounded
// by DefaultRobustctlTimeout, and returns its stdout. A failure (non-zero
// exit) fails the test with both outputs.
func Robustctl(t testing.TB, placement []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultRobustctlTimeout)
	defer cancel()
	res := RunRobustctl(ctx, BinDir(t), placement, args...)
	if res.Err != nil {
		t.Fatalf("%s: %v\n---- stdout ----\n%s\n---- stderr ----\n%s", res.Command, res.Err, res.Stdout, res.Stderr)
	}
	return res.Stdout
}

// RobustctlResult is one finished robustctl run.
type RobustctlResult struct {
	Command        string // the command line, for messages
	Stdout, Stderr string
	// Err is nil for exit status 0; otherwise the *exec.ExitError, a start
	// failure or the context's error.
	Err      error
	Duration time.Duration
}

// RunRobustctl runs binDir/robustctl --placement <placement> args... until
// it exits or ctx ends (then its process group is killed). It never calls
// t.Fatal, so it may run on any goroutine.
func RunRobustctl(ctx context.Context, binDir string, placement []string, args ...string) RobustctlResult {
	path := filepath.Join(binDir, RobustctlBinary)
	full := append([]string{"--placement", strings.Join(placement, ",")}, args...)
	res := RobustctlResult{Command: RobustctlBinary + " " + strings.Join(full, " ")}
	cmd := exec.CommandContext(ctx, path, full...)
	cmd.Env = childEnv(nil, []string{robustctlEnvPrefix})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Own group (so the kill on ctx's end reaches anything it forks) and
	// killed with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = killWait
	began := time.Now()
	res.Err = cmd.Run()
	res.Duration = time.Since(began)
	if res.Err != nil && ctx.Err() != nil {
		res.Err = fmt.Errorf("%w (%w)", res.Err, ctx.Err())
	}
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	return res
}

// BackgroundRobustctl is a robustctl run on its own goroutine (a load
// that runs while a test kills processes).
type BackgroundRobustctl struct {
	cancel context.CancelFunc
	done   chan struct{}
	res    RobustctlResult
}

// StartRobustctl starts robustctl in the background, bounded by timeout;
// it is killed when the test ends, should it still run.
func StartRobustctl(t testing.TB, placement []string, timeout time.Duration, args ...string) *BackgroundRobustctl {
	t.Helper()
	binDir := BinDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	b := &BackgroundRobustctl{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.res = RunRobustctl(ctx, binDir, placement, args...)
	}()
	t.Cleanup(func() {
		b.cancel()
		<-b.done
	})
	return b
}

// Done is closed when the run ended.
func (b *BackgroundRobustctl) Done() <-chan struct{} { return b.done }

// Wait waits for the run to end and returns its result.
func (b *BackgroundRobustctl) Wait() RobustctlResult {
	<-b.done
	return b.res
}

// ProduceResult is the summary line of `robustctl bench produce`.
type ProduceResult struct {
	Acked         int64   `json:"acked"`
	Failed        int64   `json:"failed"`
	RecordsPerSec float64 `json:"records_per_sec"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
}

// ConsumeResult is the summary line of `robustctl bench consume`.
type ConsumeResult struct {
	Read          int64   `json:"read"`
	Missing       int64   `json:"missing"`
	Duplicates    int64   `json:"duplicates"`
	RecordsPerSec float64 `json:"records_per_sec"`
}

// LastJSONLine decodes the last non-blank line of out that is a JSON
// object into v, rejecting fields v does not know (a renamed field must
// not read as zero).
func LastJSONLine(out string, v any) error {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "{") {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("last JSON line %q: %w", line, err)
		}
		return nil
	}
	return errors.New("no JSON line in the output")
}

// ParseProduce reads the summary of a bench produce run.
func ParseProduce(out string) (ProduceResult, error) {
	var r ProduceResult
	return r, LastJSONLine(out, &r)
}

// ParseConsume reads the summary of a bench consume run.
func ParseConsume(out string) (ConsumeResult, error) {
	var r ConsumeResult
	return r, LastJSONLine(out, &r)
}

// HasBinary reports whether the named binary is built in BinDir.
func HasBinary(t testing.TB, name string) bool {
	t.Helper()
	st, err := os.Stat(filepath.Join(BinDir(t), name))
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// HasRobustctlCommand reports whether bin/robustctl knows the command
// path (e.g. "bench", "produce"): `robustctl <path> --help` succeeds.
func HasRobustctlCommand(t testing.TB, path ...string) bool {
	t.Helper()
	if !HasBinary(t, RobustctlBinary) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(BinDir(t), RobustctlBinary), append(slices.Clone(path), "--help")...)
	out, err := cmd.CombinedOutput()
	// cobra prints the parent's help for an unknown subcommand of a group
	// without failing, so also look for the command's own usage line.
	return err == nil && bytes.Contains(out, []byte(RobustctlBinary+" "+strings.Join(path, " ")+" "))
}
