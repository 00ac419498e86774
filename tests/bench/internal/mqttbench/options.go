package mqttbench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/mosquitto"
	"github.com/robustmq/robustmq-go/tests/bench/internal/workspace"
)

// Options are the benchmark's flags.
type Options struct {
	PlacementBin       string
	PlacementConfigDir string
	JournalBin         string
	JournalConfigDir   string
	BrokerBin          string
	MosquittoBin       string
	Nodes              int

	Publishers     []int // qos1 steps
	Window         int
	PayloadBytes   int
	Duration       time.Duration
	Warmup         time.Duration
	Settle         time.Duration
	MaxMessages    int // per publisher per measured run
	FaninPubs      int
	SlowPubs       int
	SlowMessages   int // per publisher
	SlowAckDelay   time.Duration
	SlowSessions   []string
	DrainTimeout   time.Duration // bound on waiting for deliveries after publishing
	IdleTimeout    time.Duration // no delivery for this long ends the wait
	RequestTimeout time.Duration
	ReadyTimeout   time.Duration
	Scenarios      []string
	WorkDir        string
	Keep           bool
	Smoke          bool
}

// Steps is the number of JSON lines a run with these options prints.
func (o Options) Steps() int {
	n := 0
	for _, s := range o.Scenarios {
		switch s {
		case ScenarioQoS1:
			n += len(o.Publishers)
		case ScenarioQoS0:
			n++
		case ScenarioSlow:
			n += len(o.SlowSessions)
		}
	}
	return n
}

