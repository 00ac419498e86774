package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	cconfig "github.com/robustmq/robustmq-go/common/config"
)

// EnvPrefix prefixes every environment override, e.g.
// ROBUSTMQ_JOURNAL_SEGMENT_MAX_BYTES.
const EnvPrefix = "ROBUSTMQ_JOURNAL"

// Config is the whole journal server configuration.
type Config struct {
	// NodeID identifies this journal node for its whole life; its data
	// belongs to it, so it must stay the same across restarts.
	NodeID   uint64 `mapstructure:"node_id"`
	DataDir  string `mapstructure:"data_dir"`
	GRPCAddr string `mapstructure:"grpc_addr"`
	HTTPAddr string `mapstructure:"http_addr"`
	// AdvertiseAddr is the gRPC address registered with the placement
	// center for clients and peers; empty means the bound gRPC address.
	AdvertiseAddr string `mapstructure:"advertise_addr"`
	// Placement lists the placement center members as host:port.
	Placement   []string          `mapstructure:"placement"`
	Segment     SegmentConfig     `mapstructure:"segment"`
	Limits      LimitsConfig      `mapstructure:"limits"`
	Replication ReplicationConfig `mapstructure:"replication"`
	Log         LogConfig         `mapstructure:"log"`
}

// ReplicationConfig tunes the segment leaders' replication.
type ReplicationConfig struct {
	// LazySyncInterval: a follower whose copy the ack quorum does not need
	// (with replicas 3 and ack quorum 2, the second follower) appends
	// without fsync and syncs at most this long after, or at once when its
	// copy becomes needed. 0: every follower syncs every batch before it
	// answers.
	LazySyncInterval time.Duration `mapstructure:"lazy_sync_interval"`
}

// SegmentConfig holds the per-stream defaults for segments.
type SegmentConfig struct {
	// MaxBytes rolls a segment (seal + open the next) past this size.
	MaxBytes uint64 `mapstructure:"max_bytes"`
	// MaxAge rolls a segment older than this.
	MaxAge time.Duration `mapstructure:"max_age"`
	// RetentionTime deletes sealed segments whose newest record is older.
	RetentionTime time.Duration `mapstructure:"retention_time"`
	// RetentionBytes deletes the oldest sealed segments of a shard past
	// this total size (0: no size limit).
	RetentionBytes uint64 `mapstructure:"retention_bytes"`
}

// LimitsConfig bounds what a request may carry.
type LimitsConfig struct {
	MaxBatchBytes   int `mapstructure:"max_batch_bytes"`
	MaxBatchRecords int `mapstructure:"max_batch_records"`
	MaxRequestBytes int `mapstructure:"max_request_bytes"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Default is a single development node on 127.0.0.1:1778.
func Default() Config {
	return Config{
		NodeID:    1,
		DataDir:   "./data/journal-1",
		GRPCAddr:  "127.0.0.1:1778",
		HTTPAddr:  "127.0.0.1:9110",
		Placement: []string{"127.0.0.1:1228"},
		Segment: SegmentConfig{
			MaxBytes:      256 << 20,
			MaxAge:        time.Hour,
			RetentionTime: 7 * 24 * time.Hour,
		},
		Limits:      LimitsConfig{MaxBatchBytes: 4 << 20, MaxBatchRecords: 100000, MaxRequestBytes: 8 << 20},
		Replication: ReplicationConfig{LazySyncInterval: 10 * time.Millisecond},
		Log:         LogConfig{Level: "info", Format: "auto"},
	}
}

// AddFlags declares the journal server's own flags, each with the key it
// overrides (--config and --data-dir come from common/servicemain).
func AddFlags(f *cconfig.Flags) {
	d := Default()
	f.Uint64("node-id", "node_id", d.NodeID, "this journal node's id (keep it across restarts)")
	f.String("grpc-addr", "grpc_addr", d.GRPCAddr, "gRPC listen address")
	f.String("http-addr", "http_addr", d.HTTPAddr, "HTTP listen address for /metrics and /healthz")
	f.String("advertise-addr", "advertise_addr", "", "gRPC address registered with the placement center (default: the bound gRPC address)")
	f.StringSlice("placement", "placement", d.Placement, "placement center members host:port,...")
	f.Uint64("segment-max-bytes", "segment.max_bytes", d.Segment.MaxBytes, "roll a segment past this many bytes")
	f.Duration("segment-max-age", "segment.max_age", d.Segment.MaxAge, "roll a segment older than this")
	f.String("log-level", "log.level", d.Log.Level, "log level: debug, info, warn, error")
	f.String("log-format", "log.format", d.Log.Format, "log format: auto, json, console")
}

// PlacementAddrs flattens Placement (entries may hold comma lists).
func (c Config) PlacementAddrs() []string {
	var out []string
	for _, p := range c.Placement {
		for _, a := range strings.Split(p, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
	}
	return out
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
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
			return fmt.Errorf("advertise_addr: %w", err)
		}
	}
	if len(c.PlacementAddrs()) == 0 {
		return fmt.Errorf("placement must list at least one placement center address")
	}
	for _, a := range c.PlacementAddrs() {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("placement %q: %w", a, err)
		}
	}
	if c.Replication.LazySyncInterval < 0 || c.Replication.LazySyncInterval > time.Second {
		return fmt.Errorf("replication: lazy_sync_interval must be between 0 and 1s")
	}
	if c.Limits.MaxBatchBytes <= 0 || c.Limits.MaxRequestBytes < c.Limits.MaxBatchBytes {
		return fmt.Errorf("limits: max_request_bytes must be at least max_batch_bytes > 0")
	}
	return nil
}
