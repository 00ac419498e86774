// Package kafka starts a broker-server with its Kafka listener for the
// benchmarks and drives it with franz-go (kgo): topic creation through
// kadm, a producer whose every record is one window.Submit, and a
// partition consumer that reads a topic back from its start.
//
// It owns the broker process it starts (through a procs.Group) and the
// kgo clients it opens; it must never start placement or journal nodes
// (the caller does), and never hold measurement logic (window and the
// bench packages do).
package kafka
