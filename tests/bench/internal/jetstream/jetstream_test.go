package jetstream

import (
	"strings"
	"testing"
)

func TestConfig(t *testing.T) {
	routes := []string{"nats://127.0.0.1:1", "nats://127.0.0.1:2", "nats://127.0.0.1:3"}
	always := config("a-n1", "a", "127.0.0.1:10", "127.0.0.1:11", "127.0.0.1:1", "/tmp/x/store", routes, true)
	def := config("d-n1", "d", "127.0.0.1:10", "127.0.0.1:11", "127.0.0.1:1", "/tmp/x/store", routes, false)
	for _, want := range []string{`server_name: "a-n1"`, `listen: "127.0.0.1:10"`, `http: "127.0.0.1:11"`, `store_dir: "/tmp/x/store"`,
		`sync_interval: "always"`, `name: "a"`, `listen: "127.0.0.1:1"`, `"nats://127.0.0.1:3"`} {
		if !strings.Contains(always, want) {
			t.Errorf("config lacks %s:\n%s", want, always)
		}
	}
	if strings.Contains(def, "sync_interval") {
		t.Errorf("default config sets sync_interval:\n%s", def)
	}
}
