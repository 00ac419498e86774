package config

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/spf13/pflag"

	cconfig "github.com/robustmq/robustmq-go/common/config"
)

func repoConfig(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "config", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("config file: %v", err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	d := Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("default invalid: %v", err)
	}
	if d.NodeID != 0 || d.GRPCAddr != "127.0.0.1:1229" || d.HTTPAddr != "127.0.0.1:9120" {
		t.Fatalf("defaults: %+v", d)
	}
	l := d.Listeners
	if !l.TCP.Enabled() || l.TCP.Addr != "127.0.0.1:1883" || !l.WS.Enabled() || l.WS.Addr != "127.0.0.1:8083" || l.WS.Path != "/mqtt" {
		t.Fatalf("listeners: %+v", l)
	}
	if l.TLS.Enabled() || l.WSS.Enabled() {
		t.Fatal("TLS listeners on without certificates")
	}
	c := d
	c.Listeners.TLS.CertFile, c.Listeners.TLS.KeyFile = "c.pem", "k.pem"
	if !c.Listeners.TLS.Enabled() || c.Listeners.TLS.Addr != "127.0.0.1:8883" {
		t.Fatal("TLS listener not on 8883 with cert and key")
	}
	c.Listeners.WSS.CertFile, c.Listeners.WSS.KeyFile = "c.pem", "k.pem"
	if !c.Listeners.WSS.Enabled() || c.Listeners.WSS.Addr != "127.0.0.1:8084" {
		t.Fatal("WSS listener not on 8084 with cert and key")
	}
}

func TestValidateRejects(t *testing.T) {
	bad := map[string]func(*Config){
		"no placement":         func(c *Config) { c.Placement = nil },
		"placement no port":    func(c *Config) { c.Placement = []string{"nohost"} },
		"grpc addr":            func(c *Config) { c.GRPCAddr = "x" },
		"http empty":           func(c *Config) { c.HTTPAddr = "" },
		"advertise":            func(c *Config) { c.AdvertiseAddr = "nohostport" },
		"shutdown":             func(c *Config) { c.ShutdownTimeout = 0 },
		"tcp addr":             func(c *Config) { c.Listeners.TCP.Addr = "1883" },
		"ws advertise":         func(c *Config) { c.Listeners.WS.AdvertiseAddr = "x" },
		"cert without key":     func(c *Config) { c.Listeners.TLS.CertFile = "c.pem" },
		"wss key without cert": func(c *Config) { c.Listeners.WSS.KeyFile = "k.pem" },
		"cert without addr": func(c *Config) {
			c.Listeners.TLS.Addr = ""
			c.Listeners.TLS.CertFile, c.Listeners.TLS.KeyFile = "c", "k"
		},
		"ws path":         func(c *Config) { c.Listeners.WS.Path = "mqtt" },
		"all off":         func(c *Config) { c.Listeners.TCP.Addr, c.Listeners.WS.Addr, c.Listeners.Kafka.Addr = "", "", "" },
		"kafka addr":      func(c *Config) { c.Listeners.Kafka.Addr = "nohostport" },
		"kafka parts":     func(c *Config) { c.Kafka.DefaultPartitions = 0 },
		"max conns":       func(c *Config) { c.Limits.MaxConnections = 0 },
		"handshake":       func(c *Config) { c.Limits.HandshakeTimeout = 0 },
		"packet small":    func(c *Config) { c.Limits.MaxPacketSize = 1 },
		"packet big":      func(c *Config) { c.Limits.MaxPacketSize = MaxMQTTPacketSize + 1 },
		"receive max":     func(c *Config) { c.Limits.ReceiveMaximum = 0 },
		"alias max":       func(c *Config) { c.Limits.TopicAliasMaximum = 65536 },
		"keep alive frac": func(c *Config) { c.Limits.ServerKeepAlive = 1500 * time.Millisecond },
		"topic levels":    func(c *Config) { c.Limits.MaxTopicLevels = 0 },
		"inflight":        func(c *Config) { c.Limits.MaxInflight = 0 },
		"queued":          func(c *Config) { c.Limits.MaxQueuedMessages = 0 },
	}
	for name, f := range bad {
		c := Default()
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Default()
	c.Placement = []string{"127.0.0.1:1228,127.0.0.1:2228", " 127.0.0.1:3228"}
	if got := c.PlacementAddrs(); len(got) != 3 || got[2] != "127.0.0.1:3228" {
		t.Fatalf("addrs = %v", got)
	}
}

func load(t *testing.T, path string, args ...string) Config {
	t.Helper()
	fs := pflag.NewFlagSet("broker-server", pflag.ContinueOnError)
	fs.String(cconfig.ConfigFlag, "", "")
	flags := cconfig.NewFlags(fs)
	AddFlags(flags)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	if err := cconfig.Load(cconfig.Options{Path: path, EnvPrefix: EnvPrefix, Flags: fs, FlagKeys: flags.Keys()}, &cfg); err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate %s: %v", path, err)
	}
	return cfg
}

