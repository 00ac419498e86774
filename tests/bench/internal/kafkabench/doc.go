// Package kafkabench is the Kafka front end benchmark (`make
// bench-kafka`): on this machine, in one run, the produce throughput and
// latency of franz-go (kgo) producers against a RobustMQ-Go cluster
// (three placement-center and three journal-server processes and one
// broker-server with its Kafka listener, all from bin/; topics with
// replication factor 3, ack quorum 2, acks=all), against the same load on
// a NATS JetStream cluster (three nats-server processes, a replicas-3
// file stream, through nats.go) with sync_interval "always" and with its
// default, and against the raw journal stream client (common/streamclient
// Producer) on the same journal nodes; then the Kafka topic is read back
// with a kgo partition consumer and the stream with a streamclient reader.
//
// Concurrency C means, for every system alike: one client, 1 KiB records
// (by default), at most C of them produced and not yet acknowledged, a new
// one submitted the moment an acknowledgement frees a slot. Latency is
// per record, submission to acknowledgement. kgo groups the buffered
// records into batches by itself (linger 0); the stream client and nats.go
// send each record on its own.
//
// It owns the run's processes and clients and prints a table and one JSON
// line per step and a goals line at the end; it must never change what
// the systems under test are configured with beyond the flags above.
package kafkabench
