package ctl

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// listeners renders a node's protocol listeners (extra_addrs) as
// name=addr pairs in name order, "-" when it has none.
func listeners(n *placementpb.ClusterNode) string {
	names := slices.Sorted(maps.Keys(n.GetExtraAddrs()))
	if len(names) == 0 {
		return "-"
	}
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + "=" + n.GetExtraAddrs()[name]
	}
	return strings.Join(parts, ",")
}

func brokerHeader() []string {
	return []string{"ID", "STATUS", "GRPC", "LISTENERS", "INCARNATION", "REGISTERED"}
}

func brokerRow(n *placementpb.ClusterNode) []string {
	return []string{u64(n.GetNodeId()), enumName(n.GetStatus().String(), "NODE_STATUS_"), n.GetGrpcAddr(), listeners(n),
		u64(n.GetIncarnation()), ms(n.GetRegisteredAtMs())}
}

// nodeID parses a node id argument.
func nodeID(arg string) (uint64, error) {
	id, err := strconv.ParseUint(arg, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("node id %q: must be a positive integer", arg)
	}
	return id, nil
}

// setDraining drains (or undrains) node id through the placement center.
// kind, when not unspecified, is checked first with a ListNodes, so
// "broker drain" never drains a journal node by a mistyped id.
func setDraining(ctx context.Context, e *env, id uint64, kind placementpb.NodeKind, drain bool) (*placementpb.ClusterNode, error) {
	api, err := e.api()
	if err != nil {
		return nil, err
	}
	if kind != placementpb.NodeKind_NODE_KIND_UNSPECIFIED {
		resp, err := api.ListNodes(ctx, &placementpb.ListNodesRequest{})
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(resp.GetNodes(), func(n *placementpb.ClusterNode) bool { return n.GetNodeId() == id })
		switch {
		case i < 0:
			return nil, fmt.Errorf("no node with id %d is registered", id)
		case resp.GetNodes()[i].GetKind() != kind:
			got := enumName(resp.GetNodes()[i].GetKind().String(), "NODE_KIND_")
			verb := "drain"
			if !drain {
				verb = "undrain"
			}
			return nil, fmt.Errorf("node %d is a %s node, not a %s: use robustctl node %s %d", id, got,
				enumName(kind.String(), "NODE_KIND_"), verb, id)
		}
	}
	if drain {
		resp, err := api.DrainNode(ctx, &placementpb.DrainNodeRequest{NodeId: id})
		return resp.GetNode(), err
	}
	resp, err := api.UndrainNode(ctx, &placementpb.UndrainNodeRequest{NodeId: id})
	return resp.GetNode(), err
}

// drainCmds returns the drain and undrain commands of a group: of brokers
// only (kind BROKER) or of any node (kind unspecified).
func drainCmds(e *env, group string, kind placementpb.NodeKind, drainLong, undrainLong string) []*cobra.Command {
	run := func(drain bool) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			id, err := nodeID(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			n, err := setDraining(ctx, e, id, kind, drain)
			if err != nil {
				return err
			}
			return show(e, []*placementpb.ClusterNode{n}, true, nodeDetailHeader(), nodeDetailRow)
		}
	}
	return []*cobra.Command{{
		Use:   "drain ID",
		Short: fmt.Sprintf("Set %s ID DRAINING: it keeps running but takes no new work", noun(kind)),
		Long:  drainLong,
		Example: fmt.Sprintf("  robustctl %s drain 3\n  robustctl %s list   # STATUS shows draining\n  robustctl %s drain 3 -o json",
			group, group, group),
		Args: cobra.ExactArgs(1),
		RunE: run(true),
	}, {
		Use:     "undrain ID",
		Short:   fmt.Sprintf("Set a DRAINING %s ALIVE again", noun(kind)),
		Long:    undrainLong,
		Example: fmt.Sprintf("  robustctl %s undrain 3", group),
		Args:    cobra.ExactArgs(1),
		RunE:    run(false),
	}}
}

// noun names what a drain command acts on.
func noun(kind placementpb.NodeKind) string {
	if kind == placementpb.NodeKind_NODE_KIND_UNSPECIFIED {
		return "node"
	}
	return enumName(kind.String(), "NODE_KIND_")
}

func nodeDetailHeader() []string {
	return []string{"ID", "KIND", "STATUS", "GRPC", "LISTENERS", "INCARNATION"}
}

func nodeDetailRow(n *placementpb.ClusterNode) []string {
	return []string{u64(n.GetNodeId()), enumName(n.GetKind().String(), "NODE_KIND_"), enumName(n.GetStatus().String(), "NODE_STATUS_"),
		n.GetGrpcAddr(), listeners(n), u64(n.GetIncarnation())}
}

func brokerCmd(e *env) *cobra.Command {
	c := group("broker", "Brokers: the stateless protocol front ends, their listeners and drains",
		"  robustctl broker list\n  robustctl broker drain 3")
	c.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List registered brokers with their listener addresses and status",
		Long: `List the registered brokers: status (alive, draining, dead), gRPC address, the
protocol listeners each advertises (mqtt, mqtt-ws, kafka, ... as host:port),
incarnation (bumped on every restart) and registration time.`,
		Example: "  robustctl broker list\n  robustctl broker list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.ListNodes(ctx, &placementpb.ListNodesRequest{Kind: placementpb.NodeKind_NODE_KIND_BROKER})
			if err != nil {
				return err
			}
			return show(e, resp.GetNodes(), false, brokerHeader(), brokerRow)
		},
	})
	c.AddCommand(drainCmds(e, "broker", placementpb.NodeKind_NODE_KIND_BROKER,
		`Set broker ID DRAINING through the placement center (Raft). The broker keeps
running and heartbeating and stays DRAINING until undrained (a restart keeps
it too); it hands its clients to the other brokers (MQTT 5 clients get a
DISCONNECT with a server reference, older ones are disconnected) and new
connections should go elsewhere. Once its clients are gone, stop the process.
A draining broker that dies is declared dead like any other. Refused for a
dead node, and for an id that is not a broker (see robustctl node drain).`,
		`Set a DRAINING broker ALIVE again: it takes clients again. Refused for a
dead node.`)...)
	return c
}
