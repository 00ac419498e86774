// Package placement holds the placement center's cross-process tests: real
// placement-center binaries on loopback, driven through the gRPC API and the
// shared leader-following client, killed with SIGKILL and restarted. Every
// test name starts with TestIntegration (`make test-integration`).
package placement
