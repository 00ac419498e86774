package config

import (
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("default invalid: %v", err)
	}
	c := Default()
	c.Placement = []string{"127.0.0.1:1228,127.0.0.1:2228", " 127.0.0.1:3228"}
	if got := c.PlacementAddrs(); len(got) != 3 || got[2] != "127.0.0.1:3228" {
		t.Fatalf("addrs = %v", got)
	}
	bad := []func(*Config){
		func(c *Config) { c.NodeID = 0 },
		func(c *Config) { c.Placement = nil },
		func(c *Config) { c.Placement = []string{"nohost"} },
		func(c *Config) { c.GRPCAddr = "x" },
		func(c *Config) { c.AdvertiseAddr = "nohostport" },
		func(c *Config) { c.Limits.MaxRequestBytes = 1 },
		func(c *Config) { c.Replication.LazySyncInterval = -time.Millisecond },
		func(c *Config) { c.Replication.LazySyncInterval = 2 * time.Second },
	}
	for i, f := range bad {
		c := Default()
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}
