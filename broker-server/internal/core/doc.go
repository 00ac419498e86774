// Package core is the broker core every protocol front end translates into
// (DESIGN section 5): the subscription router (topic filter index with '+'
// and '#', the $-topic rule and shared subscriptions), the retained-message
// store and the session registry (subscriptions, QoS 1/2 in-flight windows,
// queued messages, session expiry, delayed wills and takeover). A front end
// (package mqtt/server today) owns the wire protocol and one connection;
// the core owns what outlives a connection and decides who gets a message.
//
// The parts that the cluster will replace are interfaces: Router (the
// in-memory filter index today; later the placement-kept route table with
// broker-to-broker forwarding), RetainStore and SessionStore. The in-memory
// implementations (NewIndex, NewMemRetainStore, NewMemSessionStore) are the
// only ones today.
//
// Status: in-memory: sessions and retained messages do not yet survive a
// broker restart (issue 4 continues), and routing reaches the clients of
// this broker only. Publishes are acknowledged once they are routed to the
// sessions of this broker, not once they are durable in the journal.
//
// The package must never parse or encode a wire protocol and never do
// network I/O; a front end sees a Session and the Client callbacks.
package core
