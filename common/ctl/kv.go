package ctl

import (
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func kvRow(kv *placementpb.KeyValue) []string {
	return []string{kv.GetKey(), cell(kv.GetValue()), u64(kv.GetVersion())}
}

func kvHeader() []string { return []string{"KEY", "VALUE", "VERSION"} }

func kvCmd(e *env) *cobra.Command {
	c := group("kv", "The operator key-value store (compare-and-set on versions)", "  robustctl kv put feature/x on\n  robustctl kv get feature/x")
	var expect uint64
	put := &cobra.Command{
		Use:     "put KEY VALUE",
		Short:   "Write a key (--expect-version for compare-and-set; 0 = must not exist)",
		Example: "  robustctl kv put greeting hello\n  robustctl kv put greeting hi --expect-version 7",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			req := &placementpb.PutKVRequest{Key: args[0], Value: []byte(args[1])}
			// Version 0 is meaningful (the key must not exist), so "not
			// given" is told apart by the flag, not by a sentinel value.
			if cmd.Flags().Changed("expect-version") {
				req.ExpectedVersion = proto.Uint64(expect)
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.PutKV(ctx, req)
			if err != nil {
				return err
			}
			return show(e, []*placementpb.KeyValue{resp.GetKv()}, true, kvHeader(), kvRow)
		},
	}
	put.Flags().Uint64Var(&expect, "expect-version", 0, "only write if the key's version equals this (0: key must not exist)")
	var serializable bool
	get := &cobra.Command{
		Use:     "get KEY",
		Short:   "Read a key (linearizable unless --serializable)",
		Example: "  robustctl kv get greeting -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			req := &placementpb.GetKVRequest{Key: args[0]}
			if serializable {
				req.Consistency = placementpb.ReadConsistency_READ_CONSISTENCY_SERIALIZABLE
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.GetKV(ctx, req)
			if err != nil {
				return err
			}
			return show(e, []*placementpb.KeyValue{resp.GetKv()}, true, kvHeader(), kvRow)
		},
	}
	get.Flags().BoolVar(&serializable, "serializable", false, "read the reached member's state without a ReadIndex round")
	var delExpect uint64
	del := &cobra.Command{
		Use:     "delete KEY",
		Short:   "Delete a key",
		Example: "  robustctl kv delete greeting",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			req := &placementpb.DeleteKVRequest{Key: args[0]}
			if cmd.Flags().Changed("expect-version") {
				req.ExpectedVersion = proto.Uint64(delExpect)
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			if _, err := api.DeleteKV(ctx, req); err != nil {
				return err
			}
			return done(e, "deleted "+args[0])
		},
	}
	del.Flags().Uint64Var(&delExpect, "expect-version", 0, "only delete if the key's version equals this")
	var limit uint32
	list := &cobra.Command{
		Use:     "list [PREFIX]",
		Short:   "List keys under a prefix",
		Example: "  robustctl kv list feature/ --limit 10",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			req := &placementpb.ListKVRequest{Limit: limit}
			if len(args) == 1 {
				req.Prefix = args[0]
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.ListKV(ctx, req)
			if err != nil {
				return err
			}
			return show(e, resp.GetKvs(), false, kvHeader(), kvRow)
		},
	}
	list.Flags().Uint32Var(&limit, "limit", 0, "at most this many keys (0: all)")
	c.AddCommand(put, get, del, list)
	return c
}
