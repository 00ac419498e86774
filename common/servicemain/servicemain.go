package servicemain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/robustmq/robustmq-go/common/config"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/logging"
)

// Exit statuses of Run.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// Spec describes one service binary. C is its configuration type.
type Spec[C any] struct {
	// Name is the binary's name, used in messages and the flag set.
	Name string
	// EnvPrefix prefixes the environment overrides (e.g. ROBUSTMQ_JOURNAL).
	EnvPrefix string
	// Default returns the configuration before the file, environment and
	// flags are applied.
	Default func() C
	// AddFlags declares the service's own flags, each with the
	// configuration key it overrides.
	AddFlags func(*config.Flags)
	// DataDir adds --data-dir, mapped to the data_dir key. Services that
	// keep no local state (brokers) leave it false.
	DataDir bool
	// Log returns the configured log level and format.
	Log func(C) (level, format string)
	// Run runs the service until ctx ends (SIGTERM/SIGINT) or it fails.
	Run func(ctx context.Context, cfg C, log zerolog.Logger) error
}

// Main runs the service with the process's arguments and exits with Run's
// status.
func Main[C any](s Spec[C]) {
	ctx, cancel := lifecycle.SignalContext(context.Background())
	code := Run(ctx, s, os.Args[1:], os.Stderr)
	cancel()
	os.Exit(code)
}

// Run is Main without the process: args are the command-line arguments
// after the program name, and messages and logs go to stderr.
func Run[C any](ctx context.Context, s Spec[C], args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet(s.Name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := config.NewFlags(fs)
	fs.String(config.ConfigFlag, "", "path of the TOML configuration file")
	if s.DataDir {
		flags.String(config.DataDirFlag, config.DataDirKey, "", "data directory (overrides data_dir)")
	}
	if s.AddFlags != nil {
		s.AddFlags(flags)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	cfg := s.Default()
	if err := config.Load(config.Options{EnvPrefix: s.EnvPrefix, Flags: fs, FlagKeys: flags.Keys()}, &cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", s.Name, err)
		return ExitUsage
	}
	level, format := s.Log(cfg)
	log, err := logging.New(stderr, level, format)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", s.Name, err)
		return ExitUsage
	}
	if err := s.Run(ctx, cfg, log); err != nil {
		log.Error().Err(err).Msg(s.Name + " failed")
		return ExitFailed
	}
	return ExitOK
}
