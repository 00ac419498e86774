package deploytest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// repoRoot is the repository checkout holding this module (deploy/test).
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(wd))
}

// staticBinDir is where `make build-static` put the image's binaries:
// $ROBUSTMQ_STATIC_BIN, else bin/static of the checkout.
func staticBinDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("ROBUSTMQ_STATIC_BIN"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), "bin", "static")
}

// imageBinaries are the executables the image holds (deploy/docker/Dockerfile).
var imageBinaries = []string{"placement-center", "journal-server", "broker-server", "robustctl", "robustmq-healthcheck"}

// staticBinary returns the path of an image binary and fails the test when
// it has not been built: a check that silently skipped would prove nothing.
func staticBinary(t testing.TB, name string) string {
	t.Helper()
	if !slices.Contains(imageBinaries, name) {
		t.Fatalf("%q is not one of the image's binaries %v", name, imageBinaries)
	}
	p := filepath.Join(staticBinDir(t), name)
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("%s is missing or not executable: run `make build-static` (or set ROBUSTMQ_STATIC_BIN)", p)
	}
	return p
}

// envPrefix is each service binary's environment prefix (the EnvPrefix
// constants of the services' internal/config packages, and robustctl's).
var envPrefix = map[string]string{
	"placement-center": "ROBUSTMQ_PLACEMENT_",
	"journal-server":   "ROBUSTMQ_JOURNAL_",
	"broker-server":    "ROBUSTMQ_BROKER_",
}

