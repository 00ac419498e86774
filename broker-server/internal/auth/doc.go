// Package auth is the broker's authentication and authorisation layer
// (DESIGN section 5), shared by the protocol front ends: it keeps the
// tenant's users and ACL rules from the placement center (listed, then
// followed by a Watch) and answers "who is this client" (user name and
// password, checked against the stored PBKDF2 hash), "may it publish to
// or subscribe to this topic" (ACL rules of resource type "topic", for
// MQTT), "may it write, read or manage this stream" (resource type
// "stream", for Kafka topics) and "may it use or delete this consumer
// group" (resource type "group").
//
// It must never store or log a password, never call the placement center
// on a client's request path (answers come from memory), and never decide
// anything about delivery.
package auth
