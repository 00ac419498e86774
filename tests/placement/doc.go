// Package placement holds the placement center's cross-process integration
// and fault tests: real bin/placement-center processes on loopback ports,
// driven through the gRPC API directly and through the shared
// leader-following client, killed with SIGKILL, stopped and restarted.
//
// It owns nothing but its tests. Every test function is named
// TestIntegration* so `make test-integration` (-run Integration) selects
// them and the unit-test run skips them; it must never reach the placement
// center's internals, only its binary and its public API.
package placement
