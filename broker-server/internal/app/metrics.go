package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/robustmq/robustmq-go/broker-server/internal/cluster"
	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	mqttserver "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
)

// frontLabels are the constant labels of a protocol front end's metrics
// (its transport's connection metrics included): the protocol and the
// tenant it serves (one per front end today, from the configuration).
func frontLabels(protocol, tenant string) prometheus.Labels {
	return prometheus.Labels{"protocol": protocol, "tenant": tenant}
}

// Reasons of robustmq_broker_messages_dropped_total.
const (
	dropQueueFull      = "queue_full"      // a session's in-memory queue was full
	dropTooLarge       = "too_large"       // over the client's Maximum Packet Size
	dropExpired        = "expired"         // message expiry passed while queued
	dropForwardDropped = "forward_dropped" // an online forward to another broker was dropped
)

// newDeliveryHistogram is robustmq_broker_delivery_latency_seconds; the
// returned func is the MQTT front end's Config.ObserveDelivery.
func newDeliveryHistogram(reg prometheus.Registerer, labels prometheus.Labels) (func(time.Duration), error) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "robustmq_broker_delivery_latency_seconds",
		Help: "Time from reading a PUBLISH from its publisher to writing it to a subscriber, for messages routed in memory on this broker (not forwarded, log-fed, retained or redelivered ones).",
		// 50µs to ~1.6s.
		Buckets:     prometheus.ExponentialBuckets(0.00005, 2, 16),
		ConstLabels: labels,
	})
	if err := reg.Register(h); err != nil {
		return nil, err
	}
	return func(d time.Duration) { h.Observe(d.Seconds()) }, nil
}

// registerMQTTMetrics exposes the MQTT front end's traffic and the
// messages dropped by reason, read at scrape time.
func registerMQTTMetrics(reg prometheus.Registerer, labels prometheus.Labels, srv *mqttserver.Server, b *core.Broker, cl *cluster.Cluster) error {
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(f()) })
	}
	dropped := func(reason string, f func() uint64) prometheus.Collector {
		l := prometheus.Labels{"reason": reason}
		for k, v := range labels {
			l[k] = v
		}
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "robustmq_broker_messages_dropped_total",
			Help: "Messages not delivered to a subscriber, by reason (queue_full, too_large, expired, forward_dropped).", ConstLabels: l},
			func() float64 { return float64(f()) })
	}
	cs := []prometheus.Collector{
		counter("robustmq_broker_messages_received_total", "Messages received from clients (MQTT PUBLISH packets).",
			func() uint64 { return srv.Traffic().MessagesIn }),
		counter("robustmq_broker_messages_sent_total", "Messages sent to clients (MQTT PUBLISH packets).",
			func() uint64 { return srv.Traffic().MessagesOut }),
		counter("robustmq_broker_received_bytes_total", "Bytes read from client connections (every packet).",
			func() uint64 { return srv.Traffic().BytesIn }),
		counter("robustmq_broker_sent_bytes_total", "Bytes written to client connections (every packet).",
			func() uint64 { return srv.Traffic().BytesOut }),
		dropped(dropQueueFull, func() uint64 { return b.Totals().Dropped }),
		dropped(dropTooLarge, func() uint64 { return srv.Traffic().DroppedTooLarge }),
		dropped(dropExpired, func() uint64 { return b.Totals().Expired }),
	}
	if cl != nil {
		cs = append(cs, dropped(dropForwardDropped, func() uint64 { return cl.Stats().ForwardDropped }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

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
			func() uint64 { return b.Totals().PublishFailed }),
		counter("robustmq_broker_mqtt_delivered_total", "Messages routed to sessions of this broker (one per session).",
			func() uint64 { return b.Totals().Delivered }),
		counter("robustmq_broker_mqtt_dropped_total", "Messages dropped because a session's in-memory queue was full (never a persistent session's QoS 1/2 message: those wait in the log).",
			func() uint64 { return b.Totals().Dropped }),
		gauge("robustmq_broker_mqtt_sessions", "Sessions held by this broker.", func() int { return b.Stats().Sessions }),
		gauge("robustmq_broker_mqtt_sessions_online", "Sessions with a connection.", func() int { return b.Stats().Online }),
		gauge("robustmq_broker_mqtt_sessions_persistent", "Persistent sessions (their QoS 1/2 messages come from the log).",
			func() int { return b.Stats().Persistent }),
	}
	for q := range 3 {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "robustmq_broker_mqtt_published_total",
			Help: "Publishes accepted (stored when they had to be), by QoS.", ConstLabels: prometheus.Labels{"qos": string(rune('0' + q))}},
			func() float64 { return float64(b.Totals().Published[q]) }))
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
