package ctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func mappingPrefix(tenant string) string { return "mqtt/" + tenant + "/mappings/" }

// validFilter is the MQTT topic filter syntax (wildcards whole levels,
// '#' last), checked here so a typo is refused before any broker sees it.
func validFilter(f string) error {
	if f == "" {
		return rpcerr.InvalidArgument("mqtt", "the topic filter is empty")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case strings.Contains(l, "#") && (l != "#" || i != len(levels)-1):
			return rpcerr.InvalidArgument("mqtt", fmt.Sprintf("%q: '#' must be a whole last level", f))
		case strings.Contains(l, "+") && l != "+":
			return rpcerr.InvalidArgument("mqtt", fmt.Sprintf("%q: '+' must be a whole level", f))
		}
	}
	if strings.HasPrefix(f, "$share/") {
		return rpcerr.InvalidArgument("mqtt", "a mapping takes a topic filter, not a shared subscription")
	}
	return nil
}

func mappingCmd(e *env) *cobra.Command {
	c := group("mapping", "Rules that put MQTT topics into streams and stream records back into MQTT (one stream, many protocols)",
		"  robustctl mapping add sensors --mqtt 'sensors/#' --stream sensors\n  robustctl mapping list")
	var filter, stream string
	add := &cobra.Command{
		Use:   "add NAME --mqtt FILTER --stream STREAM",
		Short: "Add or replace a mapping: MQTT publishes matching FILTER land in STREAM, records produced to STREAM reach MQTT",
		Long: `Add (or replace) the tenant's mapping NAME. From then on every MQTT publish
whose topic matches FILTER is also appended to STREAM before it is
acknowledged (record key: the MQTT topic; value: the payload; headers: the
MQTT 5 properties), so Kafka consumers of STREAM read it; and records other
protocols produce to STREAM are delivered to the MQTT subscribers of the
topic in their key, when the key matches FILTER. One MQTT topic keeps its
order (it is one partition of STREAM). The stream must exist (robustctl
stream create); brokers pick the rule up within moments.`,
		Example: "  robustctl mapping add sensors --mqtt 'sensors/#' --stream sensors\n" +
			"  robustctl mapping add plant-a --mqtt 'plant/a/+/temp' --stream temperatures --tenant acme",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validFilter(filter); err != nil {
				return err
			}
			if stream == "" {
				return rpcerr.InvalidArgument("stream", "required")
			}
			if strings.ContainsAny(args[0], "/") {
				return rpcerr.InvalidArgument("name", "must not contain '/'")
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			tenant := tenantOf(cmd)
			sh, err := api.ListShards(ctx, &placementpb.ListShardsRequest{Tenant: tenant, Prefix: stream + "/"})
			if err != nil {
				return err
			}
			if len(sh.GetShards()) == 0 {
				return status.Errorf(codes.NotFound, "stream %s/%s not found: create it first (robustctl stream create %s)", tenant, stream, stream)
			}
			m := &brokerpb.StreamMapping{Name: args[0], MqttFilter: filter, Stream: stream}
			v, err := proto.Marshal(m)
			if err != nil {
				return err
			}
			if _, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: mappingPrefix(tenant) + args[0], Value: v}); err != nil {
				return err
			}
			return show(e, []*brokerpb.StreamMapping{m}, true, mappingHeader(), mappingRow)
		},
	}
	add.Flags().StringVar(&filter, "mqtt", "", "MQTT topic filter (wildcards + and #)")
	add.Flags().StringVar(&stream, "stream", "", "stream the matching messages go to")
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the tenant's mappings",
		Example: "  robustctl mapping list\n  robustctl mapping list --tenant acme -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			resp, err := api.ListKV(ctx, &placementpb.ListKVRequest{Prefix: mappingPrefix(tenantOf(cmd))})
			if err != nil {
				return err
			}
			ms := decodeRecords(resp.GetKvs(), func() *brokerpb.StreamMapping { return &brokerpb.StreamMapping{} },
				func(w string) { fmt.Fprintln(e.errOut, "warning:", w) })
			return show(e, ms, false, mappingHeader(), mappingRow)
		},
	}
	del := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a mapping (messages already in the stream stay)",
		Example: "  robustctl mapping delete sensors",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ctx, cancel := e.ctx(cmd)
			defer cancel()
			if _, err := api.DeleteKV(ctx, &placementpb.DeleteKVRequest{Key: mappingPrefix(tenantOf(cmd)) + args[0]}); err != nil {
				return err
			}
			fmt.Fprintf(e.out, "deleted mapping %s\n", args[0])
			return nil
		},
	}
	for _, sub := range []*cobra.Command{add, list, del} {
		addTenantFlag(sub, "default", "the mapping's tenant")
		c.AddCommand(sub)
	}
	return c
}

func mappingHeader() []string { return []string{"NAME", "MQTT-FILTER", "STREAM"} }

func mappingRow(m *brokerpb.StreamMapping) []string {
	return []string{cell([]byte(m.GetName())), cell([]byte(m.GetMqttFilter())), cell([]byte(m.GetStream()))}
}
