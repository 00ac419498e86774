// Package admin holds the end-to-end tests of the operator's tools: the
// real bin/robustctl run against real placement-center, journal-server and
// broker-server processes on loopback ports, with real MQTT clients making
// the state robustctl shows (brokers and their listeners, drains, MQTT
// sessions, retained messages).
//
// It owns nothing but its tests. Every test function is named
// TestIntegration* so `make test-integration` selects them and the
// unit-test run skips them; it must never reach any service's internals,
// only their binaries and public APIs, and robustctl only as a process.
package admin
