package config

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestFlagsDeclareKeyOnce(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f := NewFlags(fs)
	f.String("grpc-addr", "grpc_addr", "127.0.0.1:1", "")
	f.StringSlice("placement", "placement", []string{"a:1"}, "")
	f.Bool("join", "raft.join", false, "")
	f.Uint64("node-id", "node_id", 1, "")
	f.Duration("lease", "registry.lease", time.Second, "")
	if err := fs.Parse([]string{"--grpc-addr", "127.0.0.1:9", "--lease", "3s", "--join"}); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		GRPCAddr  string   `mapstructure:"grpc_addr"`
		Placement []string `mapstructure:"placement"`
		NodeID    uint64   `mapstructure:"node_id"`
		Raft      struct {
			Join bool `mapstructure:"join"`
		} `mapstructure:"raft"`
		Registry struct {
			Lease time.Duration `mapstructure:"lease"`
		} `mapstructure:"registry"`
	}
	cfg.NodeID = 7
	if err := Load(Options{EnvPrefix: "RMQTEST_FLAGS", Flags: fs, FlagKeys: f.Keys()}, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCAddr != "127.0.0.1:9" || cfg.Registry.Lease != 3*time.Second || !cfg.Raft.Join || cfg.NodeID != 7 {
		t.Fatalf("set flags must override their keys, unset ones must not: %+v", cfg)
	}
	keys := f.Keys()
	keys["grpc-addr"] = "changed"
	if f.Keys()["grpc-addr"] != "grpc_addr" {
		t.Fatal("Keys must return a copy")
	}
}
