package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/commonpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// DefaultPlacement is the placement center address used when neither
// --placement nor ROBUSTMQ_PLACEMENT is given.
const DefaultPlacement = "127.0.0.1:1228"

// PlacementEnv names the environment variable that overrides
// DefaultPlacement (the --placement flag overrides both).
const PlacementEnv = "ROBUSTMQ_PLACEMENT"

// Output formats accepted by --output.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// env is what every command of one invocation shares: the global flags,
// where to write, and the client, dialed on first use and closed by
// Execute.
type env struct {
	placement string
	output    string
	timeout   time.Duration
	out       io.Writer
	errOut    io.Writer
	client    *leaderclient.Client
	sc        *streamclient.Client
}

// addrs is --placement split on commas, blanks dropped.
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
		return nil, fmt.Errorf("connect to %s: %w", e.placement, err)
	}
	e.client = c
	return c, nil
}

func (e *env) close() {
	if e.sc != nil {
		_ = e.sc.Close()
		e.sc = nil
	}
	if e.client != nil {
		// A failed close of a short-lived CLI's connections changes
		// nothing the operator can act on.
		_ = e.client.Close()
		e.client = nil
	}
}

func (e *env) api() (placementpb.PlacementServiceClient, error) {
	c, err := e.dial()
	if err != nil {
		return nil, err
	}
	return placementpb.NewPlacementServiceClient(c), nil
}

func (e *env) clusterAPI() (placementpb.ClusterServiceClient, error) {
	c, err := e.dial()
	if err != nil {
		return nil, err
	}
	return placementpb.NewClusterServiceClient(c), nil
}

// ctx bounds one command by --timeout; the leader client retries inside it.
func (e *env) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), e.timeout)
}

// newRoot builds the command tree over e. The caller owns e and must
// close it.
func newRoot(e *env, defaultPlacement string) *cobra.Command {
	root := &cobra.Command{
		Use:   "robustctl",
		Short: "Operate a RobustMQ-Go cluster through the placement center's gRPC API",
		Long: `robustctl operates a RobustMQ-Go cluster through the placement center's gRPC API.
Writes go to the Raft leader: any member may be named, NotLeader answers are followed.
Errors are printed to stderr as "error: <message>" with the typed detail, and exit 1.`,
		Example: `  robustctl cluster status
  robustctl broker list
  robustctl session list --tenant acme -o json
  robustctl --placement 127.0.0.1:1228,127.0.0.1:2228,127.0.0.1:3228 kv put greeting hello
  ROBUSTMQ_PLACEMENT=10.0.0.5:1228 robustctl shard describe orders-0 -o json`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if e.output != outputTable && e.output != outputJSON {
				return fmt.Errorf("--output must be table or json, not %q", e.output)
			}
			if len(e.addrs()) == 0 {
				return errors.New("--placement needs at least one host:port")
			}
			if e.timeout <= 0 {
				return fmt.Errorf("--timeout must be positive, not %s", e.timeout)
			}
			return nil
		},
	}
	root.SetOut(e.out)
	root.SetErr(e.errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&e.placement, "placement", defaultPlacement, "placement center members host:port[,host:port...] (env "+PlacementEnv+")")
	pf.StringVarP(&e.output, "output", "o", outputTable, "output format: table or json")
	pf.DurationVar(&e.timeout, "timeout", 10*time.Second, "deadline of the whole command, retries included")
	root.AddCommand(clusterCmd(e), nodeCmd(e), brokerCmd(e), kvCmd(e), tenantCmd(e), userCmd(e), aclCmd(e), shardCmd(e), streamCmd(e),
		sessionCmd(e), retainedCmd(e), mappingCmd(e), benchCmd(e))

	// Create cobra's built-in help and completion commands now (cobra
	// would add them lazily on Execute) so they get examples too.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = "  robustctl help kv put"
		case "completion":
			c.Example = "  source <(robustctl completion bash)"
			for _, sh := range c.Commands() {
				sh.Example = fmt.Sprintf("  robustctl completion %s > robustctl.%s", sh.Name(), sh.Name())
			}
		}
	}
	return root
}

