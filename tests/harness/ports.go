package harness

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
)

// Ports are drawn from below Linux's default ephemeral range (32768-60999)
// so that an outgoing connection of some other process cannot be handed
// the port of a member while that member is down between a kill and its
// restart.
const (
	portRangeLow  = 20000
	portRangeHigh = 32000
	portAttempts  = 200
)

// FreePort returns a loopback TCP port that was free a moment ago: it
// listens on it and closes the listener again. A process started right
// after with that port will almost surely get it.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return port
}

// FreeAddr returns "127.0.0.1:<FreePort>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

func freePort() (int, error) {
	for range portAttempts {
		port := portRangeLow + rand.IntN(portRangeHigh-portRangeLow)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			_ = l.Close()
			return port, nil
		}
	}
	// Everything tried was taken: fall back to a kernel-chosen port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
