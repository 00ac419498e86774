// Command broker-server runs one stateless broker: the client listeners
// (MQTT over TCP, TLS, WebSocket and secure WebSocket), registered with
// the placement center (DESIGN section 5). Wiring only; see internal/app.
// MQTT is served by internal/mqtt/server over the core (internal/core), whose
// state lives in the cluster (internal/cluster).
package main

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/app"
	"github.com/robustmq/robustmq-go/broker-server/internal/config"
	"github.com/robustmq/robustmq-go/common/servicemain"
)

func main() {
	servicemain.Main(servicemain.Spec[config.Config]{
		Name:      "broker-server",
		EnvPrefix: config.EnvPrefix,
		Default:   config.Default,
		AddFlags:  config.AddFlags,
		DataDir:   false, // a broker keeps no local state
		Log:       func(c config.Config) (string, string) { return c.Log.Level, c.Log.Format },
		Run: func(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
			return app.Run(ctx, cfg, log, app.Options{})
		},
	})
}
