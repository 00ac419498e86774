package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	cconfig "github.com/robustmq/robustmq-go/common/config"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// EnvPrefix prefixes every environment override, e.g.
// ROBUSTMQ_PLACEMENT_RAFT_ELECTION_TICKS.
const EnvPrefix = "ROBUSTMQ_PLACEMENT"

// Config is the whole placement center configuration.
type Config struct {
	NodeID   uint64         `mapstructure:"node_id"`
	DataDir  string         `mapstructure:"data_dir"`
	GRPCAddr string         `mapstructure:"grpc_addr"`
	HTTPAddr string         `mapstructure:"http_addr"`
	Raft     RaftConfig     `mapstructure:"raft"`
	Registry RegistryConfig `mapstructure:"registry"`
	Limits   LimitsConfig   `mapstructure:"limits"`
	Log      LogConfig      `mapstructure:"log"`
}

// RaftConfig tunes the Raft member.
type RaftConfig struct {
	// Peers are the bootstrap voters as "id=host:port".
	Peers           []string      `mapstructure:"peers"`
	Join            bool          `mapstructure:"join"`
	TickInterval    time.Duration `mapstructure:"tick_interval"`
	ElectionTicks   int           `mapstructure:"election_ticks"`
	HeartbeatTicks  int           `mapstructure:"heartbeat_ticks"`
	SnapshotEntries uint64        `mapstructure:"snapshot_entries"`
	CompactKeep     uint64        `mapstructure:"compact_keep"`
}

// RegistryConfig tunes node leases and the leader's health probes of
// registered nodes.
type RegistryConfig struct {
	Lease time.Duration `mapstructure:"lease"`
	// ProbeInterval is how often the leader health-checks each node (on
	// top of a health Watch stream); zero turns probing off, leaving
	// failure detection to the lease.
	ProbeInterval time.Duration `mapstructure:"probe_interval"`
	// ProbeTimeout bounds one health check.
	ProbeTimeout time.Duration `mapstructure:"probe_timeout"`
	// ProbeAttempts failed probes in a row declare a node dead.
	ProbeAttempts int `mapstructure:"probe_attempts"`
	// ProbeBackoff is the pause between two probes.
	ProbeBackoff time.Duration `mapstructure:"probe_backoff"`
}

// LimitsConfig bounds request sizes.
type LimitsConfig struct {
	MaxRequestBytes int `mapstructure:"max_request_bytes"`
	MaxValueBytes   int `mapstructure:"max_value_bytes"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Default is a single development node on 127.0.0.1:1228.
func Default() Config {
	return Config{
		NodeID:   1,
		DataDir:  "./data/placement-1",
		GRPCAddr: "127.0.0.1:1228",
		HTTPAddr: "127.0.0.1:9100",
		Raft: RaftConfig{
			Peers:           []string{"1=127.0.0.1:1228"},
			TickInterval:    100 * time.Millisecond,
			ElectionTicks:   10,
			HeartbeatTicks:  1,
			SnapshotEntries: 10000,
			CompactKeep:     1000,
		},
		Registry: RegistryConfig{
			Lease:         10 * time.Second,
			ProbeInterval: 500 * time.Millisecond,
			ProbeTimeout:  300 * time.Millisecond,
			ProbeAttempts: 3,
			ProbeBackoff:  150 * time.Millisecond,
		},
		Limits: LimitsConfig{MaxRequestBytes: 64 << 20, MaxValueBytes: 1 << 20},
		Log:    LogConfig{Level: "info", Format: "auto"},
	}
}

// AddFlags declares the placement center's own flags, each with the key it
// overrides (--config and --data-dir come from common/servicemain).
func AddFlags(f *cconfig.Flags) {
	d := Default()
	f.Uint64("node-id", "node_id", d.NodeID, "this member's Raft id")
	f.String("grpc-addr", "grpc_addr", d.GRPCAddr, "gRPC listen address (clients, admin, Raft peers)")
	f.String("http-addr", "http_addr", d.HTTPAddr, "HTTP listen address for /metrics and /healthz")
	f.StringSlice("peers", "raft.peers", d.Raft.Peers, "bootstrap voters id=host:port,... (fresh data dir only)")
	f.Bool("join", "raft.join", false, "join an existing cluster (after cluster add-member)")
	f.Uint64("snapshot-entries", "raft.snapshot_entries", d.Raft.SnapshotEntries, "compact the log (the leader also snapshots) every N applied entries")
	f.Uint64("compact-keep", "raft.compact_keep", d.Raft.CompactKeep, "log entries kept behind a snapshot for slow followers")
	f.Duration("lease", "registry.lease", d.Registry.Lease, "broker/journal node lease")
	f.String("log-level", "log.level", d.Log.Level, "log level: debug, info, warn, error")
	f.String("log-format", "log.format", d.Log.Format, "log format: auto, json, console")
}

// Members parses Raft.Peers.
func (c Config) Members() ([]*placementpb.Member, error) {
	var out []*placementpb.Member
	seen := map[uint64]bool{}
	for _, p := range c.Raft.Peers {
		for _, item := range strings.Split(p, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			idStr, addr, ok := strings.Cut(item, "=")
			if !ok {
				return nil, fmt.Errorf("raft.peers: %q is not id=host:port", item)
			}
			id, err := strconv.ParseUint(idStr, 10, 64)
			if err != nil || id == 0 {
				return nil, fmt.Errorf("raft.peers: %q: id must be a positive integer", item)
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, fmt.Errorf("raft.peers: %q: %w", item, err)
			}
			if seen[id] {
				return nil, fmt.Errorf("raft.peers: id %d listed twice", id)
			}
			seen[id] = true
			out = append(out, &placementpb.Member{Id: id, Addr: addr})
		}
	}
	return out, nil
}

// Validate checks the configuration for mistakes an operator can fix.
func (c Config) Validate() error {
	if c.NodeID == 0 {
		return fmt.Errorf("node_id must be positive")
	}
	if c.DataDir == "" {
		return fmt.Errorf("data_dir must be set")
	}
	if _, _, err := net.SplitHostPort(c.GRPCAddr); err != nil {
		return fmt.Errorf("grpc_addr: %w", err)
	}
	members, err := c.Members()
	if err != nil {
		return err
	}
	if !c.Raft.Join {
		found := false
		for _, m := range members {
			if m.GetId() == c.NodeID {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("raft.peers must list node_id %d (or set raft.join)", c.NodeID)
		}
	}
	if c.Raft.ElectionTicks <= c.Raft.HeartbeatTicks {
		return fmt.Errorf("raft.election_ticks must exceed raft.heartbeat_ticks")
	}
	if r := c.Registry; r.ProbeInterval > 0 {
		switch {
		case r.ProbeTimeout <= 0:
			return fmt.Errorf("registry.probe_timeout must be positive when registry.probe_interval is set")
		case r.ProbeAttempts < 1:
			return fmt.Errorf("registry.probe_attempts must be at least 1 when registry.probe_interval is set")
		case r.ProbeBackoff < 0:
			return fmt.Errorf("registry.probe_backoff must not be negative")
		}
	}
	return nil
}
