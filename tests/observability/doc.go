// Package observability holds the tests that keep the Grafana dashboard
// (deploy/grafana/robustmq.json) and the services' Prometheus metrics in
// step: the dashboard's shape and the metric names its PromQL expressions
// use (dashboard.go), and an integration test that starts a live cluster
// on loopback, drives MQTT traffic through it and fails when a metric the
// dashboard queries is not exposed by the service that should expose it.
//
// It owns no product code and must never change what the services do.
package observability
