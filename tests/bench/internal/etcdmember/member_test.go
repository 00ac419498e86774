package etcdmember

import (
	"strings"
	"testing"
)

func validArgs() []string {
	return []string{
		"--name", "m1", "--data-dir", "/tmp/x",
		"--client-url", "http://127.0.0.1:1", "--peer-url", "http://127.0.0.1:2",
		"--initial-cluster", "m1=http://127.0.0.1:2,m2=http://127.0.0.1:4",
	}
}

func TestParseFlagsRequiresEverything(t *testing.T) {
	if _, err := ParseFlags(validArgs()); err != nil {
		t.Fatalf("valid args: %v", err)
	}
	for _, drop := range []string{"--name", "--data-dir", "--client-url", "--peer-url", "--initial-cluster"} {
		args := validArgs()
		for i := range args {
			if args[i] == drop {
				args = append(args[:i:i], args[i+2:]...)
				break
			}
		}
		if _, err := ParseFlags(args); err == nil || !strings.Contains(err.Error(), drop) {
			t.Errorf("without %s: err = %v", drop, err)
		}
	}
}

func TestEmbedConfigKeepsLoopbackAndFsync(t *testing.T) {
	c, err := ParseFlags(validArgs())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := embedConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UnsafeNoFsync {
		t.Error("fsync disabled")
	}
	if cfg.ListenClientUrls[0].Host != "127.0.0.1:1" || cfg.ListenPeerUrls[0].Host != "127.0.0.1:2" {
		t.Errorf("urls %v %v", cfg.ListenClientUrls, cfg.ListenPeerUrls)
	}

	tests := []struct{ name, field, value string }{
		{"client on all interfaces", "client", "http://0.0.0.0:1"},
		{"peer on a hostname", "peer", "http://localhost:2"},
		{"cluster member elsewhere", "cluster", "m1=http://127.0.0.1:2,m2=http://10.0.0.1:4"},
		{"cluster entry without name", "cluster", "http://127.0.0.1:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := c
			switch tt.field {
			case "client":
				bad.ClientURL = tt.value
			case "peer":
				bad.PeerURL = tt.value
			case "cluster":
				bad.InitialCluster = tt.value
			}
			if _, err := embedConfig(bad); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
