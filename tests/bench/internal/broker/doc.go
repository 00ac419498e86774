// Package broker starts RobustMQ-Go's side of the MQTT benchmark: a
// placement center and journal nodes (through packages cluster and
// journal) and one broker-server process from bin/ registered with them,
// on fresh loopback ports. The broker keeps no state of its own: QoS 1
// publishes are appended to the journal stream "mqtt-messages" (replicas
// = the journal nodes, up to 3; ack quorum 2 of 3) and fsynced before
// the PUBACK.
//
// It owns nothing after Start returns: the processes belong to the
// procs.Group it was given. It must never bind anything but 127.0.0.1 and
// never wait without a deadline.
package broker
