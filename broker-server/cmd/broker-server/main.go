// Command broker-server runs one stateless broker: the client listeners
// (MQTT over TCP, TLS, WebSocket and secure WebSocket), registered with
// the placement center (DESIGN section 5). Wiring only; see internal/app.
// MQTT is served by internal/mqtt/server over the in-memory core (internal/core).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/robustmq/robustmq-go/broker-server/internal/app"
	bconfig "github.com/robustmq/robustmq-go/broker-server/internal/config"
	"github.com/robustmq/robustmq-go/common/config"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/logging"
)

func main() {
	fs := pflag.NewFlagSet("broker-server", pflag.ContinueOnError)
	// No --data-dir: a broker keeps no local state.
	fs.String(config.ConfigFlag, "", "path of the TOML configuration file")
	bconfig.AddFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			return
		}
		os.Exit(2)
	}
	cfg := bconfig.Default()
	if err := config.Load(config.Options{EnvPrefix: bconfig.EnvPrefix, Flags: fs, FlagKeys: bconfig.FlagKeys()}, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "broker-server:", err)
		os.Exit(2)
	}
	log, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker-server:", err)
		os.Exit(2)
	}
	ctx, cancel := lifecycle.SignalContext(context.Background())
	defer cancel()
	if err := app.Run(ctx, cfg, log, app.Options{}); err != nil {
		log.Error().Err(err).Msg("broker server failed")
		cancel()
		os.Exit(1)
	}
}
