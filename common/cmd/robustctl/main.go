// Command robustctl operates a RobustMQ-Go cluster through the placement
// center's gRPC API. Wiring only; the commands live in common/ctl.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/robustmq/robustmq-go/common/ctl"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Execute(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
