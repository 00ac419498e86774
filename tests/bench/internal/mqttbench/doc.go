// Package mqttbench is the MQTT benchmark (`make bench-mqtt`): on this
// machine, in one run, RobustMQ-Go (placement center, journal and one
// broker-server from bin/; one node each by default, three with --nodes 3)
// against Eclipse Mosquitto with its default configuration, both driven by
// the same MQTT 3.1.1 client (package mqttwire) over loopback. Scenarios:
//
//   - qos1: P publishers (1, 16, 64), each with at most W QoS 1 publishes
//     without a PUBACK, and one subscriber at QoS 1: publishes acknowledged
//     per second, PUBACK latency, messages delivered per second and the
//     end-to-end latency from a timestamp in the payload.
//   - qos0-fanin: N publishers send QoS 0 as fast as their sockets take
//     it to one subscriber: messages delivered per second.
//   - slow-subscriber: 10 publishers send a fixed number of QoS 1 messages
//     to one subscriber that sends one PUBACK per ack delay: messages
//     acknowledged to the publishers against messages the subscriber
//     eventually received, for a persistent and a clean session.
//
// Each step prints a table with both systems and the ratios (ours over
// mosquitto) and one JSON line; Check validates the lines.
//
// It owns only benchmark logic; the processes belong to a procs.Group and
// every load loop is bounded in count and time. It must never reach an
// address outside 127.0.0.1.
package mqttbench
