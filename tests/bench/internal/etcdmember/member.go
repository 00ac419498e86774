package etcdmember

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Config is one member's identity and URLs.
type Config struct {
	Name           string
	DataDir        string
	ClientURL      string // e.g. http://127.0.0.1:23790
	PeerURL        string // e.g. http://127.0.0.1:23800
	InitialCluster string // name=peerURL,name=peerURL,...
	ClusterToken   string
	LogLevel       string
	ReadyTimeout   time.Duration
}

// ParseFlags reads the etcd-member subcommand's arguments.
func ParseFlags(args []string) (Config, error) {
	fs := flag.NewFlagSet("etcd-member", flag.ContinueOnError)
	var c Config
	fs.StringVar(&c.Name, "name", "", "member name")
	fs.StringVar(&c.DataDir, "data-dir", "", "fresh data directory")
	fs.StringVar(&c.ClientURL, "client-url", "", "client URL, http://127.0.0.1:PORT")
	fs.StringVar(&c.PeerURL, "peer-url", "", "peer URL, http://127.0.0.1:PORT")
	fs.StringVar(&c.InitialCluster, "initial-cluster", "", "name=peerURL,... of all members")
	fs.StringVar(&c.ClusterToken, "cluster-token", "robustmq-bench", "initial cluster token")
	fs.StringVar(&c.LogLevel, "log-level", "warn", "etcd log level")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", 20*time.Second, "how long the member may take to join its cluster")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	for name, v := range map[string]string{"name": c.Name, "data-dir": c.DataDir, "client-url": c.ClientURL, "peer-url": c.PeerURL, "initial-cluster": c.InitialCluster} {
		if v == "" {
			return Config{}, fmt.Errorf("etcd-member: --%s is required", name)
		}
	}
	return c, nil
}

// loopbackURL parses raw and refuses anything not on 127.0.0.1, so a
// mistake can never make the benchmark listen on a real interface.
func loopbackURL(raw string) (url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return url.URL{}, fmt.Errorf("etcd-member: url %q: %w", raw, err)
	}
	if u.Hostname() != "127.0.0.1" {
		return url.URL{}, fmt.Errorf("etcd-member: url %q is not on 127.0.0.1", raw)
	}
	return *u, nil
}

// embedConfig builds the embed configuration: etcd's defaults (heartbeat
// 100 ms, election 1000 ms, WAL fsync on, snapshot every 10000 entries)
// with only identity, URLs and logging set.
func embedConfig(c Config) (*embed.Config, error) {
	client, err := loopbackURL(c.ClientURL)
	if err != nil {
		return nil, err
	}
	peer, err := loopbackURL(c.PeerURL)
	if err != nil {
		return nil, err
	}
	for _, m := range strings.Split(c.InitialCluster, ",") {
		_, u, ok := strings.Cut(m, "=")
		if !ok {
			return nil, fmt.Errorf("etcd-member: initial-cluster entry %q is not name=url", m)
		}
		if _, err := loopbackURL(u); err != nil {
			return nil, err
		}
	}
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.DataDir
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = c.InitialCluster
	cfg.InitialClusterToken = c.ClusterToken
	cfg.ClusterState = embed.ClusterStateFlagNew
	cfg.Logger = "zap"
	cfg.LogLevel = c.LogLevel
	cfg.LogOutputs = []string{"stderr"}
	cfg.UnsafeNoFsync = false // explicit: the comparison is fsync against fsync
	return cfg, nil
}

// Run starts the member, waits for it to be ready, and serves until ctx is
// done or the server fails; it then closes the server.
func Run(ctx context.Context, c Config) error {
	cfg, err := embedConfig(c)
	if err != nil {
		return err
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcd-member %s: start: %w", c.Name, err)
	}
	defer e.Close()

	ready := time.NewTimer(c.ReadyTimeout)
	defer ready.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case <-ready.C:
		return fmt.Errorf("etcd-member %s: not ready within %v", c.Name, c.ReadyTimeout)
	case err := <-e.Err():
		return fmt.Errorf("etcd-member %s: %w", c.Name, err)
	case <-ctx.Done():
		return nil
	}

	select {
	case <-ctx.Done():
		return nil
	case err := <-e.Err():
		if err == nil {
			return errors.New("etcd-member: server stopped")
		}
		return fmt.Errorf("etcd-member %s: %w", c.Name, err)
	case <-e.Server.StopNotify():
		return fmt.Errorf("etcd-member %s: server stopped", c.Name)
	}
}
