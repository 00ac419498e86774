package cluster

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// signalContext ends on SIGTERM, which procs.Group.StopAll sends first.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
