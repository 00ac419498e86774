package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// PlacementMember is one placement-center process.
type PlacementMember struct {
	ID      uint64
	Addr    string
	DataDir string
	*Process
	conn *grpc.ClientConn
}

// API is a direct (not leader-following) client of this member.
func (m *PlacementMember) API() placementpb.PlacementServiceClient {
	return placementpb.NewPlacementServiceClient(m.conn)
}

// Cluster is a direct ClusterService client of this member.
func (m *PlacementMember) Cluster() placementpb.ClusterServiceClient {
	return placementpb.NewClusterServiceClient(m.conn)
}

// Status asks this member for its status with a short deadline.
func (m *PlacementMember) Status() (*placementpb.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return m.Cluster().Status(ctx, &placementpb.StatusRequest{})
}

// PlacementCluster is a set of placement-center processes.
type PlacementCluster struct {
	t       testing.TB
	bin     string
	Members []*PlacementMember
	extra   []string
}

// PlacementOptions tunes a cluster.
type PlacementOptions struct {
	// Extra flags for every member, e.g. "--snapshot-entries", "100".
	Extra []string
}

// StartPlacement starts n members with matching --peers and waits until
// they agree on a leader.
func StartPlacement(t testing.TB, n int, opts PlacementOptions) *PlacementCluster {
	t.Helper()
	c := &PlacementCluster{t: t, bin: filepath.Join(BinDir(t), "placement-center"), extra: opts.Extra}
	var peers []string
	for i := 1; i <= n; i++ {
		m := &PlacementMember{ID: uint64(i), Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), DataDir: filepath.Join(t.TempDir(), fmt.Sprintf("pc-%d", i))}
		peers = append(peers, fmt.Sprintf("%d=%s", i, m.Addr))
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		args := append([]string{"--node-id", fmt.Sprint(m.ID), "--grpc-addr", m.Addr, "--http-addr", fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
			"--data-dir", m.DataDir, "--peers", strings.Join(peers, ","), "--log-format", "json"}, opts.Extra...)
		m.Process = Start(t, fmt.Sprintf("placement-%d", m.ID), c.bin, args...)
		m.conn = dial(t, m.Addr)
	}
	c.WaitLeader(20 * time.Second)
	return c
}

// AddProcess starts a member process that joins with the given id.
func (c *PlacementCluster) AddProcess(id uint64, addr string) *PlacementMember {
	c.t.Helper()
	m := &PlacementMember{ID: id, Addr: addr, DataDir: filepath.Join(c.t.TempDir(), fmt.Sprintf("pc-%d", id))}
	args := append([]string{"--node-id", fmt.Sprint(id), "--grpc-addr", addr, "--http-addr", fmt.Sprintf("127.0.0.1:%d", FreePort(c.t)),
		"--data-dir", m.DataDir, "--join", "--peers", "", "--log-format", "json"}, c.extra...)
	m.Process = Start(c.t, fmt.Sprintf("placement-%d", id), c.bin, args...)
	m.conn = dial(c.t, addr)
	c.Members = append(c.Members, m)
	return m
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Addrs lists every member's address.
func (c *PlacementCluster) Addrs() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.Addr)
	}
	return out
}

// Client returns a leader-following client over every member.
func (c *PlacementCluster) Client() *leaderclient.Client {
	c.t.Helper()
	cl, err := leaderclient.Dial(c.Addrs(), leaderclient.Options{CallTimeout: 10 * time.Second, MaxBackoff: 250 * time.Millisecond})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Leader returns the member every running member agrees leads, or nil.
func (c *PlacementCluster) Leader() *PlacementMember {
	var lead uint64
	for _, m := range c.Members {
		if !m.Running() {
			continue
		}
		st, err := m.Status()
		if err != nil || st.GetLeaderId() == 0 {
			return nil
		}
		if lead != 0 && st.GetLeaderId() != lead {
			return nil
		}
		lead = st.GetLeaderId()
	}
	for _, m := range c.Members {
		if m.ID == lead && m.Running() {
			return m
		}
	}
	return nil
}

// WaitLeader waits until the running members agree on a running leader.
func (c *PlacementCluster) WaitLeader(d time.Duration) *PlacementMember {
	c.t.Helper()
	var l *PlacementMember
	Eventually(c.t, d, "an agreed placement leader", func() bool { l = c.Leader(); return l != nil })
	return l
}

// Member returns the member with the given id.
func (c *PlacementCluster) Member(id uint64) *PlacementMember {
	for _, m := range c.Members {
		if m.ID == id {
			return m
		}
	}
	return nil
}
