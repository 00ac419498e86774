// Package bench is the root of the benchmarks that run RobustMQ-Go next to
// a named peer on the same machine in one run: the placement center versus
// etcd (writes; scripts/bench-placement.sh), the journal versus NATS
// JetStream and the disk's own fdatasync limit (produce and consume;
// scripts/bench-journal.sh), the MQTT broker versus mosquitto (QoS 1 and
// QoS 0 publishing, a slow subscriber; scripts/bench-mqtt.sh), and the
// Kafka front end versus JetStream and the raw stream client
// (scripts/bench-kafka.sh). Each subcommand's package measures; what they
// share lives in internal/workspace (work directory, children, flags),
// internal/window (the load loop), internal/stats and internal/benchlines
// (results). It is a
// module of its own, kept out of go.work so that the peers' dependency
// trees never touch the product modules, and is built with GOWORK=off into
// bin/robustmq-bench.
//
// It owns only benchmark code. It must never be imported by a product
// module, and nothing in it may reach an address outside 127.0.0.1.
package bench
