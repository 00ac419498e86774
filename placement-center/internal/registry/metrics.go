package registry

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

type metrics struct {
	// declared counts nodes declared dead, by reason (lease, unreachable).
	declared *prometheus.CounterVec
	// probeFailures counts health probes of a node that got no answer.
	probeFailures prometheus.Counter
	// spared counts nodes every probe failed for that were not declared
	// dead, by why (never_reached, not_serving, heartbeating,
	// mass_failure).
	spared *prometheus.CounterVec
}

// newMetrics builds the registry's collectors and registers them with reg
// when it is non-nil (reusing ones an earlier registry registered there).
func newMetrics(reg prometheus.Registerer, log zerolog.Logger) *metrics {
	m := &metrics{
		declared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "robustmq_placement_nodes_declared_dead_total",
			Help: "Broker and journal nodes this member declared dead as leader, by reason (lease, unreachable).",
		}, []string{"reason"}),
		probeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "robustmq_placement_node_probe_failures_total",
			Help: "Health probes of a registered node (grpc.health.v1 Check on a fresh connection) that got no answer.",
		}),
		spared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "robustmq_placement_node_probe_spared_total",
			Help: "Nodes every probe failed for that were left to their lease, by why.",
		}, []string{"why"}),
	}
	if reg == nil {
		return m
	}
	m.declared = register(reg, m.declared, log)
	// The reasons are a closed set: their series start at zero, not absent.
	for _, r := range []string{ReasonLease, ReasonUnreachable} {
		m.declared.WithLabelValues(r)
	}
	m.probeFailures = register(reg, m.probeFailures, log)
	m.spared = register(reg, m.spared, log)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C, log zerolog.Logger) C {
	if err := reg.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			if existing, ok := dup.ExistingCollector.(C); ok {
				return existing
			}
		}
		log.Warn().Err(err).Msg("registering registry metrics")
	}
	return c
}
