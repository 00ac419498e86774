// Command robustmq-bench runs this project's benchmarks against their
// peers on this machine: the write throughput and latency of a 3-member
// placement center against a 3-member etcd cluster
// (scripts/bench-placement.sh), and the produce and consume throughput of
// a 3-node journal against a 3-node NATS JetStream cluster and the disk's
// own limit (scripts/bench-journal.sh), the MQTT broker against
// mosquitto (scripts/bench-mqtt.sh), and the produce and consume
// throughput of franz-go against the broker's Kafka listener, against
// JetStream and against the raw journal stream client
// (scripts/bench-kafka.sh). Subcommands:
//
//	robustmq-bench [flags]                     placement center vs etcd (default)
//	robustmq-bench etcd-member [flags]         one embedded etcd member (started by the bench)
//	robustmq-bench check --expect N            validate a placement run's JSON lines on stdin
//	robustmq-bench journal [flags]             journal vs JetStream vs disk limit
//	robustmq-bench journal check --expect N    validate a journal run's JSON lines on stdin
//	robustmq-bench mqtt [flags]                MQTT broker vs mosquitto
//	robustmq-bench mqtt check --expect N       validate an MQTT run's JSON lines on stdin
//	robustmq-bench kafka [flags]               Kafka front end vs JetStream vs stream client
//	robustmq-bench kafka check --expect N      validate a kafka run's JSON lines on stdin
//	robustmq-bench rtt [flags]                 one loopback round trip: gRPC stream vs plain TCP
//
// It is wiring only: it must never hold benchmark logic of its own, and
// never leave a child process running when it exits.
package main
