package observability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// wait bounds one client operation or one expected message.
const wait = 15 * time.Second

// service is one scraped process.
type service struct {
	kind string // placement, journal or broker: the metric prefix it owns
	name string
	addr string
}

// TestIntegrationDashboardMetricsExist starts 3 placement members, 3
// journal nodes and a broker on loopback, publishes and subscribes through
// the broker with paho (QoS 0 and 1), scrapes every service's /metrics
// and fails when a metric a query of deploy/grafana/robustmq.json selects
// is missing. A robustmq_<service>_ metric must come from that service;
// go_ and process_ ones from each of them. Some series appear only once
// there is something to report (the leaders' per-follower lag), so the
// scrape is retried for a bounded time before the test gives up.
func TestIntegrationDashboardMetricsExist(t *testing.T) {
	d, err := LoadDashboard(dashboardPath(t))
	if err != nil {
		t.Fatal(err)
	}
	queried := map[string][]string{} // metric -> panels
	for _, p := range d.AllPanels() {
		for _, q := range p.Targets {
			for _, n := range MetricNames(q.Expr) {
				queried[n] = append(queried[n], p.Title)
			}
		}
	}
	if len(queried) < 20 {
		t.Fatalf("the dashboard queries %d metrics; expected the three services' metrics", len(queried))
	}

	pc := harness.StartPlacement(t, harness.PlacementOptions{Members: 3})
	jc := harness.StartJournal(t, harness.JournalOptions{Nodes: 3, Placement: pc.Addrs()})
	bc := harness.StartBroker(t, harness.BrokerOptions{Brokers: 1, Placement: pc.Addrs()})
	var services []service
	for _, m := range pc.Members() {
		services = append(services, service{"placement", fmt.Sprintf("placement %d", m.ID), m.HTTPAddr})
	}
	for _, n := range jc.Nodes() {
		services = append(services, service{"journal", fmt.Sprintf("journal %d", n.ID), n.HTTPAddr})
	}
	b := bc.Broker(0)
	services = append(services, service{"broker", "broker 0", b.HTTPAddr})

	// Traffic: QoS 0 and QoS 1 messages from one client to another; the
	// QoS 1 ones go through the journal (the MQTT message log).
	const perQoS = 20
	got := make(chan string, 4*perQoS)
	sub := connect(t, "tcp://"+b.MQTT, "obs-sub", func(_ mqtt3.Client, m mqtt3.Message) { got <- string(m.Payload()) })
	harness.WaitToken(t, "token", sub.Subscribe("obs/#", 1, nil))
	pub := connect(t, "tcp://"+b.MQTT, "obs-pub", nil)
	for i := range perQoS {
		for q := byte(0); q <= 1; q++ {
			harness.WaitToken(t, "token", pub.Publish(fmt.Sprintf("obs/q%d", q), q, false, fmt.Sprintf("m-%d-%d", q, i)))
		}
	}
	for range 2 * perQoS {
		select {
		case <-got:
		case <-time.After(wait):
			t.Fatal("a published message did not arrive")
		}
	}

	ctx := context.Background()
	var scrapes map[string]*Exposition
	var missing []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		scrapes = map[string]*Exposition{}
		for _, s := range services {
			e, err := Scrape(ctx, s.addr)
			if err != nil {
				t.Fatalf("scrape %s: %v", s.name, err)
			}
			scrapes[s.name] = e
		}
		missing = missingMetrics(queried, services, scrapes)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, m := range missing {
		t.Error(m)
	}

	// Every robustmq_ family a service exposes is documented.
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(dashboardPath(t)), "..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	undocumented := map[string]bool{}
	for _, e := range scrapes {
		for family := range e.Types {
			if strings.HasPrefix(family, "robustmq_") && !strings.Contains(string(doc), "`"+family+"`") {
				undocumented[family] = true
			}
		}
	}
	for family := range undocumented {
		t.Errorf("%s is exposed but not listed in docs/metrics.md", family)
	}

	// The traffic shows where the dashboard looks.
	sum := func(kind, name string) float64 {
		total := 0.0
		for _, s := range services {
			if s.kind == kind {
				total += scrapes[s.name].Sum(name)
			}
		}
		return total
	}
	for _, c := range []struct {
		kind, name string
		min        float64
	}{
		{"broker", "robustmq_broker_messages_received_total", 2 * perQoS},
		{"broker", "robustmq_broker_messages_sent_total", 2 * perQoS},
		{"broker", "robustmq_broker_received_bytes_total", 1},
		{"broker", "robustmq_broker_sent_bytes_total", 1},
		{"broker", "robustmq_broker_transport_connections", 2},
		{"broker", "robustmq_broker_delivery_latency_seconds_count", 1},
		{"journal", "robustmq_journal_append_records_total", perQoS},
		{"journal", "robustmq_journal_fsync_duration_seconds_count", 1},
		{"journal", "robustmq_journal_disk_usage_bytes", 1},
		{"placement", "robustmq_placement_raft_is_leader", 1},
		{"placement", "robustmq_placement_raft_term", 1},
	} {
		if v := sum(c.kind, c.name); v < c.min {
			t.Errorf("%s summed over the %s services = %v, want at least %v", c.name, c.kind, v, c.min)
		}
	}
	// Connections carry the protocol and tenant labels the dashboard
	// groups by.
	if v := scrapes["broker 0"].Sum("robustmq_broker_transport_connections", `protocol="mqtt"`, `tenant="default"`); v < 2 {
		t.Errorf("broker connections labelled protocol mqtt, tenant default = %v, want 2", v)
	}
}

// missingMetrics lists, for each queried metric, the services it should
// come from and does not.
func missingMetrics(queried map[string][]string, services []service, scrapes map[string]*Exposition) []string {
	var out []string
	for name, panels := range queried {
		var want []service
		for _, s := range services {
			if strings.HasPrefix(name, "robustmq_") && !strings.HasPrefix(name, "robustmq_"+s.kind+"_") {
				continue
			}
			want = append(want, s)
		}
		if len(want) == 0 {
			out = append(out, fmt.Sprintf("%s (panels %q) belongs to no service", name, panels))
			continue
		}
		// A robustmq_ metric may be reported by one member only (the
		// Raft leader's view of its followers); go_ and process_ ones by
		// every process.
		found := 0
		var lacking []string
		for _, s := range want {
			if scrapes[s.name].Has(name) {
				found++
			} else {
				lacking = append(lacking, s.name)
			}
		}
		if strings.HasPrefix(name, "robustmq_") && found == 0 {
			out = append(out, fmt.Sprintf("%s (panels %q) is exposed by none of the %s services", name, panels, want[0].kind))
		} else if !strings.HasPrefix(name, "robustmq_") && len(lacking) > 0 {
			out = append(out, fmt.Sprintf("%s (panels %q) is missing on %v", name, panels, lacking))
		}
	}
	sort.Strings(out)
	return out
}

func connect(t *testing.T, url, id string, handler mqtt3.MessageHandler) mqtt3.Client {
	t.Helper()
	return harness.ConnectPaho(t, url, id, func(o *mqtt3.ClientOptions) {
		if handler != nil {
			o.SetDefaultPublishHandler(handler)
		}
	})
}
