// Command journal-server runs one journal node: replicated append-only
// segments (DESIGN section 3). Wiring only; see internal/app.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/robustmq/robustmq-go/common/config"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/logging"
	"github.com/robustmq/robustmq-go/journal-server/internal/app"
	jconfig "github.com/robustmq/robustmq-go/journal-server/internal/config"
)

func main() {
	fs := pflag.NewFlagSet("journal-server", pflag.ContinueOnError)
	config.AddStandardFlags(fs)
	jconfig.AddFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			return
		}
		os.Exit(2)
	}
	cfg := jconfig.Default()
	keys := jconfig.FlagKeys()
	keys[config.DataDirFlag] = config.DataDirKey
	if err := config.Load(config.Options{EnvPrefix: jconfig.EnvPrefix, Flags: fs, FlagKeys: keys}, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "journal-server:", err)
		os.Exit(2)
	}
	log, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		fmt.Fprintln(os.Stderr, "journal-server:", err)
		os.Exit(2)
	}
	ctx, cancel := lifecycle.SignalContext(context.Background())
	defer cancel()
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error().Err(err).Msg("journal server failed")
		cancel()
		os.Exit(1)
	}
}
