// Package server is the MQTT front end of the broker: a transport.Handler
// that runs the protocol state machine of one client connection (MQTT 3.1,
// 3.1.1 and 5.0) and translates it into the broker core (package core):
// CONNECT and CONNACK (protocol levels, client identifier rules, assigned
// identifiers, clean start, session expiry, receive maximum, maximum packet
// size, topic alias maximum, server keep alive, response information),
// keep alive at 1.5 times the interval, PUBLISH with QoS 0, 1 and 2 in both
// directions (packet ids, in-flight window, DUP redelivery on session
// resume, QoS downgrade to the subscription's), SUBSCRIBE with
// subscription options, retained messages and per-filter failures,
// UNSUBSCRIBE, DISCONNECT, wills (with will delay), takeover (DISCONNECT
// 0x8E in MQTT 5), topic aliases in both directions, reason strings (on
// error acks only when the client's Request Problem Information allows),
// and protocol errors (DISCONNECT with the reason code in MQTT 5, a closed
// connection in 3.x). Server.Stats gives package sys its numbers;
// Server.Traffic and Config.ObserveDelivery give the metrics theirs.
//
// It owns one connection's protocol state (negotiated level, topic aliases,
// keep alive, the will) and nothing that outlives the connection: sessions,
// subscriptions and retained messages belong to the core. It must never
// touch another client's connection; the core does that through its Client
// callbacks.
//
// Not yet: enhanced authentication (a CONNECT with an authentication
// method gets CONNACK 0x8C, an AUTH packet is a protocol error),
// authorisation (only $SYS/ is refused to clients).
package server
