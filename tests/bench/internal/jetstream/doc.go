// Package jetstream starts the peer of the journal benchmark: three
// nats-server processes (the upstream binary, built from the module cache
// into bin/ by scripts/bench-journal.sh) forming one JetStream cluster with
// file storage on loopback, and drives a replicas-3 file stream through
// nats.go's jetstream API: asynchronous publishes with a bounded window of
// pending acks, the same windowed load the journal producer gets.
//
// SyncAlways selects JetStream's sync_interval "always" (every write is
// fsynced before it is acknowledged, like the journal's synced commits);
// without it the server's default applies (data is fsynced every two
// minutes, so an acknowledged message may be only in the page cache of
// the quorum).
package jetstream
