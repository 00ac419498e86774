// Command placement-center runs one member of the placement center: the
// Raft-replicated metadata and scheduling service. Wiring only; see
// internal/app.
package main

import (
	"github.com/robustmq/robustmq-go/common/servicemain"
	"github.com/robustmq/robustmq-go/placement-center/internal/app"
	"github.com/robustmq/robustmq-go/placement-center/internal/config"
)

func main() {
	servicemain.Main(servicemain.Spec[config.Config]{
		Name:      "placement-center",
		EnvPrefix: config.EnvPrefix,
		Default:   config.Default,
		AddFlags:  config.AddFlags,
		DataDir:   true,
		Log:       func(c config.Config) (string, string) { return c.Log.Level, c.Log.Format },
		Run:       app.Run,
	})
}
