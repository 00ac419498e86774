package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type raftSection struct {
	ElectionTick int           `mapstructure:"election_tick"`
	Peers        []string      `mapstructure:"peers"`
	TickInterval time.Duration `mapstructure:"tick_interval"`
}

type logSection struct {
	Level string `mapstructure:"level"`
}

type testConfig struct {
	NodeID  uint64        `mapstructure:"node_id"`
	DataDir string        `mapstructure:"data_dir"`
	Lease   time.Duration `mapstructure:"lease"`
	Raft    raftSection   `mapstructure:"raft"`
	Log     logSection    `mapstructure:"log"`
}

func defaults() testConfig {
	return testConfig{
		NodeID:  1,
		DataDir: "./data",
		Lease:   10 * time.Second,
		Raft:    raftSection{ElectionTick: 10, Peers: []string{"1=127.0.0.1:1228"}, TickInterval: 100 * time.Millisecond},
		Log:     logSection{Level: "info"},
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

// flags returns a parsed flag set with the standard flags and the test's
// own, mapped as a service would map them.
func flags(t *testing.T, args ...string) (*pflag.FlagSet, map[string]string) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String(ConfigFlag, "", "")
	fs.String(DataDirFlag, "", "")
	fs.Int("election-tick", 10, "")
	fs.StringSlice("peers", nil, "")
	fs.Duration("lease", 10*time.Second, "")
	fs.String("log-level", "info", "")
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags: %v", err)
	}
	return fs, map[string]string{
		DataDirFlag:     DataDirKey,
		"election-tick": "raft.election_tick",
		"peers":         "raft.peers",
		"lease":         "lease",
		"log-level":     "log.level",
	}
}

func TestPrecedence(t *testing.T) {
	const prefix = "RMQTEST_PREC"
	const env = prefix + "_RAFT_ELECTION_TICK"
	cases := []struct {
		name    string
		file    bool
		env     bool
		flag    bool
		want    int
		comment string
	}{
		{"default only", false, false, false, 10, "struct value"},
		{"file over default", true, false, false, 20, ""},
		{"env over file", true, true, false, 30, ""},
		{"env without file key", false, true, false, 30, "key absent from file"},
		{"flag over env", true, true, true, 40, ""},
		{"flag over file", true, false, true, 40, ""},
		{"flag over default", false, false, true, 40, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := "node_id = 2\n"
			if tc.file {
				body += "[raft]\nelection_tick = 20\n"
			}
			path := writeFile(t, body)
			if tc.env {
				t.Setenv(env, "30")
			}
			var args []string
			if tc.flag {
				args = append(args, "--election-tick=40")
			}
			fs, keys := flags(t, args...)
			cfg := defaults()
			if err := Load(Options{Path: path, EnvPrefix: prefix, Flags: fs, FlagKeys: keys}, &cfg); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Raft.ElectionTick != tc.want {
				t.Fatalf("raft.election_tick = %d, want %d", cfg.Raft.ElectionTick, tc.want)
			}
			if cfg.NodeID != 2 {
				t.Fatalf("node_id = %d, want 2 from the file", cfg.NodeID)
			}
			// Untouched keys keep their defaults.
			if cfg.Log.Level != "info" || cfg.Raft.TickInterval != 100*time.Millisecond {
				t.Fatalf("defaults lost: %+v", cfg)
			}
		})
	}
}

func TestDurationsAndSlices(t *testing.T) {
	const prefix = "RMQTEST_TYPES"
	cases := []struct {
		name      string
		file      string
		env       map[string]string
		args      []string
		wantLease time.Duration
		wantTick  time.Duration
		wantPeers []string
	}{
		{
			name:      "from file",
			file:      "lease = \"5s\"\n[raft]\ntick_interval = \"250ms\"\npeers = [\"1=a:1\", \"2=b:2\"]\n",
			wantLease: 5 * time.Second, wantTick: 250 * time.Millisecond,
			wantPeers: []string{"1=a:1", "2=b:2"},
		},
		{
			name:      "from environment",
			env:       map[string]string{prefix + "_LEASE": "1m", prefix + "_RAFT_TICK_INTERVAL": "2s", prefix + "_RAFT_PEERS": "1=a:1,2=b:2,3=c:3"},
			wantLease: time.Minute, wantTick: 2 * time.Second,
			wantPeers: []string{"1=a:1", "2=b:2", "3=c:3"},
		},
		{
			name:      "from flags",
			file:      "lease = \"5s\"\n[raft]\npeers = [\"1=a:1\"]\n",
			args:      []string{"--lease=3s", "--peers=7=x:7,8=y:8"},
			wantLease: 3 * time.Second, wantTick: 100 * time.Millisecond,
			wantPeers: []string{"7=x:7", "8=y:8"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fs, keys := flags(t, tc.args...)
			opts := Options{EnvPrefix: prefix, Flags: fs, FlagKeys: keys}
			if tc.file != "" {
				opts.Path = writeFile(t, tc.file)
			}
			cfg := defaults()
			if err := Load(opts, &cfg); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Lease != tc.wantLease || cfg.Raft.TickInterval != tc.wantTick {
				t.Fatalf("lease, tick = %v, %v; want %v, %v", cfg.Lease, cfg.Raft.TickInterval, tc.wantLease, tc.wantTick)
			}
			if !reflect.DeepEqual(cfg.Raft.Peers, tc.wantPeers) {
				t.Fatalf("peers = %q, want %q", cfg.Raft.Peers, tc.wantPeers)
			}
		})
	}
}

