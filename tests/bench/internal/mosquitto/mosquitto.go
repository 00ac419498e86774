package mosquitto

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/cluster"
	"github.com/robustmq/robustmq-go/tests/bench/internal/mqttwire"
	"github.com/robustmq/robustmq-go/tests/bench/internal/procs"
)

// DefaultBinary is where Debian's mosquitto package installs the broker.
const DefaultBinary = "/usr/sbin/mosquitto"

// Options locate the binary and the run's directory.
type Options struct {
	Binary       string
	WorkDir      string
	ReadyTimeout time.Duration
}

// Broker is a running mosquitto.
type Broker struct {
	Addr       string // MQTT over TCP, 127.0.0.1:PORT
	ConfigPath string
	Config     string // the configuration file's text
	Version    string
}

// Config is the configuration file: a listener and nothing that changes
// how messages are kept or delivered.
func Config(port int) string {
	return fmt.Sprintf(`# Written by robustmq-bench. Only the listener, anonymous access and the
# log are set; persistence, max_inflight_messages (20), max_queued_messages
# (1000) and every other limit are mosquitto's defaults.
listener %d 127.0.0.1
allow_anonymous true
log_dest stdout
log_type error
log_type warning
`, port)
}

// Start writes the configuration, starts mosquitto and waits until it
// accepts an MQTT connection.
func Start(ctx context.Context, g *procs.Group, o Options) (*Broker, error) {
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	ports, err := cluster.FreePorts(1)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.WorkDir, "mosquitto")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mosquitto: %w", err)
	}
	b := &Broker{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), ConfigPath: filepath.Join(dir, "mosquitto.conf"),
		Config: Config(ports[0]), Version: Version(o.Binary)}
	if err := os.WriteFile(b.ConfigPath, []byte(b.Config), 0o644); err != nil {
		return nil, fmt.Errorf("mosquitto: %w", err)
	}
	p, err := g.Start(procs.Spec{Name: "mosquitto", Path: o.Binary, Args: []string{"-c", b.ConfigPath}})
	if err != nil {
		return nil, err
	}
	if err := mqttwire.WaitReady(ctx, b.Addr, o.ReadyTimeout, p.Exited()); err != nil {
		return nil, fmt.Errorf("mosquitto: %w\nlog:\n%s", err, p.Tail(15))
	}
	return b, nil
}

// Version asks the binary for its version ("2.0.11"), or "unknown".
func Version(bin string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// mosquitto -h prints its usage (first line "mosquitto version X")
	// and exits non-zero.
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	if v, ok := strings.CutPrefix(strings.TrimSpace(first), "mosquitto version "); ok {
		return v
	}
	return "unknown"
}
