package ctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func replicas(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = u64(id)
	}
	return strings.Join(s, ",")
}

func segRow(s *placementpb.Segment) []string {
	end := "-"
	if s.GetStatus() == placementpb.SegmentStatus_SEGMENT_STATUS_SEALED {
		end = u64(s.GetEndOffset())
	}
	return []string{u32(s.GetSeq()), enumName(s.GetStatus().String(), "SEGMENT_STATUS_"),
		replicas(s.GetReplicas()), u64(s.GetLeader()), u64(s.GetEpoch()), u32(s.GetAckQuorum()), u64(s.GetStartOffset()), end}
}

func segHeader() []string {
	return []string{"SEQ", "STATUS", "REPLICAS", "LEADER", "EPOCH", "ACK-QUORUM", "START", "END"}
}

// shardTable prints a shard's summary line, then a row per segment.
func shardTable(e *env, sh *placementpb.Shard, segs []*placementpb.Segment) error {
	if _, err := fmt.Fprintf(e.out, "shard %s/%s  replicas %d  ack-quorum %d  status %s  active segment %d\n\n",
		sh.GetTenant(), sh.GetName(), sh.GetReplicaCount(), sh.GetAckQuorum(),
		enumName(sh.GetStatus().String(), "SHARD_STATUS_"), sh.GetActiveSegment()); err != nil {
		return err
	}
	rows := make([][]string, 0, len(segs))
	for _, s := range segs {
		rows = append(rows, segRow(s))
	}
	return table(e.out, segHeader(), rows)
}

func shardCmd(e *env) *cobra.Command {
	c := group("shard", "Shards (stream partitions) and their segments", "  robustctl shard create orders/0 --replicas 3\n  robustctl shard describe orders/0")
	var prefix string
	var nReplicas, quorum uint32
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a shard; its first segment goes to the least-loaded live journal nodes",
		Example: "  robustctl shard create orders/0 --replicas 3 --ack-quorum 2", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.CreateShard(ctx, &placementpb.CreateShardRequest{Tenant: tenantOf(cmd), Name: args[0], ReplicaCount: nReplicas, AckQuorum: quorum})
			if err != nil {
				return err
			}
			for _, w := range resp.GetWarnings() {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			if e.output == outputJSON {
				return printJSON(e.out, []*placementpb.CreateShardResponse{resp}, true)
			}
			return shardTable(e, resp.GetShard(), []*placementpb.Segment{resp.GetSegment()})
		},
	}
	create.Flags().Uint32Var(&nReplicas, "replicas", 0, "replica count (0: default 3, clamped to live journals)")
	create.Flags().Uint32Var(&quorum, "ack-quorum", 0, "ack quorum (0: default 2)")
	describe := &cobra.Command{
		Use: "describe NAME", Short: "Show a shard and a row per segment", Example: "  robustctl shard describe orders/0 -o json",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.GetShard(ctx, &placementpb.GetShardRequest{Tenant: tenantOf(cmd), Name: args[0]})
			if err != nil {
				return err
			}
			if e.output == outputJSON {
				return printJSON(e.out, []*placementpb.GetShardResponse{resp}, true)
			}
			return shardTable(e, resp.GetShard(), resp.GetSegments())
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List shards", Example: "  robustctl shard list --tenant acme --prefix orders/", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.ListShards(ctx, &placementpb.ListShardsRequest{Tenant: tenantOf(cmd), Prefix: prefix})
			if err != nil {
				return err
			}
			return show(e, resp.GetShards(), false, []string{"TENANT", "NAME", "REPLICAS", "ACK-QUORUM", "ACTIVE-SEGMENT"}, func(s *placementpb.Shard) []string {
				return []string{s.GetTenant(), s.GetName(), u32(s.GetReplicaCount()), u32(s.GetAckQuorum()), u32(s.GetActiveSegment())}
			})
		},
	}
	list.Flags().StringVar(&prefix, "prefix", "", "only shards whose name starts with this")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a shard and its segments' metadata", Example: "  robustctl shard delete orders/0", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			if _, err := api.DeleteShard(ctx, &placementpb.DeleteShardRequest{Tenant: tenantOf(cmd), Name: args[0]}); err != nil {
				return err
			}
			return done(e, "deleted shard "+args[0])
		},
	}
	for _, sub := range []*cobra.Command{create, describe, del} {
		addTenantFlag(sub, "default", "the shard's tenant")
	}
	addTenantFlag(list, "", "only this tenant's shards (empty: every tenant)")
	c.AddCommand(create, describe, list, del)
	return c
}
