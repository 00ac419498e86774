package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"
)

// SignalContext returns a context cancelled on the first SIGINT or
// SIGTERM (or when parent ends). Call the CancelFunc to stop listening;
// after it, a signal has its default effect again, so a second Ctrl-C
// during a slow shutdown can still kill the process.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// DefaultStopTimeout bounds how long Wait waits for components after the
// group starts stopping, when NewGroup is given zero.
const DefaultStopTimeout = 15 * time.Second

// Group runs named components. The first component to fail cancels the
// group's context, which every component must watch; Wait then collects
// them. Components are added with Go before Wait is called.
type Group struct {
	ctx         context.Context
	cancel      context.CancelCauseFunc
	stopTimeout time.Duration
	wg          sync.WaitGroup

	mu      sync.Mutex
	running []string // names of components not yet returned
	errs    []error  // failures, in the order they happened
}

// NewGroup returns a group whose components run under a child of ctx.
// stopTimeout bounds the wait for components once the group stops
// (DefaultStopTimeout if zero).
func NewGroup(ctx context.Context, stopTimeout time.Duration) *Group {
	if stopTimeout <= 0 {
		stopTimeout = DefaultStopTimeout
	}
	gctx, cancel := context.WithCancelCause(ctx)
	return &Group{ctx: gctx, cancel: cancel, stopTimeout: stopTimeout}
}

// Context returns the context the components run under; it ends when the
// parent ends or a component fails. context.Cause tells which.
func (g *Group) Context() context.Context { return g.ctx }

// Go starts run as component name. An error (or a panic, which is turned
// into an error with its stack) stops the whole group. A component that
// returns nil simply ends; it does not stop the others. Errors returned
// after the group stopped that only report the cancellation
// (context.Canceled) are not failures.
func (g *Group) Go(name string, run func(ctx context.Context) error) {
	g.mu.Lock()
	g.running = append(g.running, name)
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		err := runGuarded(g.ctx, run)
		g.finished(name, err)
	}()
}

// runGuarded runs one component, turning a panic into an error so the
// process shuts down in order rather than dying mid-write.
func runGuarded(ctx context.Context, run func(ctx context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return run(ctx)
}

func (g *Group) finished(name string, err error) {
	stopping := g.ctx.Err() != nil
	g.mu.Lock()
	if i := slices.Index(g.running, name); i >= 0 {
		g.running = slices.Delete(g.running, i, i+1)
	}
	failed := err != nil && !(stopping && errors.Is(err, context.Canceled))
	if failed {
		err = fmt.Errorf("%s: %w", name, err)
		g.errs = append(g.errs, err)
	}
	g.mu.Unlock()
	if failed {
		g.cancel(err)
	}
}

// Wait returns when every component has returned, or, once the group is
// stopping (parent done or a component failed), after at most the stop
// timeout. It returns the components' failures, first one first, plus an
// error naming the components that did not stop in time; nil after a
// clean stop. Components that did not stop in time are left running: the
// caller is expected to exit the process.
func (g *Group) Wait() error {
	allDone := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(allDone)
	}()

	var late error
	select {
	case <-allDone:
	case <-g.ctx.Done():
		timer := time.NewTimer(g.stopTimeout)
		select {
		case <-allDone:
		case <-timer.C:
			g.mu.Lock()
			late = fmt.Errorf("lifecycle: %v did not stop within %v", g.running, g.stopTimeout)
			g.mu.Unlock()
		}
		timer.Stop()
	}
	g.cancel(context.Canceled)

	g.mu.Lock()
	defer g.mu.Unlock()
	errs := slices.Clone(g.errs)
	if late != nil {
		errs = append(errs, late)
	}
	return errors.Join(errs...)
}
