package lifecycle

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx ends and reports whether the whole d
// passed (false: ctx ended first, the caller should stop). A d of zero or
// less returns at once.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
