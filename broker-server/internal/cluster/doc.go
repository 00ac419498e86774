// Package cluster is the broker's side of the cluster (DESIGN section 5):
// it implements core.Cluster over the placement center and the journal.
//
// It owns:
//   - session records (placement KV mqtt/<tenant>/sessions/<client id>),
//     claimed by one broker at a time with compare-and-set on the version
//     the owner last wrote; a broker taking a session over first asks the
//     owner to hand it over (BrokerInternal.KickSession);
//   - the message log: one journal stream (default "mqtt-messages") whose
//     records are the QoS 1/2 publishes (key: topic, value: MqttMessage),
//     appended before the publisher is acknowledged and read by persistent
//     sessions from their saved positions;
//   - the route table (mqtt/<tenant>/routes/<broker>/<filter>), written in
//     call order by one writer, watched by every broker, and online
//     forwarding to the brokers it names over BrokerInternal.Deliver;
//   - retained messages (mqtt/<tenant>/retained/<topic>), mirrored into the
//     core's in-memory store by the same watch;
//   - the sweeper, run by the live broker with the lowest node id: wills and
//     session records of brokers that died, expired sessions nobody holds,
//     and routes of dead brokers.
//
// It must never decide who gets a message inside a broker (the core does),
// never parse a client protocol, and never write a session record it does
// not own except through the sweeper's compare-and-set on a dead owner's.
package cluster
