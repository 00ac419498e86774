package broker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/cluster"
	"github.com/robustmq/robustmq-go/tests/bench/internal/journal"
	"github.com/robustmq/robustmq-go/tests/bench/internal/mqttwire"
	"github.com/robustmq/robustmq-go/tests/bench/internal/procs"
)

// Options locate the binaries and configs and size the cluster.
type Options struct {
	PlacementBin       string
	PlacementConfigDir string
	JournalBin         string
	JournalConfigDir   string
	BrokerBin          string
	WorkDir            string
	// Nodes is the number of placement members and of journal nodes (1 or 3).
	Nodes        int
	ReadyTimeout time.Duration
}

// Cluster is a running placement center, journal and broker.
type Cluster struct {
	Addr      string // the broker's MQTT over TCP
	Placement []string
	Journal   []string
	HTTPAddr  string // the broker's /metrics
	journal   *journal.Cluster
}

// Start starts the placement center, the journal nodes and the broker, and
// returns once the broker accepts an MQTT connection.
func Start(ctx context.Context, g *procs.Group, o Options) (*Cluster, error) {
	if o.Nodes != 1 && o.Nodes != 3 {
		return nil, fmt.Errorf("broker: %d nodes; want 1 or 3", o.Nodes)
	}
	pc, err := cluster.StartPlacement(ctx, g, cluster.PlacementOptions{
		Binary: o.PlacementBin, ConfigDir: o.PlacementConfigDir, WorkDir: o.WorkDir, ReadyTimeout: o.ReadyTimeout, Members: o.Nodes,
	})
	if err != nil {
		return nil, err
	}
	jc, err := journal.Start(ctx, g, journal.Options{
		Binary: o.JournalBin, ConfigDir: o.JournalConfigDir, WorkDir: o.WorkDir, Placement: pc.Addrs, ReadyTimeout: o.ReadyTimeout, Nodes: o.Nodes,
	})
	if err != nil {
		return nil, err
	}
	ports, err := cluster.FreePorts(4)
	if err != nil {
		_ = jc.Close()
		return nil, err
	}
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	c := &Cluster{Addr: addr(0), HTTPAddr: addr(3), Placement: pc.Addrs, Journal: jc.Addrs, journal: jc}
	p, err := g.Start(procs.Spec{
		Name: "broker-server",
		Path: o.BrokerBin,
		Args: []string{
			"--mqtt-addr", c.Addr,
			"--ws-addr", addr(1),
			"--grpc-addr", addr(2),
			"--http-addr", c.HTTPAddr,
			"--placement", strings.Join(pc.Addrs, ","),
			"--log-level", "warn",
			"--log-format", "json",
		},
		ScrubEnvPrefixes: []string{"ROBUSTMQ_BROKER_"},
	})
	if err != nil {
		_ = jc.Close()
		return nil, err
	}
	if err := mqttwire.WaitReady(ctx, c.Addr, o.ReadyTimeout, p.Exited()); err != nil {
		_ = jc.Close()
		return nil, fmt.Errorf("broker: %w\nlogs:\n%s", err, g.LogTails(15))
	}
	return c, nil
}

// Close releases the journal client used while starting.
func (c *Cluster) Close() error { return c.journal.Close() }
