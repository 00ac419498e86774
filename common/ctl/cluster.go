package ctl

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// maxDiscovered bounds how many members not named by --placement, but
// listed by the members that answered, cluster status also asks.
const maxDiscovered = 16

func clusterCmd(e *env) *cobra.Command {
	c := group("cluster", "The placement center's Raft group", "  robustctl cluster status")
	c.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Ask every member for its view: Raft state, leader, term, commit and applied index",
		Long: `Ask every member named by --placement, and every other member they list, for its
own view of the Raft group. Each member answers for itself (this is not a
leader call), so diverging terms or lagging applied indexes show up here.
Members that do not answer are shown as unreachable (reasons on stderr); the
command fails only if none answers.`,
		Example: `  robustctl cluster status
  robustctl --placement 127.0.0.1:1228,127.0.0.1:2228,127.0.0.1:3228 cluster status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			return clusterStatus(ctx, e)
		},
	})
	c.AddCommand(&cobra.Command{
		Use:     "add-member ADDR",
		Short:   "Add a voter at ADDR; prints the id to start it with (--join --node-id ID)",
		Example: "  robustctl cluster add-member 127.0.0.1:4228",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			api, err := e.clusterAPI()
			if err != nil {
				return err
			}
			resp, err := api.AddMember(ctx, &placementpb.AddMemberRequest{Addr: args[0]})
			if err != nil {
				return err
			}
			if e.output == outputJSON {
				return printJSON(e.out, []*placementpb.AddMemberResponse{resp}, true)
			}
			m := resp.GetMember()
			fmt.Fprintf(e.out, "added member %d at %s; start it with: placement-center --join --node-id %d --peers ''\n\n",
				m.GetId(), m.GetAddr(), m.GetId())
			return table(e.out, memberHeader(), memberRows(resp.GetMembers()))
		},
	})
	c.AddCommand(&cobra.Command{
		Use:     "remove-member ID",
		Short:   "Remove the voter with id ID",
		Example: "  robustctl cluster remove-member 3",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("member id %q: %w", args[0], err)
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			api, err := e.clusterAPI()
			if err != nil {
				return err
			}
			resp, err := api.RemoveMember(ctx, &placementpb.RemoveMemberRequest{Id: id})
			if err != nil {
				return err
			}
			if e.output == outputJSON {
				return printJSON(e.out, []*placementpb.RemoveMemberResponse{resp}, true)
			}
			fmt.Fprintf(e.out, "removed member %d\n\n", id)
			return table(e.out, memberHeader(), memberRows(resp.GetMembers()))
		},
	})
	return c
}

func memberHeader() []string { return []string{"MEMBER", "ADDR"} }

func memberRows(ms []*placementpb.Member) [][]string {
	rows := make([][]string, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, []string{u64(m.GetId()), m.GetAddr()})
	}
	return rows
}

// memberView is one address's answer to Status, or why there was none.
type memberView struct {
	addr   string
	status *placementpb.StatusResponse
	err    error
}

// clusterStatus asks the configured members, then the members they list
// that were not reached yet, and prints one row per member.
func clusterStatus(ctx context.Context, e *env) error {
	configured := slices.Compact(slices.Sorted(slices.Values(e.addrs())))
	views := askMembers(ctx, configured)

	// id -> addr as the reached members know it, to name unreachable
	// members and to find the ones --placement did not list.
	known := map[uint64]string{}
	reached := map[uint64]bool{}
	for _, v := range views {
		if v.status == nil {
			continue
		}
		reached[v.status.GetMemberId()] = true
		for _, m := range v.status.GetMembers() {
			known[m.GetId()] = m.GetAddr()
		}
	}
	var more []string
	for id, addr := range known {
		if !reached[id] && !slices.Contains(configured, addr) && len(more) < maxDiscovered {
			more = append(more, addr)
		}
	}
	slices.Sort(more)
	views = append(views, askMembers(ctx, more)...)

	idOf := map[string]uint64{}
	for id, addr := range known {
		idOf[addr] = id
	}
	var answered []*placementpb.StatusResponse
	var unreachable []memberView
	seen := map[uint64]bool{}
	for _, v := range views {
		switch {
		case v.status == nil:
			unreachable = append(unreachable, v)
		case !seen[v.status.GetMemberId()]:
			// Two addresses may reach one member; show it once.
			seen[v.status.GetMemberId()] = true
			answered = append(answered, v.status)
		}
	}
	slices.SortFunc(answered, func(a, b *placementpb.StatusResponse) int { return cmp.Compare(a.GetMemberId(), b.GetMemberId()) })
	for _, v := range unreachable {
		fmt.Fprintf(e.errOut, "warning: member at %s unreachable: %s\n", v.addr, describe(v.err))
	}
	if len(answered) == 0 {
		return fmt.Errorf("no placement center member answered (tried %s)", strings.Join(configured, ", "))
	}
	if e.output == outputJSON {
		return printJSON(e.out, answered, false)
	}
	rows := make([][]string, 0, len(views))
	for _, s := range answered {
		addr := known[s.GetMemberId()]
		for _, v := range views {
			if addr == "" && v.status == s {
				addr = v.addr
			}
		}
		rows = append(rows, []string{u64(s.GetMemberId()), addr, s.GetRaftState(), u64(s.GetLeaderId()), u64(s.GetTerm()),
			u64(s.GetCommitIndex()), u64(s.GetAppliedIndex()), u64(s.GetSnapshotIndex())})
	}
	for _, v := range unreachable {
		id := "?"
		if n, ok := idOf[v.addr]; ok {
			id = u64(n)
		}
		rows = append(rows, []string{id, v.addr, "unreachable", "-", "-", "-", "-", "-"})
	}
	return table(e.out, []string{"MEMBER", "ADDR", "STATE", "LEADER", "TERM", "COMMIT", "APPLIED", "SNAPSHOT"}, rows)
}

// askMembers asks every addr for Status at once, so one member that hangs
// costs the command one timeout, not one per member. It returns when every
// question is answered or ctx ends.
func askMembers(ctx context.Context, addrs []string) []memberView {
	views := make([]memberView, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() {
			st, err := memberStatus(ctx, addr)
			views[i] = memberView{addr: addr, status: st, err: err}
		})
	}
	wg.Wait()
	return views
}

// memberStatus asks the member at addr directly: Status describes the
// member that answers, so it must not be sent to the leader instead.
func memberStatus(ctx context.Context, addr string) (*placementpb.StatusResponse, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	return placementpb.NewClusterServiceClient(conn).Status(ctx, &placementpb.StatusRequest{})
}

func nodeCmd(e *env) *cobra.Command {
	c := group("node", "Registered broker and journal nodes", "  robustctl node list --kind journal")
	var kind string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List registered nodes",
		Example: "  robustctl node list\n  robustctl node list --kind broker -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k := placementpb.NodeKind_NODE_KIND_UNSPECIFIED
			switch kind {
			case "":
			case "broker":
				k = placementpb.NodeKind_NODE_KIND_BROKER
			case "journal":
				k = placementpb.NodeKind_NODE_KIND_JOURNAL
			default:
				return fmt.Errorf("--kind must be broker or journal, not %q", kind)
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.ListNodes(ctx, &placementpb.ListNodesRequest{Kind: k})
			if err != nil {
				return err
			}
			return show(e, resp.GetNodes(), false, []string{"ID", "KIND", "GRPC", "STATUS", "INCARNATION"}, func(n *placementpb.ClusterNode) []string {
				return []string{u64(n.GetNodeId()), enumName(n.GetKind().String(), "NODE_KIND_"), n.GetGrpcAddr(),
					enumName(n.GetStatus().String(), "NODE_STATUS_"), u64(n.GetIncarnation())}
			})
		},
	}
	list.Flags().StringVar(&kind, "kind", "", "broker or journal")
	c.AddCommand(list)
	c.AddCommand(drainCmds(e, "node", placementpb.NodeKind_NODE_KIND_UNSPECIFIED,
		`Set node ID (a broker or a journal node) DRAINING through the placement
center (Raft). It keeps running and heartbeating and stays DRAINING until
undrained, a restart included. A draining journal node gets no new segment
replicas (segments roll onto the other nodes as they seal); a draining
broker hands its clients to the other brokers. A draining node that dies is
declared dead like any other. Refused for a dead node.`,
		`Set a DRAINING node ALIVE again: it takes new segments or clients again.
Refused for a dead node.`)...)
	return c
}
