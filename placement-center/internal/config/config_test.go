package config

import "testing"

func TestMembers(t *testing.T) {
	c := Default()
	c.Raft.Peers = []string{"1=127.0.0.1:1228,2=127.0.0.1:2228", "3=127.0.0.1:3228"}
	ms, err := c.Members()
	if err != nil || len(ms) != 3 || ms[2].GetId() != 3 || ms[1].GetAddr() != "127.0.0.1:2228" {
		t.Fatalf("members = %v, %v", ms, err)
	}
	for _, bad := range []string{"x=127.0.0.1:1", "1", "0=127.0.0.1:1", "1=nohost", "1=a:1,1=b:2"} {
		c.Raft.Peers = []string{bad}
		if _, err := c.Members(); err == nil {
			t.Errorf("peers %q accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	c := Default()
	c.NodeID = 2
	if err := c.Validate(); err == nil {
		t.Fatal("node missing from peers accepted")
	}
	c.Raft.Join = true
	if err := c.Validate(); err != nil {
		t.Fatalf("joining node rejected: %v", err)
	}
}

func TestValidateProbe(t *testing.T) {
	c := Default()
	if c.Registry.ProbeInterval <= 0 || c.Registry.ProbeTimeout <= 0 || c.Registry.ProbeAttempts < 1 {
		t.Fatalf("probing off or unset by default: %+v", c.Registry)
	}
	for name, mut := range map[string]func(*RegistryConfig){
		"timeout":  func(r *RegistryConfig) { r.ProbeTimeout = 0 },
		"attempts": func(r *RegistryConfig) { r.ProbeAttempts = 0 },
		"backoff":  func(r *RegistryConfig) { r.ProbeBackoff = -1 },
	} {
		c := Default()
		mut(&c.Registry)
		if err := c.Validate(); err == nil {
			t.Errorf("bad probe %s accepted", name)
		}
		c.Registry.ProbeInterval = 0 // probing off: the rest is unused
		if err := c.Validate(); err != nil {
			t.Errorf("probing off, bad %s: %v", name, err)
		}
	}
}
