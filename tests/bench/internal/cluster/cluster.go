package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/bench/internal/clients"
	"github.com/robustmq/robustmq-go/tests/bench/internal/procs"
)

// Members is the size of both clusters.
const Members = 3

// pollInterval paces readiness probes.
const pollInterval = 100 * time.Millisecond

// FreePorts returns n distinct free loopback ports. All n listeners are
// held open together so the kernel cannot hand out one port twice.
func FreePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// PlacementOptions locate the placement-center binary and its configs.
type PlacementOptions struct {
	Binary string
	// ConfigDir holds node-1.toml .. node-3.toml; every setting the
	// benchmark must control (ids, addresses, peers, data dir) is
	// overridden by flags, the rest (Raft timing, snapshots) is as shipped.
	ConfigDir    string
	WorkDir      string
	ReadyTimeout time.Duration
	// Members is the cluster size (Members, 3, when zero).
	Members int
}

// Placement is a running placement-center cluster.
type Placement struct {
	Addrs      []string
	LeaderAddr string
}

// StartPlacement starts three placement-center members (o.Members when
// set) and waits until they agree on a leader and a write through
// leaderclient succeeds.
func StartPlacement(ctx context.Context, g *procs.Group, o PlacementOptions) (*Placement, error) {
	n := o.Members
	if n <= 0 {
		n = Members
	}
	ports, err := FreePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var addrs, peers []string
	for i := range n {
		addrs = append(addrs, loopback(ports[2*i]))
		peers = append(peers, fmt.Sprintf("%d=%s", i+1, addrs[i]))
	}
	var members []*procs.Proc
	for i := range n {
		id := i + 1
		p, err := g.Start(procs.Spec{
			Name: fmt.Sprintf("placement-%d", id),
			Path: o.Binary,
			Args: []string{
				"--config", filepath.Join(o.ConfigDir, fmt.Sprintf("node-%d.toml", id)),
				"--node-id", fmt.Sprint(id),
				"--grpc-addr", addrs[i],
				"--http-addr", loopback(ports[2*i+1]),
				"--data-dir", filepath.Join(o.WorkDir, fmt.Sprintf("placement-%d", id)),
				"--peers", strings.Join(peers, ","),
				"--log-level", "warn",
				"--log-format", "json",
			},
			ScrubEnvPrefixes: []string{"ROBUSTMQ_PLACEMENT_"},
		})
		if err != nil {
			return nil, err
		}
		members = append(members, p)
	}

	ctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	conns := make([]*grpc.ClientConn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, a := range addrs {
		c, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("cluster: placement dial %s: %w", a, err)
		}
		conns = append(conns, c)
	}
	leader, err := poll(ctx, members, func(ctx context.Context) (string, error) {
		return placementLeader(ctx, conns)
	})
	if err != nil {
		return nil, notReady(ctx, "placement center", o.ReadyTimeout, err, g)
	}
	pool, err := clients.NewPlacementPool(addrs, 1, time.Second)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if _, err := poll(ctx, members, func(ctx context.Context) (string, error) {
		return "", pool.Putters[0].Put(ctx, "bench/ready", []byte("1"))
	}); err != nil {
		return nil, notReady(ctx, "placement center (first write)", o.ReadyTimeout, err, g)
	}
	return &Placement{Addrs: addrs, LeaderAddr: leader}, nil
}

// placementLeader asks every member for its status and returns the
// leader's address once all of them name the same leader.
func placementLeader(ctx context.Context, conns []*grpc.ClientConn) (string, error) {
	var leaderID uint64
	var leaderAddr string
	for _, c := range conns {
		st, err := placementpb.NewClusterServiceClient(c).Status(ctx, &placementpb.StatusRequest{})
		if err != nil {
			return "", fmt.Errorf("status %s: %w", c.Target(), err)
		}
		if st.GetLeaderId() == 0 {
			return "", fmt.Errorf("%s: no leader yet", c.Target())
		}
		if leaderID != 0 && st.GetLeaderId() != leaderID {
			return "", fmt.Errorf("members disagree on the leader (%d, %d)", leaderID, st.GetLeaderId())
		}
		leaderID = st.GetLeaderId()
		if st.GetLeaderAddr() != "" {
			leaderAddr = st.GetLeaderAddr()
		}
	}
	return leaderAddr, nil
}

