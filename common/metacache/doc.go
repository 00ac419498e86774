// Package metacache keeps a local copy of the placement center's cluster
// nodes, shards and segments, fed by a List then Watch loop, so brokers and
// journal nodes find segment leaders and replicas without asking on every
// request. On a resync signal or a broken stream it lists again; it never
// serves a state it knows to be incomplete as complete (Ready reports the
// first full sync). It owns only this read-only copy; it must never write to
// the placement center.
package metacache
