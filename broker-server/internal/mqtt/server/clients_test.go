package server_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Debian's mosquitto-clients (installed by .ci/run) against the broker
// over TCP; WebSocket is covered with paho below (mosquitto_sub cannot
// speak it).

func mosquitto(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package mosquitto-clients): %v", name, err)
	}
	return p
}

func port(b *broker) string { return b.tcp[strings.LastIndex(b.tcp, ":")+1:] }

// runCmd runs a command with a time limit and returns its output.
func runCmd(t *testing.T, limit time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// waitSubscribed waits until client id has n subscriptions.
func waitSubscribed(t *testing.T, b *broker, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if s, ok := b.core.Session(id); ok && len(s.Subscriptions()) == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not subscribe", id)
}

func TestMosquittoQoSLevels(t *testing.T) {
	t.Parallel()
	pub, sub := mosquitto(t, "mosquitto_pub"), mosquitto(t, "mosquitto_sub")
	b := startBroker(t, nil)
	for _, v := range []string{"mqttv31", "mqttv311", "mqttv5"} {
		t.Run(v, func(t *testing.T) {
			id := "msub-" + v
			done := make(chan string, 1)
			go func() {
				out, err := runCmd(t, 15*time.Second, sub, "-h", "127.0.0.1", "-p", port(b), "-V", v, "-i", id,
					"-t", "mq/"+v+"/#", "-q", "2", "-v", "-C", "3", "-W", "10")
				if err != nil {
					out += fmt.Sprintf(" (%v)", err)
				}
				done <- out
			}()
			waitSubscribed(t, b, id, 1)
			for q := range 3 {
				if out, err := runCmd(t, 10*time.Second, pub, "-h", "127.0.0.1", "-p", port(b), "-V", v,
					"-t", fmt.Sprintf("mq/%s/q%d", v, q), "-m", fmt.Sprint("hi", q), "-q", fmt.Sprint(q)); err != nil {
					t.Fatalf("mosquitto_pub -q %d: %v %s", q, err, out)
				}
			}
			want := fmt.Sprintf("mq/%[1]s/q0 hi0\nmq/%[1]s/q1 hi1\nmq/%[1]s/q2 hi2\n", v)
			select {
			case out := <-done:
				if out != want {
					t.Fatalf("mosquitto_sub printed %q, want %q", out, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("mosquitto_sub did not finish")
			}
		})
	}
}

func TestMosquittoRetained(t *testing.T) {
	t.Parallel()
	pub, sub := mosquitto(t, "mosquitto_pub"), mosquitto(t, "mosquitto_sub")
	b := startBroker(t, nil)
	p := func(args ...string) {
		t.Helper()
		args = append([]string{"-h", "127.0.0.1", "-p", port(b), "-t", "mr/a", "-r", "-q", "1"}, args...)
		if out, err := runCmd(t, 10*time.Second, pub, args...); err != nil {
			t.Fatalf("mosquitto_pub %v: %v %s", args, err, out)
		}
	}
	s := func(v string) string {
		t.Helper()
		out, _ := runCmd(t, 10*time.Second, sub, "-h", "127.0.0.1", "-p", port(b), "-V", v, "-t", "mr/#", "-v", "-C", "1", "-W", "1")
		return out
	}
	p("-m", "first")
	p("-m", "second")
	for _, v := range []string{"mqttv311", "mqttv5"} {
		if out := s(v); out != "mr/a second\n" {
			t.Fatalf("%s: retained %q, want the replacement", v, out)
		}
	}
	p("-n") // empty payload deletes
	if out := s("mqttv5"); strings.Contains(out, "mr/a") {
		t.Fatalf("deleted retained message delivered: %q", out)
	}
}

// WebSocket with paho.mqtt.golang, levels 3 and 4.
func TestWebSocketPubSubRetained(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	for _, v := range []uint{3, 4} {
		s := newSink3()
		c := paho3(t, b.ws, fmt.Sprint("ws", v), v, true, s, nil)
		tok(t, c.Publish(fmt.Sprintf("ws%d/r", v), 1, true, "kept"))
		tok(t, c.Subscribe(fmt.Sprintf("ws%d/#", v), 2, nil))
		if m := s.next(t); m.payload != "kept" || !m.retained {
			t.Fatalf("got %+v", m)
		}
		for q := range 3 {
			tok(t, c.Publish(fmt.Sprintf("ws%d/x", v), byte(q), false, fmt.Sprint(q)))
			if m := s.next(t); m.payload != fmt.Sprint(q) || m.qos != byte(q) {
				t.Fatalf("got %+v", m)
			}
		}
		s.nothing(t)
	}
}
