package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/robustmq/robustmq-go/broker-server/internal/cluster"
	"github.com/robustmq/robustmq-go/broker-server/internal/core"
)

// registerCoreMetrics exposes the core's and the cluster side's totals,
// read at scrape time (the hot paths only bump atomics).
func registerCoreMetrics(reg prometheus.Registerer, b *core.Broker, cl *cluster.Cluster) error {
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	gauge := func(name, help string, f func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	cs := []prometheus.Collector{
		counter("robustmq_broker_mqtt_publish_failed_total", "Publishes the cluster could not store (the publisher got no positive acknowledgement).",
			func() uint64 { return b.Stats().PublishFailed }),
		counter("robustmq_broker_mqtt_delivered_total", "Messages routed to sessions of this broker (one per session).",
			func() uint64 { return b.Stats().Delivered }),
		counter("robustmq_broker_mqtt_dropped_total", "Messages dropped because a session's in-memory queue was full (never a persistent session's QoS 1/2 message: those wait in the log).",
			func() uint64 { return b.Stats().Dropped }),
		gauge("robustmq_broker_mqtt_sessions", "Sessions held by this broker.", func() int { return b.Stats().Sessions }),
		gauge("robustmq_broker_mqtt_sessions_online", "Sessions with a connection.", func() int { return b.Stats().Online }),
		gauge("robustmq_broker_mqtt_sessions_persistent", "Persistent sessions (their QoS 1/2 messages come from the log).",
			func() int { return b.Stats().Persistent }),
	}
	for q := range 3 {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "robustmq_broker_mqtt_published_total",
			Help: "Publishes accepted (stored when they had to be), by QoS.", ConstLabels: prometheus.Labels{"qos": string(rune('0' + q))}},
			func() float64 { return float64(b.Stats().Published[q]) }))
	}
	if cl != nil {
		cs = append(cs,
			counter("robustmq_broker_cluster_forwarded_total", "Messages queued for another broker.", func() uint64 { return cl.Stats().Forwarded }),
			counter("robustmq_broker_cluster_forward_dropped_total", "Online forwards dropped (a peer's queue was full or the peer unknown).",
				func() uint64 { return cl.Stats().ForwardDropped }),
			counter("robustmq_broker_cluster_received_total", "Messages other brokers delivered to this one.", func() uint64 { return cl.Stats().Received }),
			counter("robustmq_broker_cluster_log_appends_total", "QoS 1/2 messages appended to the MQTT message log.", func() uint64 { return cl.Stats().LogAppends }),
			counter("robustmq_broker_cluster_mapped_appends_total", "Records appended to mapped streams.", func() uint64 { return cl.Stats().MappedAppends }),
			counter("robustmq_broker_cluster_dead_broker_wills_total", "Wills of dead brokers' sessions this broker published.",
				func() uint64 { return cl.Stats().DeadBrokerWills }),
			gauge("robustmq_broker_cluster_routes", "Entries of the cluster's route table as this broker sees it.", func() int { return cl.Stats().Routes }),
			gauge("robustmq_broker_cluster_retained_messages", "Retained messages.", func() int { return cl.Stats().Retained }),
			gauge("robustmq_broker_cluster_peers", "Brokers this one has a connection to.", func() int { return cl.Stats().Peers }),
		)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
