package ctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// env is what every command shares: global flags and the lazily dialed
// client.
type env struct {
	placement string
	output    string
	timeout   time.Duration
	out       io.Writer
	client    *leaderclient.Client
}

func (e *env) addrs() []string {
	var out []string
	for _, a := range strings.Split(e.placement, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (e *env) dial() (*leaderclient.Client, error) {
	if e.client != nil {
		return e.client, nil
	}
	c, err := leaderclient.Dial(e.addrs(), leaderclient.Options{CallTimeout: e.timeout})
	if err != nil {
		return nil, err
	}
	e.client = c
	return c, nil
}

func (e *env) api() (placementpb.PlacementServiceClient, error) {
	c, err := e.dial()
	if err != nil {
		return nil, err
	}
	return placementpb.NewPlacementServiceClient(c), nil
}

func (e *env) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), e.timeout)
}

// NewRoot builds the robustctl command tree writing to out.
func NewRoot(out io.Writer) *cobra.Command {
	e := &env{out: out}
	def := os.Getenv("ROBUSTMQ_PLACEMENT")
	if def == "" {
		def = "127.0.0.1:1228"
	}
	root := &cobra.Command{
		Use:   "robustctl",
		Short: "Operate a RobustMQ-Go cluster through its gRPC admin API",
		Example: `  robustctl cluster status
  robustctl --placement 127.0.0.1:1228,127.0.0.1:2228,127.0.0.1:3228 kv put greeting hello
  robustctl shard describe orders/0 -o json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if e.output != "table" && e.output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", e.output)
			}
			if len(e.addrs()) == 0 {
				return fmt.Errorf("--placement needs at least one host:port")
			}
			return nil
		},
	}
	root.SetOut(out)
	pf := root.PersistentFlags()
	pf.StringVar(&e.placement, "placement", def, "placement center members host:port[,host:port...] (env ROBUSTMQ_PLACEMENT)")
	pf.StringVarP(&e.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&e.timeout, "timeout", 10*time.Second, "deadline of each command")
	root.AddCommand(clusterCmd(e), nodeCmd(e), kvCmd(e), tenantCmd(e), userCmd(e), aclCmd(e), shardCmd(e))
	return root
}

// Execute runs robustctl with args and returns the process exit code.
func Execute(ctx context.Context, args []string, out, errOut io.Writer) int {
	root := NewRoot(out)
	root.SetErr(errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(errOut, "error:", describe(err))
		return 1
	}
	return 0
}

// describe renders an error with its typed detail, so an operator sees the
// leader address or the current version without parsing text.
func describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		var gs interface{ GRPCStatus() *status.Status }
		if !asGRPC(err, &gs) {
			return err.Error()
		}
		st = gs.GRPCStatus()
	}
	msg := fmt.Sprintf("%s (%s)", st.Message(), st.Code())
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *commonpb.NotLeader:
			msg += fmt.Sprintf("; leader: %d at %q", d.GetLeaderId(), d.GetLeaderAddr())
		case *commonpb.VersionMismatch:
			msg += fmt.Sprintf("; current version: %d", d.GetCurrentVersion())
		case *commonpb.ResourceExhausted:
			msg += fmt.Sprintf("; limit %s: %d", d.GetLimit(), d.GetMax())
		case *commonpb.InvalidArgument:
			msg += fmt.Sprintf("; field %s: %s", d.GetField(), d.GetReason())
		}
	}
	return msg
}
