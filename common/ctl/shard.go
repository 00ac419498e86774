package ctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

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
	return []string{fmt.Sprint(s.GetSeq()), strings.ToLower(strings.TrimPrefix(s.GetStatus().String(), "SEGMENT_STATUS_")),
		replicas(s.GetReplicas()), u64(s.GetLeader()), u64(s.GetEpoch()), fmt.Sprint(s.GetAckQuorum()), u64(s.GetStartOffset()), end}
}

var segHeader = []string{"SEQ", "STATUS", "REPLICAS", "LEADER", "EPOCH", "ACK-QUORUM", "START", "END"}

func shardCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "shard", Short: "Shards (stream partitions) and their segments",
		Example: "  robustctl shard create orders/0 --replicas 3\n  robustctl shard describe orders/0"}
	var tenant, prefix string
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
			resp, err := api.CreateShard(ctx, &placementpb.CreateShardRequest{Tenant: tenant, Name: args[0], ReplicaCount: nReplicas, AckQuorum: quorum})
			if err != nil {
				return err
			}
			for _, w := range resp.GetWarnings() {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			return show(e, []*placementpb.CreateShardResponse{resp}, true, segHeader, func(r *placementpb.CreateShardResponse) []string {
				return segRow(r.GetSegment())
			})
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
			resp, err := api.GetShard(ctx, &placementpb.GetShardRequest{Tenant: tenant, Name: args[0]})
			if err != nil {
				return err
			}
			if e.output == "json" {
				b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(resp)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.out, string(b))
				return nil
			}
			sh := resp.GetShard()
			fmt.Fprintf(e.out, "shard %s/%s  replicas %d  ack-quorum %d  status %s  active segment %d\n\n", sh.GetTenant(), sh.GetName(),
				sh.GetReplicaCount(), sh.GetAckQuorum(), strings.ToLower(strings.TrimPrefix(sh.GetStatus().String(), "SHARD_STATUS_")), sh.GetActiveSegment())
			rows := make([][]string, 0, len(resp.GetSegments()))
			for _, s := range resp.GetSegments() {
				rows = append(rows, segRow(s))
			}
			return table(e.out, segHeader, rows)
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
			resp, err := api.ListShards(ctx, &placementpb.ListShardsRequest{Tenant: tenant, Prefix: prefix})
			if err != nil {
				return err
			}
			return show(e, resp.GetShards(), false, []string{"TENANT", "NAME", "REPLICAS", "ACK-QUORUM", "ACTIVE-SEGMENT"}, func(s *placementpb.Shard) []string {
				return []string{s.GetTenant(), s.GetName(), fmt.Sprint(s.GetReplicaCount()), fmt.Sprint(s.GetAckQuorum()), fmt.Sprint(s.GetActiveSegment())}
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
			if _, err := api.DeleteShard(ctx, &placementpb.DeleteShardRequest{Tenant: tenant, Name: args[0]}); err != nil {
				return err
			}
			return done(e, "deleted shard "+args[0])
		},
	}
	create.Flags().StringVar(&tenant, "tenant", "default", "tenant")
	describe.Flags().StringVar(&tenant, "tenant", "default", "tenant")
	del.Flags().StringVar(&tenant, "tenant", "default", "tenant")
	list.Flags().StringVar(&tenant, "tenant", "", "tenant (empty: every tenant)")
	c.AddCommand(create, describe, list, del)
	return c
}
