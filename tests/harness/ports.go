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

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago: it listens on all of them at once (so none is handed out twice)
// and then closes the listeners. Processes started right after will almost
// surely get them.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := listenFree()
		if err != nil {
			t.Fatalf("harness: %v", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// FreePort is FreePorts(t, 1)[0].
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreeAddr returns "127.0.0.1:<FreePort>".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return LoopbackAddr(FreePort(t))
}

// LoopbackAddr returns "127.0.0.1:<port>".
func LoopbackAddr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// listenFree listens on a random port of the range, or on a
// kernel-chosen one when the range seems full.
func listenFree() (net.Listener, error) {
	for range portAttempts {
		port := portRangeLow + rand.IntN(portRangeHigh-portRangeLow)
		if l, err := net.Listen("tcp", LoopbackAddr(port)); err == nil {
			return l, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("no free loopback port: %w", err)
	}
	return l, nil
}
