package ctl

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func clusterCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "The placement center's Raft group", Example: "  robustctl cluster status"}
	c.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show every configured member's view: state, leader, term, commit and applied index",
		Example: `  robustctl cluster status
  robustctl --placement 127.0.0.1:1228,127.0.0.1:2228,127.0.0.1:3228 cluster status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			var rows []*placementpb.StatusResponse
			var unreachable []string
			seen := map[string]bool{}
			addrs := e.addrs()
			for i := 0; i < len(addrs); i++ {
				a := addrs[i]
				if seen[a] {
					continue
				}
				seen[a] = true
				st, err := memberStatus(ctx, a)
				if err != nil {
					unreachable = append(unreachable, a)
					continue
				}
				rows = append(rows, st)
				// Members the cluster knows but the flag did not list.
				for _, m := range st.GetMembers() {
					if !seen[m.GetAddr()] && len(addrs) < 16 {
						addrs = append(addrs, m.GetAddr())
					}
				}
			}
			if len(rows) == 0 {
				return fmt.Errorf("no placement center member answered at %s", strings.Join(unreachable, ", "))
			}
			if e.output == "json" {
				if err := printJSON(e.out, rows, false); err != nil {
					return err
				}
			} else {
				var tr [][]string
				for _, s := range rows {
					addr := ""
					for _, m := range s.GetMembers() {
						if m.GetId() == s.GetMemberId() {
							addr = m.GetAddr()
						}
					}
					tr = append(tr, []string{u64(s.GetMemberId()), addr, s.GetRaftState(), u64(s.GetLeaderId()), u64(s.GetTerm()),
						u64(s.GetCommitIndex()), u64(s.GetAppliedIndex()), u64(s.GetSnapshotIndex())})
				}
				for _, a := range unreachable {
					tr = append(tr, []string{"?", a, "unreachable", "", "", "", "", ""})
				}
				if err := table(e.out, []string{"MEMBER", "ADDR", "STATE", "LEADER", "TERM", "COMMIT", "APPLIED", "SNAPSHOT"}, tr); err != nil {
					return err
				}
			}
			return nil
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
			cl, err := e.dial()
			if err != nil {
				return err
			}
			resp, err := placementpb.NewClusterServiceClient(cl).AddMember(ctx, &placementpb.AddMemberRequest{Addr: args[0]})
			if err != nil {
				return err
			}
			return show(e, resp.GetMembers(), false, []string{"MEMBER", "ADDR"}, func(m *placementpb.Member) []string {
				return []string{u64(m.GetId()), m.GetAddr()}
			})
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
			cl, err := e.dial()
			if err != nil {
				return err
			}
			resp, err := placementpb.NewClusterServiceClient(cl).RemoveMember(ctx, &placementpb.RemoveMemberRequest{Id: id})
			if err != nil {
				return err
			}
			return show(e, resp.GetMembers(), false, []string{"MEMBER", "ADDR"}, func(m *placementpb.Member) []string {
				return []string{u64(m.GetId()), m.GetAddr()}
			})
		},
	})
	return c
}

// memberStatus asks one member directly (Status is answered by any member,
// so it must not follow the leader).
func memberStatus(ctx context.Context, addr string) (*placementpb.StatusResponse, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return placementpb.NewClusterServiceClient(conn).Status(ctx, &placementpb.StatusRequest{})
}

func nodeCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "Registered broker and journal nodes", Example: "  robustctl node list --kind journal"}
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
				return []string{u64(n.GetNodeId()), strings.TrimPrefix(n.GetKind().String(), "NODE_KIND_"), n.GetGrpcAddr(),
					strings.TrimPrefix(n.GetStatus().String(), "NODE_STATUS_"), u64(n.GetIncarnation())}
			})
		},
	}
	list.Flags().StringVar(&kind, "kind", "", "broker or journal")
	c.AddCommand(list)
	return c
}