// ParseFlags reads the flags; binDir is where the binaries and ../config
// are by default.
func ParseFlags(args []string, binDir string, stderr io.Writer) (Options, error) {
	var o Options
	var pubs, sessions, scenarios string
	fs := flag.NewFlagSet("robustmq-bench mqtt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.PlacementBin, "placement-bin", filepath.Join(binDir, "placement-center"), "placement-center binary")
	fs.StringVar(&o.PlacementConfigDir, "placement-config-dir", filepath.Join(binDir, "..", "config", "raft"), "directory of the placement node-N.toml")
	fs.StringVar(&o.JournalBin, "journal-bin", filepath.Join(binDir, "journal-server"), "journal-server binary")
	fs.StringVar(&o.JournalConfigDir, "journal-config-dir", filepath.Join(binDir, "..", "config", "journal"), "directory of the journal node-N.toml")
	fs.StringVar(&o.BrokerBin, "broker-bin", filepath.Join(binDir, "broker-server"), "broker-server binary")
	fs.StringVar(&o.MosquittoBin, "mosquitto-bin", mosquitto.DefaultBinary, "mosquitto binary (Debian package mosquitto)")
	fs.IntVar(&o.Nodes, "nodes", 1, "placement members and journal nodes under our broker: 1 (message stream replicas 1) or 3 (replicas 3, ack quorum 2)")
	fs.StringVar(&scenarios, "scenarios", "qos1,qos0-fanin,slow-subscriber", "scenarios to run")
	fs.StringVar(&pubs, "publishers", "1,16,64", "qos1: comma-separated publisher counts")
	fs.IntVar(&o.Window, "window", 8, "QoS 1 publishes in flight per publisher")
	fs.IntVar(&o.PayloadBytes, "payload-size", 256, "bytes per message payload (at least 32)")
	fs.DurationVar(&o.Duration, "duration", 8*time.Second, "measured time per system per step (qos1, qos0-fanin)")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load before each measured run")
	fs.DurationVar(&o.Settle, "settle", time.Second, "pause between two measurements")
	fs.IntVar(&o.MaxMessages, "max-messages", 2_000_000, "count bound per publisher per measured run")
	fs.IntVar(&o.FaninPubs, "fanin-publishers", 16, "qos0-fanin: publishers")
	fs.IntVar(&o.SlowPubs, "slow-publishers", 10, "slow-subscriber: publishers")
	fs.IntVar(&o.SlowMessages, "slow-messages", 500, "slow-subscriber: QoS 1 messages per publisher")
	fs.DurationVar(&o.SlowAckDelay, "slow-ack-delay", time.Millisecond, "slow-subscriber: pause before each PUBACK")
	fs.StringVar(&sessions, "slow-sessions", "persistent,clean", "slow-subscriber: subscriber sessions to try (persistent = clean session off)")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", 60*time.Second, "bound on waiting for the subscriber after the publishers stop")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", 3*time.Second, "the wait for deliveries ends after this long without one")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "bound on the PUBACKs still in flight at the end of a run")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", 30*time.Second, "how long each system may take to start")
	fs.StringVar(&o.WorkDir, "work-dir", "", "parent of the run's data and log directory (default: system temp)")
	fs.BoolVar(&o.Keep, "keep", false, "keep data and logs after a successful run")
	fs.BoolVar(&o.Smoke, "smoke", false, "seconds long: 1s steps, publishers 1 and 16, 4 fan-in publishers, 100 slow messages per publisher (explicit flags still win)")
	if err := workspace.ParseFlags(fs, args, &o.Smoke, map[string]func(){
		"publishers":       func() { pubs = "1,16" },
		"duration":         func() { o.Duration = time.Second },
		"warmup":           func() { o.Warmup = 300 * time.Millisecond },
		"settle":           func() { o.Settle = 0 },
		"slow-messages":    func() { o.SlowMessages = 100 },
		"fanin-publishers": func() { o.FaninPubs = 4 },
		"drain-timeout":    func() { o.DrainTimeout = 20 * time.Second },
		"idle-timeout":     func() { o.IdleTimeout = time.Second },
	}); err != nil {
		return o, err
	}
	var err error
	if o.Publishers, err = parseCounts("--publishers", pubs); err != nil {
		return o, err
	}
	o.SlowSessions = splitList(sessions)
	for _, s := range o.SlowSessions {
		if s != SessionPers && s != SessionClean {
			return o, fmt.Errorf("--slow-sessions %q: each must be %s or %s", sessions, SessionPers, SessionClean)
		}
	}
	o.Scenarios = splitList(scenarios)
	for _, s := range o.Scenarios {
		if s != ScenarioQoS1 && s != ScenarioQoS0 && s != ScenarioSlow {
			return o, fmt.Errorf("--scenarios %q: each must be %s, %s or %s", scenarios, ScenarioQoS1, ScenarioQoS0, ScenarioSlow)
		}
	}
	switch {
	case len(o.Scenarios) == 0:
		return o, errors.New("--scenarios: none")
	case o.Nodes != 1 && o.Nodes != 3:
		return o, fmt.Errorf("--nodes %d: want 1 or 3", o.Nodes)
	case o.Window < 1 || o.Window > 1000:
		return o, fmt.Errorf("--window %d out of range [1, 1000]", o.Window)
	case o.PayloadBytes < 32 || o.PayloadBytes > 256<<10:
		return o, fmt.Errorf("--payload-size %d out of range [32, 256KiB]", o.PayloadBytes)
	case o.Duration <= 0 || o.Duration > 10*time.Minute:
		return o, fmt.Errorf("--duration %v out of range (0, 10m]", o.Duration)
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, fmt.Errorf("--warmup %v out of range [0, 1m]", o.Warmup)
	case o.Settle < 0 || o.Settle > time.Minute:
		return o, fmt.Errorf("--settle %v out of range [0, 1m]", o.Settle)
	case o.MaxMessages < o.Window:
		return o, fmt.Errorf("--max-messages %d below --window %d", o.MaxMessages, o.Window)
	case o.FaninPubs < 1 || o.FaninPubs > 1000 || o.SlowPubs < 1 || o.SlowPubs > 1000:
		return o, errors.New("--fanin-publishers and --slow-publishers must be in [1, 1000]")
	case o.SlowMessages < o.Window || o.SlowMessages > 1_000_000:
		return o, fmt.Errorf("--slow-messages %d out of range [--window, 1000000]", o.SlowMessages)
	case o.SlowAckDelay < 0 || o.SlowAckDelay > time.Second:
		return o, fmt.Errorf("--slow-ack-delay %v out of range [0, 1s]", o.SlowAckDelay)
	case o.DrainTimeout <= 0 || o.IdleTimeout <= 0 || o.RequestTimeout <= 0 || o.ReadyTimeout <= 0:
		return o, errors.New("timeouts must be positive")
	}
	return o, nil
}

func parseCounts(name, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || n > 1000 {
			return nil, fmt.Errorf("%s %q: each must be an integer in 1..1000", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
