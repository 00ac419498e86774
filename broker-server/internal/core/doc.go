// Package core is the broker core every protocol front end translates into
// (DESIGN section 5): the subscription router (topic filter index with '+'
// and '#', the $-topic rule and shared subscriptions), the retained-message
// store and the sessions (subscriptions, QoS 1/2 in-flight windows, queued
// messages, session expiry, delayed wills, takeover, and the log feed of
// persistent sessions). A front end (package mqtt/server today) owns the
// wire protocol and one connection; the core owns what outlives a
// connection and decides who gets a message on this broker.
//
// What crosses the broker goes through the Cluster interface (package
// cluster implements it): claiming and saving session records, appending
// QoS 1/2 messages to the log before they are acknowledged, reading the log
// for persistent sessions, the route table and forwarding to other brokers,
// the retained store. A nil Cluster is a standalone broker whose state is in
// memory only (the MQTT protocol tests use it).
//
// The package must never parse or encode a wire protocol and never do
// network I/O itself or hold its locks across a Cluster call; a front end
// sees a Session and the Client callbacks.
package core
