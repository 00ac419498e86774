package mqtt

import (
	"strings"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// $SYS statistics (docs/mqtt.md) from real brokers: each publishes its own
// under $SYS/brokers/{node id}/ as retained messages kept by the cluster, so
// a client on one broker reads both brokers' statistics; '#' does not see
// them.
func TestIntegrationSysTopics(t *testing.T) {
	pc := harness.StartPlacement(t, harness.PlacementOptions{Members: 1})
	harness.StartJournal(t, harness.JournalOptions{Nodes: 1, Placement: pc.Addrs()})
	bc := harness.StartBroker(t, harness.BrokerOptions{Brokers: 2, Placement: pc.Addrs(),
		Env: []string{"ROBUSTMQ_BROKER_MQTT_SYS_INTERVAL=1s"}})

	all := newSink()
	a := connect3(t, "tcp://"+bc.Broker(0).MQTT, "sys-all", true, all, nil)
	tok(t, a.Subscribe("#", 0, nil))
	s := newSink()
	c := connect3(t, "tcp://"+bc.Broker(0).MQTT, "sys-sub", true, s, nil)
	tok(t, c.Subscribe("$SYS/brokers/+/uptime", 0, nil))

	nodes := map[string]bool{}
	for len(nodes) < 2 {
		m := s.next(t)
		node, rest, ok := strings.Cut(strings.TrimPrefix(m.topic, "$SYS/brokers/"), "/")
		if !strings.HasPrefix(m.topic, "$SYS/brokers/") || !ok || rest != "uptime" || m.payload == "" {
			t.Fatalf("got %+v", m)
		}
		nodes[node] = true
	}
	all.none(t, 1500*time.Millisecond) // at least one more reading of each broker
}
