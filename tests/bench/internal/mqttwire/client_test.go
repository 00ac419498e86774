package mqttwire_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/tests/bench/internal/mosquitto"
	"github.com/robustmq/robustmq-go/tests/bench/internal/mqttwire"
	"github.com/robustmq/robustmq-go/tests/bench/internal/procs"
)

// startMosquitto runs the real broker the benchmark compares against.
func startMosquitto(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(mosquitto.DefaultBinary); err != nil {
		t.Skipf("%s not installed (Debian package mosquitto): %v", mosquitto.DefaultBinary, err)
	}
	dir := t.TempDir()
	g, err := procs.NewGroup(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.StopAll(2*time.Second, 5*time.Second); err != nil {
			t.Error(err)
		}
	})
	b, err := mosquitto.Start(context.Background(), g, mosquitto.Options{WorkDir: dir, ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b.Addr
}

func dial(t *testing.T, addr string, o mqttwire.Options) *mqttwire.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mqttwire.Dial(ctx, addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPublishSubscribeQoS0And1(t *testing.T) {
	addr := startMosquitto(t)
	var mu sync.Mutex
	got := map[string]byte{}
	all := make(chan struct{})
	const n = 500
	sub := dial(t, addr, mqttwire.Options{ClientID: "sub", CleanSession: true, OnMessage: func(m mqttwire.Message) {
		mu.Lock()
		defer mu.Unlock()
		got[string(m.Payload)] = m.QoS
		if len(got) == 2*n {
			close(all)
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if q, err := sub.Subscribe(ctx, "t/#", 1); err != nil || q != 1 {
		t.Fatalf("subscribe: granted %d, %v", q, err)
	}
	pub := dial(t, addr, mqttwire.Options{ClientID: "pub", CleanSession: true})
	acked := make(chan error, n)
	for i := range n {
		if err := pub.Publish1("t/1", fmt.Appendf(nil, "q1-%d", i), func(err error) { acked <- err }); err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish0("t/0", fmt.Appendf(nil, "q0-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		select {
		case err := <-acked:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("PUBACK missing")
		}
	}
	if p := pub.Pending(); p != 0 {
		t.Fatalf("%d publishes still pending after every PUBACK", p)
	}
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		mu.Lock()
		t.Fatalf("received %d of %d messages", len(got), 2*n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if q := got[fmt.Sprintf("q1-%d", i)]; q != 1 {
			t.Fatalf("q1-%d arrived at QoS %d", i, q)
		}
		if q, ok := got[fmt.Sprintf("q0-%d", i)]; !ok || q != 0 {
			t.Fatalf("q0-%d: QoS %d, received %v", i, q, ok)
		}
	}
}

// A subscriber with ManualAck that never acknowledges gets only what the
// broker's in-flight window allows; acknowledging lets the rest through.
func TestManualAckHoldsTheBrokerBack(t *testing.T) {
	addr := startMosquitto(t)
	ids := make(chan uint16, 1000)
	sub := dial(t, addr, mqttwire.Options{ClientID: "slow", CleanSession: true, ManualAck: true,
		OnMessage: func(m mqttwire.Message) { ids <- m.PacketID }})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, "s", 1); err != nil {
		t.Fatal(err)
	}
	pub := dial(t, addr, mqttwire.Options{ClientID: "pub", CleanSession: true})
	const n = 100
	acked := make(chan error, n)
	for range n {
		if err := pub.Publish1("s", []byte("x"), func(err error) { acked <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if err := <-acked; err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	held := len(ids)
	if held == 0 || held >= n {
		t.Fatalf("%d of %d delivered without any PUBACK; want the broker's in-flight window", held, n)
	}
	received := 0
	deadline := time.After(10 * time.Second)
	for received < n {
		select {
		case id := <-ids:
			received++
			if err := sub.Ack(id); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("received %d of %d while acknowledging", received, n)
		}
	}
}

// A server that answers CONNECT with garbage gets an error, not a hang.
func TestDialRejectsABadConnack(t *testing.T) {
	for name, reply := range map[string][]byte{
		"wrong type":      {0x30, 2, 0, 0},
		"refused":         {0x20, 2, 0, 5},
		"bad length":      {0x20, 0xff, 0xff, 0xff, 0xff, 0x01},
		"closed silently": nil,
	} {
		t.Run(name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 256)
				_, _ = c.Read(buf)
				_, _ = c.Write(reply)
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			c, err := mqttwire.Dial(ctx, l.Addr().String(), mqttwire.Options{ClientID: "x"})
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if ctx.Err() != nil || !strings.Contains(err.Error(), "mqttwire") {
				t.Fatalf("err = %v (ctx %v)", err, ctx.Err())
			}
		})
	}
}
