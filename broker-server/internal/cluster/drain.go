package cluster

import (
	"context"
	"sort"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Drainer is a front end that can send its clients to another broker.
type Drainer interface {
	// Drain disconnects the clients, pointing them to reference (another
	// broker's client address, "" when there is none), and refuses new
	// ones; Undrain accepts clients again.
	Drain(reference string)
	Undrain()
}

// RunDrain follows this broker's status in the placement center until ctx
// ends: when an operator drains it (status DRAINING, `robustctl broker
// drain`), the front ends send their clients to another live broker's
// listener of the same name; when it is alive again they accept clients.
func (c *Cluster) RunDrain(ctx context.Context, listener string, fronts ...Drainer) error {
	changed, stop := c.opts.Cache.Subscribe()
	defer stop()
	draining := false
	for {
		n, ok := c.opts.Cache.Node(c.self)
		want := ok && n.GetIncarnation() == c.incarnation && n.GetStatus() == placementpb.NodeStatus_NODE_STATUS_DRAINING
		if want != draining {
			draining = want
			ref := c.otherListener(listener)
			c.log.Info().Bool("draining", draining).Str("reference", ref).Msg("drain state changed")
			for _, f := range fronts {
				if draining {
					f.Drain(ref)
				} else {
					f.Undrain()
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// otherListener is the address of a listener of another live broker that
// is not draining (the lowest node id), or "".
func (c *Cluster) otherListener(name string) string {
	nodes := c.opts.Cache.Nodes(placementpb.NodeKind_NODE_KIND_BROKER)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].GetNodeId() < nodes[j].GetNodeId() })
	for _, n := range nodes {
		if n.GetNodeId() == c.self || n.GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
			continue
		}
		if a := n.GetExtraAddrs()[name]; a != "" {
			return a
		}
	}
	return ""
}
