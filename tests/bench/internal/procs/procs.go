package procs

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
	"time"
)

// Spec describes one child process.
type Spec struct {
	Name string // also the log file's base name
	Path string
	Args []string
	// ScrubEnvPrefixes removes inherited variables with these prefixes, so
	// a developer's ROBUSTMQ_PLACEMENT_* or ETCD_* settings cannot change
	// what the benchmark measures.
	ScrubEnvPrefixes []string
}

// Proc is one started child.
type Proc struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped
	err  error         // the Wait result, valid after done
}

// Exited is closed once the process has exited and been reaped.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// ExitErr is the process's Wait result; valid only after Exited is closed.
func (p *Proc) ExitErr() error {
	<-p.done
	return p.err
}

// Tail returns the last n lines of the process's log, for error messages.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Group is the set of children of one benchmark run. Safe for concurrent use.
type Group struct {
	logDir string

	mu      sync.Mutex
	procs   []*Proc
	stopped bool
}

// NewGroup returns a group whose children log into logDir.
func NewGroup(logDir string) (*Group, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("procs: log dir: %w", err)
	}
	return &Group{logDir: logDir}, nil
}

// Start launches spec in a new process group.
func (g *Group) Start(spec Spec) (*Proc, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return nil, errors.New("procs: group already stopped")
	}
	logPath := filepath.Join(g.logDir, spec.Name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("procs: %s: log: %w", spec.Name, err)
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = scrubEnv(os.Environ(), spec.ScrubEnvPrefixes)
	// Own process group: Ctrl-C at the terminal reaches only the bench,
	// which then stops the children in order, and killing the group also
	// takes any grandchildren. Pdeathsig covers a bench that is SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("procs: start %s: %w", spec.Name, err)
	}
	p := &Proc{Name: spec.Name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	// The reaper goroutine is owned by the Proc: it ends when the process
	// exits, which StopAll guarantees.
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	g.procs = append(g.procs, p)
	return p, nil
}

// StopAll sends SIGTERM to every child's process group, waits up to grace
// for them to exit, then SIGKILLs the groups of those still running and
// waits up to reapWait for them to be reaped. A killed process can take a
// while to go: one blocked in fsync on a busy disk dies only when the
// fsync returns. StopAll returns an error naming any child still there.
func (g *Group) StopAll(grace, reapWait time.Duration) error {
	g.mu.Lock()
	g.stopped = true
	procs := append([]*Proc(nil), g.procs...)
	g.mu.Unlock()

	for _, p := range procs {
		signalGroup(p, syscall.SIGTERM)
	}
	// A closed channel, unlike time.After's, stays ready for every
	// process after the first one that times out.
	termCtx, cancelTerm := context.WithTimeout(context.Background(), grace)
	defer cancelTerm()
	for _, p := range procs {
		select {
		case <-p.done:
		case <-termCtx.Done():
		}
	}
	for _, p := range procs {
		// The group is killed even when the leader has exited, in case
		// it left children of its own behind.
		signalGroup(p, syscall.SIGKILL)
	}
	var stuck []string
	killCtx, cancelKill := context.WithTimeout(context.Background(), reapWait)
	defer cancelKill()
	for _, p := range procs {
		select {
		case <-p.done:
		case <-killCtx.Done():
			stuck = append(stuck, p.Name)
		}
	}
	if len(stuck) > 0 {
		return fmt.Errorf("procs: not reaped after SIGKILL: %s", strings.Join(stuck, ", "))
	}
	return nil
}

func signalGroup(p *Proc, sig syscall.Signal) {
	// The pgid is the child's pid (Setpgid with Pgid 0). ESRCH means the
	// group is already gone, which is what we want.
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

func scrubEnv(env, prefixes []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		drop := false
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// LogTails returns the last n lines of every child's log, each under its
// name, for a failure report.
func (g *Group) LogTails(n int) string {
	g.mu.Lock()
	procs := append([]*Proc(nil), g.procs...)
	g.mu.Unlock()
	var b bytes.Buffer
	for _, p := range procs {
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", p.Name, p.LogPath, p.Tail(n))
	}
	return b.String()
}