// configSections lists the TOML tables ("raft", "listeners.tcp") the files
// in config/ use; an environment key under one of them is that table's key.
func configSections(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "config", "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(repoRoot(t), "config", "*", "*.toml"))
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no config/*.toml files")
	}
	set := map[string]bool{}
	re := regexp.MustCompile(`(?m)^\[([a-z0-9_.]+)\]\s*$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			set[m[1]] = true
		}
	}
	out := slices.Collect(maps.Keys(set))
	// Longest first, so "listeners.tcp" wins over a shorter table.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// envKey turns an environment override into its configuration key path:
// ROBUSTMQ_BROKER_LISTENERS_TCP_ADVERTISE_ADDR -> [listeners tcp advertise_addr].
func envKey(prefix, name string, sections []string) []string {
	rest := strings.ToLower(strings.TrimPrefix(name, prefix))
	for _, s := range sections {
		if p := strings.ReplaceAll(s, ".", "_") + "_"; strings.HasPrefix(rest, p) {
			return append(strings.Split(s, "."), strings.TrimPrefix(rest, p))
		}
	}
	return []string{rest}
}

// configWithEnv returns base (a TOML document, may be empty) with every
// ROBUSTMQ_<SERVICE>_ variable of env added as a file key. The binaries
// reject unknown file keys, so starting one with this file proves every
// environment override names a real key: viper ignores an unknown variable,
// which would otherwise leave a misspelt override silently without effect.
func configWithEnv(t testing.TB, base, prefix string, env map[string]string) string {
	t.Helper()
	doc := map[string]any{}
	if _, err := toml.Decode(base, &doc); err != nil {
		t.Fatalf("decode TOML: %v\n%s", err, base)
	}
	sections := configSections(t)
	for name, v := range env {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		path := envKey(prefix, name, sections)
		m := doc
		for _, p := range path[:len(path)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[path[len(path)-1]] = v
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(doc); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// freePort returns a 127.0.0.1 port nobody listened on a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// node is one process of a deployment (a compose container, a pod) as the
// artifact describes it, before its addresses are moved to loopback.
type node struct {
	name  string   // unique: "placement-1", "broker#2"
	hosts []string // names that mean this node (its hostname, its FQDN)
	argv  []string // image binary + arguments
	env   map[string]string
	// config is the TOML file content the artifact gives the node (Helm's
	// ConfigMap), or "" (compose: environment only).
	config string
	// dirs maps a path inside the container (a volume) to a host directory.
	dirs   map[string]string
	health []string // health check command (argv), or nil

	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// loopback runs nodes on 127.0.0.1: every host:port that names a node, or
// the wildcard/loopback address inside that node, becomes a free loopback
// port of its own for that (node, port) pair. An address naming no node
// fails the test: it would not resolve in the real deployment either.
type loopback struct {
	t     testing.TB
	mu    sync.Mutex
	ports map[string]int
	nodes map[string]*node
	hosts map[string]*node
	order []*node
	// root holds every node's directories; removed after the processes
	// have stopped (t.TempDir would be removed before, logs included).
	root string
}

func newLoopback(t testing.TB) *loopback {
	root, err := os.MkdirTemp("", "robustmq-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	l := &loopback{t: t, ports: map[string]int{}, nodes: map[string]*node{}, hosts: map[string]*node{}, root: root}
	t.Cleanup(l.stopAll)
	return l
}

func (l *loopback) mkdir(prefix string) string {
	l.t.Helper()
	d, err := os.MkdirTemp(l.root, strings.NewReplacer("/", "_", "#", "_").Replace(prefix)+"-")
	if err != nil {
		l.t.Fatal(err)
	}
	return d
}

// add registers n; its hosts must be unique across nodes. Its volume
// paths (n.dirs keys) get fresh directories.
func (l *loopback) add(n *node) {
	l.t.Helper()
	if l.nodes[n.name] != nil {
		l.t.Fatalf("node %s added twice", n.name)
	}
	for in := range n.dirs {
		n.dirs[in] = l.mkdir(n.name + "-volume")
	}
	l.nodes[n.name] = n
	for _, h := range n.hosts {
		if other := l.hosts[h]; other != nil {
			// Replicas share a hostname (compose's "broker"): it then
			// means "myself" inside each, and nothing from outside.
			l.hosts[h] = &node{name: "ambiguous:" + other.name + "," + n.name}
			continue
		}
		l.hosts[h] = n
	}
}

func (l *loopback) port(n *node, container string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := n.name + "/" + container
	if p, ok := l.ports[k]; ok {
		return p
	}
	p := freePort(l.t)
	l.ports[k] = p
	return p
}

// PortOf is the loopback port standing for a node's container port.
func (l *loopback) PortOf(name string, container int) int {
	n := l.nodes[name]
	if n == nil {
		l.t.Fatalf("no node %s", name)
	}
	return l.port(n, strconv.Itoa(container))
}

var addrRE = regexp.MustCompile(`([A-Za-z0-9][A-Za-z0-9_.\-]*):([0-9]{2,5})\b`)

// rewrite moves every address in v, as seen from inside self, to loopback.
func (l *loopback) rewrite(self *node, v string) (string, error) {
	var bad error
	out := addrRE.ReplaceAllStringFunc(v, func(m string) string {
		sub := addrRE.FindStringSubmatch(m)
		host, port := sub[1], sub[2]
		target := l.hosts[host]
		switch {
		case host == "0.0.0.0" || host == "127.0.0.1" || host == "localhost" || slices.Contains(self.hosts, host):
			target = self
		case target == nil:
			bad = errors.Join(bad, fmt.Errorf("%s: address %s names no service of the deployment", self.name, m))
			return m
		case strings.HasPrefix(target.name, "ambiguous:"):
			bad = errors.Join(bad, fmt.Errorf("%s: address %s names several replicas (%s)", self.name, m, target.name))
			return m
		}
		return fmt.Sprintf("127.0.0.1:%d", l.port(target, port))
	})
	return out, bad
}

// resolved returns n's argv and environment with addresses on loopback and
// volume paths on host directories.
func (l *loopback) resolved(n *node) ([]string, map[string]string) {
	l.t.Helper()
	fix := func(v string) string {
		for in, host := range n.dirs {
			if v == in || strings.HasPrefix(v, in+"/") {
				v = host + strings.TrimPrefix(v, in)
			}
		}
		r, err := l.rewrite(n, v)
		if err != nil {
			l.t.Fatal(err)
		}
		return r
	}
	argv := make([]string, len(n.argv))
	for i, a := range n.argv {
		argv[i] = fix(a)
	}
	env := map[string]string{}
	for k, v := range n.env {
		env[k] = fix(v)
	}
	return argv, env
}

// start runs n: its image binary, its argv and environment, plus (for the
// services) --config with its config file and every environment override
// added as a file key (see configWithEnv).
func (l *loopback) start(n *node) {
	l.t.Helper()
	argv, env := l.resolved(n)
	bin := staticBinary(l.t, argv[0])
	args := argv[1:]
	dir := l.mkdir(n.name)
	if prefix, ok := envPrefix[argv[0]]; ok {
		base := n.config
		if i := slices.Index(args, "--config"); i >= 0 {
			// The file the artifact mounts: its content is n.config.
			args = slices.Delete(slices.Clone(args), i, i+2)
		}
		cfg := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(cfg, []byte(configWithEnv(l.t, base, prefix, env)), 0o600); err != nil {
			l.t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	n.log = filepath.Join(dir, "output.log")
	out, err := os.Create(n.log)
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + staticBinDir(l.t), "HOME=" + dir}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start %s: %v", n.name, err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = out.Close()
		close(n.done)
	}()
	l.order = append(l.order, n)
	l.t.Logf("started %s: %s %s", n.name, argv[0], strings.Join(args, " "))
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (l *loopback) stop(n *node) {
	if n.cmd == nil {
		return
	}
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

func (l *loopback) stopAll() {
	for i := len(l.order) - 1; i >= 0; i-- {
		l.stop(l.order[i])
	}
	if l.t.Failed() {
		for _, n := range l.order {
			l.t.Logf("--- %s output (last lines):\n%s", n.name, tail(n.log, 25))
		}
	}
	_ = os.RemoveAll(l.root)
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var all []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// run runs an image binary to completion (bounded by timeout) with argv and
// env as seen from inside n, returning its combined output.
func (l *loopback) run(n *node, timeout time.Duration, argv ...string) (string, error) {
	l.t.Helper()
	tmp := &node{name: n.name, hosts: n.hosts, argv: argv, env: n.env, dirs: n.dirs}
	rargv, env := l.resolved(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, staticBinary(l.t, rargv[0]), rargv[1:]...)
	cmd.Env = []string{"PATH=" + staticBinDir(l.t)}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitHealthy runs n's health check until it passes, failing the test if
// the process exits or the check does not pass within timeout.
func (l *loopback) waitHealthy(n *node, timeout time.Duration) {
	l.t.Helper()
	if len(n.health) == 0 {
		l.t.Fatalf("%s has no health check", n.name)
	}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			l.t.Fatalf("%s exited before it was healthy (%v):\n%s", n.name, n.cmd.ProcessState, tail(n.log, 30))
		default:
		}
		out, err := l.run(n, 5*time.Second, n.health...)
		if err == nil {
			l.t.Logf("%s healthy: %s", n.name, strings.TrimSpace(out))
			return
		}
		last = strings.TrimSpace(out)
		time.Sleep(300 * time.Millisecond)
	}
	l.t.Fatalf("%s not healthy after %s; last check: %s\n%s", n.name, timeout, last, tail(n.log, 30))
}
