package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Defaults for Spec fields left at zero.
const (
	DefaultReadyTimeout = 30 * time.Second
	DefaultStopTimeout  = 20 * time.Second
	// readyProbeTimeout bounds one readiness probe so a hanging probe
	// cannot use up the whole ReadyTimeout.
	readyProbeTimeout = 2 * time.Second
	readyPollInterval = 50 * time.Millisecond
	// killWait bounds the wait for a SIGKILLed process to be reaped.
	killWait = 10 * time.Second
	// failureTailLines is how much of each log a failed test prints.
	failureTailLines = 60
)

// Spec describes one child process.
type Spec struct {
	// Name names the process in messages and its log file (<Name>.log).
	Name string
	// Path is the binary; Args its arguments (the same on every restart).
	Path string
	Args []string
	// Env is added to the test's environment, after the variables whose
	// names start with one of ScrubEnvPrefixes were removed from it (so a
	// developer's shell settings cannot change what a test runs).
	Env              []string
	ScrubEnvPrefixes []string
	// Ready reports whether the process serves; Start and Restart wait
	// until it returns nil. Nil means "started is ready".
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds that wait (DefaultReadyTimeout when zero).
	ReadyTimeout time.Duration
	// StopTimeout bounds how long Stop waits after SIGTERM before it
	// kills (DefaultStopTimeout when zero).
	StopTimeout time.Duration
}

// Process is one child process. Its methods are safe for concurrent use,
// but Start and Restart call t.Fatal and so belong on the test goroutine.
type Process struct {
	t       testing.TB
	spec    Spec
	logPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current run was reaped
	exitErr  error         // cmd.Wait's result, valid once exited is closed
	launches int
}

// Start launches spec, waits until it is ready and registers a cleanup
// that kills it (printing its log tail first if the test failed).
func Start(t testing.TB, spec Spec) *Process {
	t.Helper()
	if spec.Name == "" || spec.Path == "" {
		t.Fatalf("harness: Start needs a Name and a Path: %+v", spec)
	}
	if spec.ReadyTimeout <= 0 {
		spec.ReadyTimeout = DefaultReadyTimeout
	}
	if spec.StopTimeout <= 0 {
		spec.StopTimeout = DefaultStopTimeout
	}
	// TempDir before Cleanup: cleanups run last-registered first, so the
	// process is dead before its log directory is removed.
	p := &Process{t: t, spec: spec, logPath: filepath.Join(t.TempDir(), spec.Name+".log")}
	t.Cleanup(func() {
		p.Kill9()
		if t.Failed() {
			t.Logf("---- last %d lines of %s (%s) ----\n%s", failureTailLines, spec.Name, p.logPath, p.Tail(failureTailLines))
		}
	})
	p.launch(t)
	return p
}

// Name is the process's name from its Spec.
func (p *Process) Name() string { return p.spec.Name }

// LogPath is the file that receives the process's stdout and stderr over
// all its runs.
func (p *Process) LogPath() string { return p.logPath }

// Pid returns the current run's pid (0 before the first launch).
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// launch starts a run and waits for readiness; the log file is appended
// to, with a marker line per run.
func (p *Process) launch(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	if p.exited != nil {
		select {
		case <-p.exited:
		default:
			p.mu.Unlock()
			t.Fatalf("harness: %s launched while still running", p.spec.Name)
		}
	}
	p.launches++
	run := p.launches
	p.mu.Unlock()

	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("harness: %s log: %v", p.spec.Name, err)
	}
	fmt.Fprintf(logFile, "==== harness: run %d at %s: %s %s\n", run, time.Now().Format(time.RFC3339Nano),
		p.spec.Path, strings.Join(p.spec.Args, " "))

	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Env = childEnv(p.spec.Env, p.spec.ScrubEnvPrefixes)
	// An *os.File is handed to the child as its fd directly: no copying
	// goroutine, and the output survives the child being killed.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group, so signals reach anything the binary forks; and
	// Pdeathsig so the kernel kills it should the test binary die without
	// running its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	startErr := cmd.Start()
	// The child holds its own copy of the descriptor.
	_ = logFile.Close()
	if startErr != nil {
		t.Fatalf("harness: start %s: %v", p.spec.Name, startErr)
	}

	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited, p.exitErr = cmd, exited, nil
	p.mu.Unlock()
	// This goroutine belongs to the run: it ends when the child is reaped,
	// which the cleanup's SIGKILL guarantees.
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()

	if err := p.waitReady(); err != nil {
		t.Fatalf("harness: %s not ready: %v\n---- last %d lines of its log ----\n%s",
			p.spec.Name, err, failureTailLines, p.Tail(failureTailLines))
	}
}