// EtcdOptions locate this binary (for the etcd-member subcommand).
type EtcdOptions struct {
	SelfBinary   string
	WorkDir      string
	ReadyTimeout time.Duration
}

// Etcd is a running etcd cluster.
type Etcd struct {
	Endpoints      []string // http://127.0.0.1:PORT, all members
	LeaderEndpoint string
}

// StartEtcd starts three etcd-member processes and waits until they agree
// on a leader and a Put succeeds.
func StartEtcd(ctx context.Context, g *procs.Group, o EtcdOptions) (*Etcd, error) {
	ports, err := FreePorts(2 * Members)
	if err != nil {
		return nil, err
	}
	var endpoints, initial []string
	for i := range Members {
		endpoints = append(endpoints, "http://"+loopback(ports[2*i]))
		initial = append(initial, fmt.Sprintf("m%d=http://%s", i+1, loopback(ports[2*i+1])))
	}
	var members []*procs.Proc
	for i := range Members {
		name := fmt.Sprintf("m%d", i+1)
		p, err := g.Start(procs.Spec{
			Name: "etcd-" + name,
			Path: o.SelfBinary,
			Args: []string{
				"etcd-member",
				"--name", name,
				"--data-dir", filepath.Join(o.WorkDir, "etcd-"+name),
				"--client-url", endpoints[i],
				"--peer-url", "http://" + loopback(ports[2*i+1]),
				"--initial-cluster", strings.Join(initial, ","),
				"--ready-timeout", o.ReadyTimeout.String(),
			},
			ScrubEnvPrefixes: []string{"ETCD_"},
		})
		if err != nil {
			return nil, err
		}
		members = append(members, p)
	}

	ctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	cli, err := clients.NewEtcdClient(endpoints)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	leader, err := poll(ctx, members, func(ctx context.Context) (string, error) {
		return etcdLeader(ctx, cli, endpoints)
	})
	if err != nil {
		return nil, notReady(ctx, "etcd", o.ReadyTimeout, err, g)
	}
	if _, err := poll(ctx, members, func(ctx context.Context) (string, error) {
		_, err := cli.Put(ctx, "bench/ready", "1")
		return "", err
	}); err != nil {
		return nil, notReady(ctx, "etcd (first write)", o.ReadyTimeout, err, g)
	}
	return &Etcd{Endpoints: endpoints, LeaderEndpoint: leader}, nil
}

// etcdLeader returns the leader's client endpoint once every member names
// the same leader.
func etcdLeader(ctx context.Context, cli *clientv3.Client, endpoints []string) (string, error) {
	var leaderID uint64
	leaderEndpoint := ""
	for _, ep := range endpoints {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			return "", fmt.Errorf("status %s: %w", ep, err)
		}
		if st.Leader == 0 {
			return "", fmt.Errorf("%s: no leader yet", ep)
		}
		if leaderID != 0 && st.Leader != leaderID {
			return "", fmt.Errorf("members disagree on the leader (%x, %x)", leaderID, st.Leader)
		}
		leaderID = st.Leader
		if st.Header.GetMemberId() == st.Leader {
			leaderEndpoint = ep
		}
	}
	if leaderEndpoint == "" {
		return "", errors.New("no member reports itself as leader")
	}
	return leaderEndpoint, nil
}

// poll runs probe every pollInterval until it succeeds, ctx ends, or a
// member process exits (which fails at once: it will not get better).
// Each probe gets at most a second so one hung member cannot eat the
// whole deadline.
func poll(ctx context.Context, members []*procs.Proc, probe func(context.Context) (string, error)) (string, error) {
	var last error
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		for _, m := range members {
			select {
			case <-m.Exited():
				return "", fmt.Errorf("%s exited: %v", m.Name, m.ExitErr())
			default:
			}
		}
		probeCtx, cancel := context.WithTimeout(ctx, time.Second)
		v, err := probe(probeCtx)
		cancel()
		if err == nil {
			return v, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// notReady explains a readiness failure; ctx is the readiness context, so
// a deadline means the cluster was too slow and a cancel means the run was
// interrupted (no log dump then: nothing went wrong with the cluster).
func notReady(ctx context.Context, what string, timeout time.Duration, err error, g *procs.Group) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("cluster: %s: interrupted while waiting for it: %w", what, ctx.Err())
	}
	return fmt.Errorf("cluster: %s not ready within %v: %w\nmember logs:\n%s", what, timeout, err, g.LogTails(15))
}
