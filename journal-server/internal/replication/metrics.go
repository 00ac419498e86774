package replication

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
)

type metrics struct {
	lag     *prometheus.GaugeVec
	lacLag  *prometheus.GaugeVec
	pending prometheus.Gauge
	leading prometheus.Gauge
	rolls   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, store *segstore.Store) (*metrics, error) {
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "robustmq_journal_follower_lag_records",
			Help: "Records a follower is behind this leader's log end, summed over the segments this node leads.",
		}, []string{"follower"}),
		lacLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "robustmq_journal_follower_lac_lag_records",
			Help: "Records below the LAC (acknowledged to producers) a follower has not acknowledged yet, summed over the segments this node leads.",
		}, []string{"follower"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "robustmq_journal_unconfirmed_records",
			Help: "Records this leader appended that are above the LAC (not yet on a write quorum), summed over the segments it leads.",
		}),
		leading: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "robustmq_journal_leader_segments",
			Help: "Segments this node currently leads.",
		}),
		rolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "robustmq_journal_segment_rolls_total",
			Help: "Segments this node sealed as leader, by reason (size, age, replica_dead).",
		}, []string{"reason"}),
	}
	// The reasons are a closed set: their series start at zero, not absent.
	for _, r := range []string{"size", "age", "replica_dead"} {
		m.rolls.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.lag, m.lacLag, m.pending, m.leading, m.rolls, &segmentsCollector{store: store}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// segmentsCollector reports the local replicas by state at scrape time.
type segmentsCollector struct{ store *segstore.Store }

var segmentsDesc = prometheus.NewDesc("robustmq_journal_segments",
	"Local segment replicas by state: open, fenced (being recovered: a new epoch fenced it) or sealed.", []string{"state"}, nil)

func (c *segmentsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- segmentsDesc }

func (c *segmentsCollector) Collect(ch chan<- prometheus.Metric) {
	segs, err := c.store.ListSegments()
	if err != nil {
		return
	}
	counts := map[string]float64{"open": 0, "fenced": 0, "sealed": 0}
	for _, s := range segs {
		counts[s.Status.String()]++
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(segmentsDesc, prometheus.GaugeValue, n, state)
	}
}