// waitReady polls Spec.Ready until it succeeds, the process exits or
// ReadyTimeout passes.
func (p *Process) waitReady() error {
	if p.spec.Ready == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.spec.ReadyTimeout)
	defer cancel()
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	var lastErr error
	for {
		probeCtx, probeCancel := context.WithTimeout(ctx, readyProbeTimeout)
		lastErr = p.spec.Ready(probeCtx)
		probeCancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited during startup (%v); last probe: %w", p.ExitErr(), lastErr)
		case <-ctx.Done():
			return fmt.Errorf("still not ready after %s: %w", p.spec.ReadyTimeout, lastErr)
		case <-time.After(readyPollInterval):
		}
	}
}

// childEnv is the test's environment minus scrubbed variables plus extra.
func childEnv(extra, scrub []string) []string {
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, prefix := range scrub {
			if strings.HasPrefix(kv, prefix) {
				continue outer
			}
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// Running reports whether the current run has not exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// ExitErr is the last run's result from cmd.Wait (nil for a clean exit or
// while running; an *exec.ExitError for a failure or a signal).
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// signalGroup sends sig to the run's process group; it reports false when
// there is no live run.
func (p *Process) signalGroup(sig syscall.Signal) (exited <-chan struct{}, ok bool) {
	p.mu.Lock()
	cmd, ch := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil || ch == nil {
		return nil, false
	}
	select {
	case <-ch:
		return ch, false
	default:
	}
	// The negative pid addresses the group (Setpgid made pgid = pid).
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		// Fall back to the leader alone; ESRCH means it just exited.
		_ = cmd.Process.Signal(sig)
	}
	return ch, true
}

// Kill9 kills the process group with SIGKILL and returns once the process
// was reaped (so its ports and files are released). A process that is not
// running is left alone.
func (p *Process) Kill9() {
	exited, ok := p.signalGroup(syscall.SIGKILL)
	if !ok {
		return
	}
	select {
	case <-exited:
	case <-time.After(killWait):
		// Only an uninterruptible kernel wait can delay a SIGKILL this
		// long; report it rather than hang the test.
		p.t.Logf("harness: %s (pid %d) not reaped %s after SIGKILL", p.spec.Name, p.Pid(), killWait)
	}
}

// Stop sends SIGTERM and waits up to StopTimeout for the process to exit.
// It returns an error when the process had to be killed or exited with a
// failure: a graceful stop is part of what the tests check.
func (p *Process) Stop() error {
	exited, ok := p.signalGroup(syscall.SIGTERM)
	if !ok {
		return nil
	}
	select {
	case <-exited:
		if err := p.ExitErr(); err != nil {
			return fmt.Errorf("harness: %s exited badly after SIGTERM: %w", p.spec.Name, err)
		}
		return nil
	case <-time.After(p.spec.StopTimeout):
		p.Kill9()
		return fmt.Errorf("harness: %s did not exit within %s of SIGTERM; killed", p.spec.Name, p.spec.StopTimeout)
	}
}

// Restart starts the process again with the same arguments (and so the
// same data dir and ports) and waits until it is ready. It fails the test
// if the previous run is still alive.
func (p *Process) Restart() {
	p.t.Helper()
	p.launch(p.t)
}

// Tail returns the last n lines of the log.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// LogContains reports whether the log holds s (for asserting on events
// the API does not expose).
func (p *Process) LogContains(s string) bool {
	b, err := os.ReadFile(p.logPath)
	return err == nil && bytes.Contains(b, []byte(s))
}
