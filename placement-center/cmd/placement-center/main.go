// Command placement-center runs one member of the placement center: the
// Raft-replicated metadata and scheduling service. Wiring only; see
// internal/app.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/robustmq/robustmq-go/common/config"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/logging"
	"github.com/robustmq/robustmq-go/placement-center/internal/app"
	pcconfig "github.com/robustmq/robustmq-go/placement-center/internal/config"
)

func main() {
	fs := pflag.NewFlagSet("placement-center", pflag.ContinueOnError)
	config.AddStandardFlags(fs)
	pcconfig.AddFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			return
		}
		os.Exit(2)
	}
	cfg := pcconfig.Default()
	keys := pcconfig.FlagKeys()
	keys[config.DataDirFlag] = config.DataDirKey
	if err := config.Load(config.Options{EnvPrefix: pcconfig.EnvPrefix, Flags: fs, FlagKeys: keys}, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "placement-center:", err)
		os.Exit(2)
	}
	log, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		fmt.Fprintln(os.Stderr, "placement-center:", err)
		os.Exit(2)
	}
	ctx, cancel := lifecycle.SignalContext(context.Background())
	defer cancel()
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error().Err(err).Msg("placement center failed")
		cancel()
		os.Exit(1)
	}
}
