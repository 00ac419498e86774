// Package httpserver serves the HTTP side port of every RobustMQ process:
// /metrics (Prometheus exposition of the caller's gatherer) and /healthz
// (200 "ok" while the caller's health check passes, 503 with its error
// otherwise).
//
// It owns its listener and http.Server from New until Serve returns or
// Close is called. It must never serve business APIs or choose a metrics
// registry for the caller.
package httpserver