// Execute runs robustctl with args, writing results to out and errors to
// errOut, and returns the process exit code: 0 on success, 1 on any error.
// getenv is consulted for PlacementEnv (os.Getenv in the binary).
func Execute(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) int {
	def := DefaultPlacement
	if v := getenv(PlacementEnv); v != "" {
		def = v
	}
	e := &env{out: out, errOut: errOut}
	defer e.close()
	root := newRoot(e, def)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(errOut, "error:", describe(err))
		return 1
	}
	return 0
}

// statusError is what grpc's status errors (and errors wrapping them)
// implement.
type statusError interface{ GRPCStatus() *status.Status }

// describe renders an error for the operator: the status message and code
// on the first line, then one line per typed detail, so the leader address
// or the current version can be read without parsing the message. Context
// added by wrappers (the leader client's "gave up after N attempts") is
// kept in front of the message.
func describe(err error) string {
	var se statusError
	if !errors.As(err, &se) {
		return err.Error()
	}
	st := se.GRPCStatus()
	var b strings.Builder
	if prefix, wrapped := strings.CutSuffix(err.Error(), st.Err().Error()); wrapped {
		fmt.Fprintf(&b, "%s%s (%s)", prefix, st.Message(), st.Code())
	} else {
		fmt.Fprintf(&b, "%s (%s)", err.Error(), st.Code())
	}
	for _, d := range st.Details() {
		if line := detailLine(d); line != "" {
			b.WriteString("\n  ")
			b.WriteString(line)
		}
	}
	return b.String()
}

// detailLine renders one typed error detail; unknown details are shown in
// protojson so nothing the server said is hidden.
func detailLine(d any) string {
	switch d := d.(type) {
	case *commonpb.NotLeader:
		if d.GetLeaderAddr() == "" {
			return "not leader: no leader known"
		}
		return fmt.Sprintf("not leader: leader is member %d at %s", d.GetLeaderId(), d.GetLeaderAddr())
	case *commonpb.VersionMismatch:
		return fmt.Sprintf("version mismatch: %s %q current version %d (expected %d)", d.GetKind(), d.GetName(), d.GetCurrentVersion(), d.GetExpectedVersion())
	case *commonpb.NotFound:
		return fmt.Sprintf("not found: %s %q", d.GetKind(), d.GetName())
	case *commonpb.AlreadyExists:
		return fmt.Sprintf("already exists: %s %q", d.GetKind(), d.GetName())
	case *commonpb.InvalidArgument:
		return fmt.Sprintf("invalid argument: %s: %s", d.GetField(), d.GetReason())
	case *commonpb.ResourceExhausted:
		return fmt.Sprintf("resource exhausted: %s max %d, got %d", d.GetLimit(), d.GetMax(), d.GetGot())
	case *commonpb.Fenced:
		return fmt.Sprintf("fenced: epoch %d", d.GetEpoch())
	case *commonpb.SegmentSealed:
		return fmt.Sprintf("segment sealed: end offset %d", d.GetEndOffset())
	case proto.Message:
		b, err := protojson.Marshal(d)
		if err != nil {
			return fmt.Sprintf("detail: %s", d.ProtoReflect().Descriptor().FullName())
		}
		return fmt.Sprintf("detail: %s %s", d.ProtoReflect().Descriptor().FullName(), b)
	case error:
		// status.Details reports an undecodable detail as an error.
		return fmt.Sprintf("detail: %v", d)
	default:
		return ""
	}
}

// group returns a command that only holds subcommands. Cobra would print
// the group's help and exit 0 on "robustctl kv frobnicate"; a mistyped
// subcommand must fail like any other bad invocation.
func group(use, short, example string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
}
