package server

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the data path counters of the journal server.
type Metrics struct {
	appendBytes   prometheus.Counter
	appendRecords prometheus.Counter
	appendErrors  *prometheus.CounterVec
	appendLatency prometheus.Histogram
	readBytes     prometheus.Counter
	readRecords   prometheus.Counter
}

// NewMetrics registers the metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		appendBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "robustmq_journal_append_bytes_total", Help: "Bytes of batches appended and acknowledged by this leader.",
		}),
		appendRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "robustmq_journal_append_records_total", Help: "Records appended and acknowledged by this leader.",
		}),
		appendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "robustmq_journal_append_errors_total", Help: "Append requests answered with an error, by gRPC code.",
		}, []string{"code"}),
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "robustmq_journal_append_duration_seconds",
			Help:    "Time from receiving an append to acknowledging it at the LAC.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}),
		readBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "robustmq_journal_read_bytes_total", Help: "Bytes of batches served by Read.",
		}),
		readRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "robustmq_journal_read_records_total", Help: "Records in batches served by Read.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.appendBytes, m.appendRecords, m.appendErrors, m.appendLatency, m.readBytes, m.readRecords} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
