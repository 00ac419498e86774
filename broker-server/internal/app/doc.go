// Package app assembles one broker from its parts: the placement client
// (common/leaderclient), the metadata cache, the node registration (kind
// BROKER; node_id 0 lets the placement center assign one, and a clean stop
// unregisters), the gRPC server (health, reflection, metrics; no broker
// service yet), the HTTP /metrics and /healthz server and the client
// listeners of package transport, and runs them until the context ends.
// It owns start-up order and shutdown; it must never hold business logic.
//
// The connection Handler comes from the caller (Options.Handler). The MQTT
// protocol is not implemented yet: without one, every client connection
// is logged ("MQTT protocol not implemented yet") and closed at once.
package app
