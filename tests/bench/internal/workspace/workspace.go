package workspace

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/procs"
)

// Workspace is one run's work directory and its children.
type Workspace struct {
	// Dir holds the run's data; Dir/logs the children's output.
	Dir   string
	Group *procs.Group
}

// Open checks that every file exists (hint tells how to get them when one
// does not), then makes a work directory named prefix* under parent
// (the system temp directory when empty) and a process group logging into
// it.
func Open(files []string, hint, parent, prefix string) (*Workspace, error) {
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%w (%s)", err, hint)
		}
	}
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	group, err := procs.NewGroup(filepath.Join(dir, "logs"))
	if err != nil {
		return nil, err
	}
	return &Workspace{Dir: dir, Group: group}, nil
}

// Close stops every child (SIGTERM, SIGKILL after grace) and removes the
// directory when runErr is nil and keep is false; otherwise it says where
// the data and logs are. It returns runErr joined with a stop failure.
func (w *Workspace) Close(runErr error, keep bool, grace time.Duration, stderr io.Writer) error {
	if stopErr := w.Group.StopAll(grace, 15*time.Second); stopErr != nil {
		runErr = errors.Join(runErr, stopErr)
	}
	if runErr == nil && !keep {
		os.RemoveAll(w.Dir)
	} else {
		fmt.Fprintf(stderr, "data and logs kept in %s\n", w.Dir)
	}
	return runErr
}

// ParseConcurrency reads a --concurrency value: comma-separated steps, each
// an integer in 1..max.
func ParseConcurrency(s string, max int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || n > max {
			return nil, fmt.Errorf("--concurrency %q: each step must be an integer in 1..%d", s, max)
		}
		out = append(out, n)
	}
	return out, nil
}

// LoadAvg is /proc/loadavg's first three fields, for the record.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// ParseFlags parses args into fs, refuses positional arguments, and when
// *smoke is set (by a --smoke flag of fs) applies smokeDefaults to every
// flag the command line did not set: explicit flags win over the smoke
// run's short defaults.
func ParseFlags(fs *flag.FlagSet, args []string, smoke *bool, smokeDefaults map[string]func()) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if !*smoke {
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, apply := range smokeDefaults {
		if fs.Lookup(name) == nil {
			return fmt.Errorf("smoke default for unknown flag --%s", name)
		}
		if !set[name] {
			apply()
		}
	}
	return nil
}
