// Package server is the broker's Kafka front end: it serves Kafka client
// connections (one reading goroutine per connection, requests handled
// concurrently, responses written in request order by one writer, which
// awaits a produce request's appends itself), and translates the
// decoded requests (package wire) into the stream client (topics are
// streams, partitions are stream partitions, offsets are journal offsets),
// the placement center (live brokers for Metadata, the generic KV for
// committed offsets) and the group coordinator (package group).
//
// Any broker serves any partition. Metadata lists the live brokers that
// registered a "kafka" listener and makes broker i of the sorted ids the
// leader of partitions p with p % n == i; FindCoordinator picks a broker
// by a hash of the group id, and a broker that is not a group's
// coordinator answers NOT_COORDINATOR for it.
//
// With Config.SASL a connection authenticates first (SASL PLAIN, or
// SCRAM-SHA-256 from the placement center's PBKDF2-SHA256 credential) as
// a user of the tenant.
//
// Every failure is answered with a Kafka error code; a connection is
// closed only for a frame over the size limit, a header that does not
// parse, a body that does not parse for an API whose response has no
// error field, a failed authentication or a request before it (as Kafka
// brokers do). It must never write to the journal
// other than through the stream client's Producer, never assign offsets,
// and never keep state that matters beyond a connection except the
// in-memory group membership and the idempotent producers' last
// sequences (both rebuilt by clients when a broker goes away).
package server
