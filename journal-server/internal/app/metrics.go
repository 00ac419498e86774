package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
)

// newSyncHistogram is robustmq_journal_fsync_duration_seconds, fed by the
// segment store's synced writes (segstore.Options.ObserveSync).
func newSyncHistogram(reg prometheus.Registerer) (func(time.Duration), error) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "robustmq_journal_fsync_duration_seconds",
		Help: "Duration of the segment store's synced writes (a synced Pebble batch commit or WAL sync; the fsync on the append path).",
		// 100µs to ~1.6s.
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 15),
	})
	if err := reg.Register(h); err != nil {
		return nil, err
	}
	return func(d time.Duration) { h.Observe(d.Seconds()) }, nil
}

// registerDiskUsage is robustmq_journal_disk_usage_bytes, read from Pebble
// at scrape time.
func registerDiskUsage(reg prometheus.Registerer, store *segstore.Store) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "robustmq_journal_disk_usage_bytes",
		Help: "Bytes the segment store's files (Pebble WAL, tables, manifest) take on disk.",
	}, func() float64 {
		n, err := store.DiskUsage()
		if err != nil {
			return 0
		}
		return float64(n)
	}))
}
