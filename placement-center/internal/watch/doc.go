// Package watch owns the placement center's revisioned change feed: a bounded
// ring of the most recent WatchEvents, the member's current revision and the
// set of live watchers. The state machine publishes events after each applied
// batch commits; the gRPC Watch handler subscribes and forwards responses.
//
// It must never block the publisher on a watcher: a watcher that cannot take
// a response is ended with one final resync response instead, so it either
// receives a gap-free prefix of the feed or learns that it must list again.
// It must never read or write persistent state, and it never modifies an event
// after Publish: events are shared by all watchers and must be treated as
// read-only by receivers.
package watch
