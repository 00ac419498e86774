package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"
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
	Placement []string      `mapstructure:"placement"`
	Segment   SegmentConfig `mapstructure:"segment"`
	Limits    LimitsConfig  `mapstructure:"limits"`
	Log       LogConfig     `mapstructure:"log"`
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
		Limits: LimitsConfig{MaxBatchBytes: 4 << 20, MaxBatchRecords: 100000, MaxRequestBytes: 8 << 20},
		Log:    LogConfig{Level: "info", Format: "auto"},
	}
}

var flagKeys = map[string]string{
	"node-id":           "node_id",
	"grpc-addr":         "grpc_addr",
	"http-addr":         "http_addr",
	"advertise-addr":    "advertise_addr",
	"placement":         "placement",
	"segment-max-bytes": "segment.max_bytes",
	"segment-max-age":   "segment.max_age",
	"log-level":         "log.level",
	"log-format":        "log.format",
}

// FlagKeys returns the flag name -> config key mapping for config.Load.
func FlagKeys() map[string]string {
	out := make(map[string]string, len(flagKeys))
	for k, v := range flagKeys {
		out[k] = v
	}
	return out
}

// AddFlags defines the journal server's own flags (--config and --data-dir
// come from common/config).
func AddFlags(fs *pflag.FlagSet) {
	d := Default()
	fs.Uint64("node-id", d.NodeID, "this journal node's id (keep it across restarts)")
	fs.String("grpc-addr", d.GRPCAddr, "gRPC listen address")
	fs.String("http-addr", d.HTTPAddr, "HTTP listen address for /metrics and /healthz")
	fs.String("advertise-addr", "", "gRPC address registered with the placement center (default: the bound gRPC address)")
	fs.StringSlice("placement", d.Placement, "placement center members host:port,...")
	fs.Uint64("segment-max-bytes", d.Segment.MaxBytes, "roll a segment past this many bytes")
	fs.Duration("segment-max-age", d.Segment.MaxAge, "roll a segment older than this")
	fs.String("log-level", d.Log.Level, "log level: debug, info, warn, error")
	fs.String("log-format", d.Log.Format, "log format: auto, json, console")
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
	if c.Limits.MaxBatchBytes <= 0 || c.Limits.MaxRequestBytes < c.Limits.MaxBatchBytes {
		return fmt.Errorf("limits: max_request_bytes must be at least max_batch_bytes > 0")
	}
	return nil
}
