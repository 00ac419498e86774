// Package probe performs one health check: an HTTP GET that succeeds only
// on status 200. It owns no state and never retries.
package probe