func TestShippedFiles(t *testing.T) {
	want := map[string]struct{ mqtt, ws, grpc, http string }{
		"broker-server.toml": {"127.0.0.1:1883", "127.0.0.1:8083", "127.0.0.1:1229", "127.0.0.1:9120"},
		"broker/node-1.toml": {"127.0.0.1:1883", "127.0.0.1:8083", "127.0.0.1:1229", "127.0.0.1:9120"},
		"broker/node-2.toml": {"127.0.0.1:2883", "127.0.0.1:2083", "127.0.0.1:2229", "127.0.0.1:9121"},
	}
	seen := map[string]string{}
	for file, w := range want {
		c := load(t, repoConfig(t, file))
		if c.Listeners.TCP.Addr != w.mqtt || c.Listeners.WS.Addr != w.ws || c.GRPCAddr != w.grpc || c.HTTPAddr != w.http {
			t.Errorf("%s: mqtt %s ws %s grpc %s http %s", file, c.Listeners.TCP.Addr, c.Listeners.WS.Addr, c.GRPCAddr, c.HTTPAddr)
		}
		if c.NodeID != 0 || c.Listeners.WS.Path != "/mqtt" || c.Listeners.TLS.Enabled() || c.Listeners.WSS.Enabled() {
			t.Errorf("%s: node_id %d path %q tls %v wss %v", file, c.NodeID, c.Listeners.WS.Path, c.Listeners.TLS.Enabled(), c.Listeners.WSS.Enabled())
		}
		if file == "broker-server.toml" {
			if d := Default(); c.Limits != d.Limits || c.ShutdownTimeout != d.ShutdownTimeout {
				t.Errorf("%s: limits %+v differ from the defaults %+v", file, c.Limits, d.Limits)
			}
			continue
		}
		if len(c.PlacementAddrs()) != 3 {
			t.Errorf("%s: placement %v", file, c.Placement)
		}
		// The two cluster brokers must not clash on any port.
		for _, a := range []string{c.GRPCAddr, c.HTTPAddr, c.Listeners.TCP.Addr, c.Listeners.TLS.Addr, c.Listeners.WS.Addr, c.Listeners.WSS.Addr} {
			if other, ok := seen[a]; ok {
				t.Errorf("%s and %s both use %s", file, other, a)
			}
			seen[a] = file
		}
	}
}

func TestEnvAndFlagsOverride(t *testing.T) {
	t.Setenv("ROBUSTMQ_BROKER_LISTENERS_TCP_ADDR", "127.0.0.1:11883")
	t.Setenv("ROBUSTMQ_BROKER_LIMITS_MAX_CONNECTIONS", "7")
	t.Setenv("ROBUSTMQ_BROKER_LISTENERS_TLS_CERT_FILE", "/tmp/c.pem")
	t.Setenv("ROBUSTMQ_BROKER_LISTENERS_TLS_KEY_FILE", "/tmp/k.pem")
	t.Setenv("ROBUSTMQ_BROKER_PLACEMENT", "127.0.0.1:1228,127.0.0.1:2228")
	c := load(t, repoConfig(t, "broker-server.toml"), "--ws-addr", "127.0.0.1:18083", "--node-id", "5")
	if c.Listeners.TCP.Addr != "127.0.0.1:11883" || c.Limits.MaxConnections != 7 {
		t.Fatalf("env not applied: %+v %+v", c.Listeners.TCP, c.Limits)
	}
	if !c.Listeners.TLS.Enabled() || c.Listeners.TLS.CertFile != "/tmp/c.pem" {
		t.Fatalf("env TLS files not applied: %+v", c.Listeners.TLS)
	}
	if got := c.PlacementAddrs(); len(got) != 2 {
		t.Fatalf("placement %v", got)
	}
	if c.Listeners.WS.Addr != "127.0.0.1:18083" || c.NodeID != 5 {
		t.Fatalf("flags not applied: ws %s node %d", c.Listeners.WS.Addr, c.NodeID)
	}
}

func TestUnknownKeyRejected(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.toml")
	// path belongs to the WebSocket listeners only.
	if err := os.WriteFile(p, []byte("[listeners.tcp]\npath = \"/x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	if err := cconfig.Load(cconfig.Options{Path: p, EnvPrefix: EnvPrefix}, &cfg); err == nil {
		t.Fatal("listeners.tcp.path accepted")
	}
}
