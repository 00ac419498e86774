// Package app assembles one broker from its parts: the placement client
// (common/leaderclient), the metadata cache, the node registration (kind
// BROKER; node_id 0 lets the placement center assign one, and a clean stop
// unregisters), the gRPC server (health, reflection, metrics; no broker
// service yet), the HTTP /metrics and /healthz server and the client
// listeners of package transport, and runs them until the context ends.
// It owns start-up order and shutdown; it must never hold business logic.
//
// The connection Handler comes from the caller (Options.Handler); without
// one it is the MQTT front end (internal/mqtt/server) over an in-memory
// broker core (internal/core): sessions and retained messages do not yet
// survive a broker restart, and routing reaches this broker's clients only
// (issue 4 continues).
package app