func TestNoPathMeansDefaults(t *testing.T) {
	cfg := defaults()
	if err := Load(Options{EnvPrefix: "RMQTEST_NOPATH"}, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(cfg, defaults()) {
		t.Fatalf("cfg = %+v, want defaults %+v", cfg, defaults())
	}
}

func TestConfigFlagNamesFile(t *testing.T) {
	path := writeFile(t, "data_dir = \"/from/file\"\n")
	fs, keys := flags(t, "--config", path)
	cfg := defaults()
	if err := Load(Options{EnvPrefix: "RMQTEST_CFGFLAG", Flags: fs, FlagKeys: keys}, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.DataDir != "/from/file" {
		t.Fatalf("data_dir = %q, want the file's", cfg.DataDir)
	}

	fs, keys = flags(t, "--config", path, "--data-dir", "/from/flag")
	cfg = defaults()
	if err := Load(Options{EnvPrefix: "RMQTEST_CFGFLAG", Flags: fs, FlagKeys: keys}, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.DataDir != "/from/flag" {
		t.Fatalf("data_dir = %q, want --data-dir's", cfg.DataDir)
	}
}

func TestUnsetFlagDefaultDoesNotOverride(t *testing.T) {
	// --log-level defaults to "info" but the file says "debug": an unset
	// flag must not win.
	path := writeFile(t, "[log]\nlevel = \"debug\"\n")
	fs, keys := flags(t)
	cfg := defaults()
	if err := Load(Options{Path: path, EnvPrefix: "RMQTEST_UNSET", Flags: fs, FlagKeys: keys}, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Log.Level != "debug" {
		t.Fatalf("log.level = %q, want the file's debug", cfg.Log.Level)
	}
}

func TestErrors(t *testing.T) {
	fs, keys := flags(t)
	cases := []struct {
		name    string
		opts    Options
		target  func() any
		wantSub string
	}{
		{"missing named file", Options{Path: filepath.Join(t.TempDir(), "absent.toml")}, func() any { c := defaults(); return &c }, "absent.toml"},
		{"malformed toml", Options{Path: writeFile(t, "node_id = = 3\n")}, func() any { c := defaults(); return &c }, "test.toml"},
		{"unknown key", Options{Path: writeFile(t, "[raft]\nelection_tik = 3\n")}, func() any { c := defaults(); return &c }, "election_tik"},
		{"wrong type", Options{Path: writeFile(t, "node_id = \"three\"\n")}, func() any { c := defaults(); return &c }, "node_id"},
		{"bad duration", Options{Path: writeFile(t, "lease = \"soon\"\n")}, func() any { c := defaults(); return &c }, "lease"},
		{"undefined flag key", Options{Flags: fs, FlagKeys: map[string]string{"nope": "x"}}, func() any { c := defaults(); return &c }, "--nope"},
		{"flag keys without flags", Options{FlagKeys: keys}, func() any { c := defaults(); return &c }, "without Flags"},
		{"non-pointer target", Options{}, func() any { return defaults() }, "pointer"},
		{"nil target", Options{}, func() any { return (*testConfig)(nil) }, "pointer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Load(tc.opts, tc.target())
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("error %q does not mention %q", err, tc.wantSub)
			}
		})
	}
}

func TestAllowUnknownKeys(t *testing.T) {
	path := writeFile(t, "node_id = 5\n[other_service]\nport = 1\n")
	cfg := defaults()
	if err := Load(Options{Path: path, AllowUnknownKeys: true}, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.NodeID != 5 {
		t.Fatalf("node_id = %d, want 5", cfg.NodeID)
	}
}

func TestSquashedAndUntaggedFields(t *testing.T) {
	type Common struct {
		Region string `mapstructure:"region"`
	}
	type withSquash struct {
		Common `mapstructure:",squash"`
		Port   int
	}
	const prefix = "RMQTEST_SQUASH"
	t.Setenv(prefix+"_REGION", "eu")
	t.Setenv(prefix+"_PORT", "99")
	cfg := withSquash{Common: Common{Region: "us"}, Port: 1}
	if err := Load(Options{EnvPrefix: prefix}, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Region != "eu" || cfg.Port != 99 {
		t.Fatalf("cfg = %+v, want region eu, port 99", cfg)
	}
}
