// Command journal-server runs one journal node: replicated append-only
// segments (DESIGN section 3). Wiring only; see internal/app.
package main

import (
	"github.com/robustmq/robustmq-go/common/servicemain"
	"github.com/robustmq/robustmq-go/journal-server/internal/app"
	"github.com/robustmq/robustmq-go/journal-server/internal/config"
)

func main() {
	servicemain.Main(servicemain.Spec[config.Config]{
		Name:      "journal-server",
		EnvPrefix: config.EnvPrefix,
		Default:   config.Default,
		AddFlags:  config.AddFlags,
		DataDir:   true,
		Log:       func(c config.Config) (string, string) { return c.Log.Level, c.Log.Format },
		Run:       app.Run,
	})
}
