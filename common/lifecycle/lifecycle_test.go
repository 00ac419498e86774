package lifecycle

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// untilDone is a well-behaved component: it runs until its context ends.
func untilDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func waitResult(t *testing.T, g *Group) error {
	t.Helper()
	res := make(chan error, 1)
	go func() { res <- g.Wait() }()
	select {
	case err := <-res:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not return")
		return nil
	}
}

func TestFailureStopsOthersAndIsNamed(t *testing.T) {
	boom := errors.New("bind: address in use")
	g := NewGroup(context.Background(), 5*time.Second)
	stopped := make(chan string, 2)
	for _, name := range []string{"grpc", "raft"} {
		g.Go(name, func(ctx context.Context) error {
			<-ctx.Done()
			stopped <- name
			return ctx.Err()
		})
	}
	g.Go("http", func(context.Context) error { return boom })

	err := waitResult(t, g)
	if !errors.Is(err, boom) {
		t.Fatalf("Wait = %v, want it to wrap %v", err, boom)
	}
	if !strings.Contains(err.Error(), "http: ") {
		t.Fatalf("Wait = %q, want the failing component named", err)
	}
	if strings.Contains(err.Error(), "grpc") || strings.Contains(err.Error(), "raft") {
		t.Fatalf("Wait = %q: components that stopped on request counted as failures", err)
	}
	if len(stopped) != 2 {
		t.Fatalf("%d components saw the stop, want 2", len(stopped))
	}
	if cause := context.Cause(g.Context()); !errors.Is(cause, boom) {
		t.Fatalf("context cause = %v, want the failure", cause)
	}
}

func TestParentCancelIsCleanStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := NewGroup(ctx, 5*time.Second)
	g.Go("a", untilDone)
	g.Go("b", untilDone)
	cancel()
	if err := waitResult(t, g); err != nil {
		t.Fatalf("Wait = %v, want nil after a requested stop", err)
	}
}

func TestAllReturnWithoutStop(t *testing.T) {
	g := NewGroup(context.Background(), time.Second)
	g.Go("migrate", func(context.Context) error { return nil })
	g.Go("warm cache", func(context.Context) error { return nil })
	if err := waitResult(t, g); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if g.Context().Err() == nil {
		t.Fatal("group context still live after Wait")
	}
}

func TestStragglerIsBoundedAndNamed(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	g := NewGroup(ctx, 200*time.Millisecond)
	g.Go("stubborn", func(context.Context) error {
		<-release // ignores its context
		return nil
	})
	g.Go("polite", untilDone)
	cancel()
	start := time.Now()
	err := waitResult(t, g)
	if err == nil || !strings.Contains(err.Error(), "stubborn") || strings.Contains(err.Error(), "polite") {
		t.Fatalf("Wait = %v, want only stubborn named as late", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("Wait took %v with a 200ms bound", elapsed)
	}
}

func TestPanicBecomesFailure(t *testing.T) {
	g := NewGroup(context.Background(), 5*time.Second)
	g.Go("other", untilDone)
	g.Go("buggy", func(context.Context) error { panic("nil map write") })
	err := waitResult(t, g)
	if err == nil || !strings.Contains(err.Error(), "buggy: panic: nil map write") {
		t.Fatalf("Wait = %v, want the panic reported", err)
	}
	if !strings.Contains(err.Error(), "lifecycle_test.go") {
		t.Fatalf("panic error lacks the stack: %v", err)
	}
}

func TestSignalContext(t *testing.T) {
	t.Run("SIGTERM cancels", func(t *testing.T) {
		ctx, stop := SignalContext(context.Background())
		defer stop()
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatalf("kill: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("context not cancelled by SIGTERM")
		}
	})
	t.Run("parent cancels", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		ctx, stop := SignalContext(parent)
		defer stop()
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("context not cancelled with its parent")
		}
	})
}
