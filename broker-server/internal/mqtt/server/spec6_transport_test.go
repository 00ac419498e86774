package server_test

// MQTT 5.0 section 4.2 (network connections: TCP, TLS) and chapter 6
// (WebSocket), and third-party command line clients (Debian's
// mosquitto-clients, installed by .ci/run) over TCP.

import (
	"context"
	"crypto/tls"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
	"github.com/robustmq/robustmq-go/broker-server/internal/testcert"
	"github.com/robustmq/robustmq-go/broker-server/internal/transport"
)

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

func TestSpec4_3_MosquittoQoSLevels(t *testing.T) {
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
			// Three publishers (one mosquitto_pub each): MQTT orders the
			// messages of one client, not those of several.
			want := fmt.Sprintf("mq/%[1]s/q0 hi0\nmq/%[1]s/q1 hi1\nmq/%[1]s/q2 hi2", v)
			select {
			case out := <-done:
				lines := strings.Split(strings.TrimSpace(out), "\n")
				slices.Sort(lines)
				if strings.Join(lines, "\n") != want {
					t.Fatalf("mosquitto_sub printed %q, want %q", out, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("mosquitto_sub did not finish")
			}
		})
	}
}

func TestSpec3_3_1_3_MosquittoRetained(t *testing.T) {
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
func TestSpec6_WebSocketPubSubRetained(t *testing.T) {
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

// TestSpec4_2_TLSAndSecureWebSocket: MQTT 3.1.1 and 3.1 clients over TLS
// (ssl://) and secure WebSocket (wss://.../mqtt) publish and subscribe
// through one broker, across the two transports, at QoS 0, 1 and 2; a
// client that does not trust the certificate is refused.
func TestSpec4_2_TLSAndSecureWebSocket(t *testing.T) {
	t.Parallel()
	cert, pool := testcert.New(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	log := zerolog.Nop()
	b := core.New(core.Options{MaxQueued: 100, Logger: log})
	cfg := server.Config{ConnectTimeout: 2 * time.Second, MaxPacketSize: 1 << 20, ReceiveMaximum: 128,
		TopicAliasMaximum: 8, MaxTopicLevels: 16, MaxInflight: 32}
	ts, err := transport.New(transport.Options{
		Listeners: []transport.Listener{
			{Name: "mqtt-tls", Kind: transport.TLS, Addr: "127.0.0.1:0", TLSConfig: serverTLS},
			{Name: "mqtt-wss", Kind: transport.WSS, Addr: "127.0.0.1:0", TLSConfig: serverTLS},
		},
		Handler:         server.New(b, cfg, log),
		ShutdownTimeout: 2 * time.Second,
		Logger:          log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("transport did not stop")
		}
	})
	tlsURL := "ssl://" + ts.Addr("mqtt-tls").String()
	wssURL := "wss://" + ts.Addr("mqtt-wss").String() + "/mqtt"
	trust := func(o *mqtt3.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	}

	for _, v := range []uint{3, 4} {
		subs := newSink3()
		sub := paho3(t, wssURL, fmt.Sprint("wss-sub-", v), v, true, subs, trust)
		tok(t, sub.Subscribe(fmt.Sprintf("secure%d/#", v), 2, nil))
		pub := paho3(t, tlsURL, fmt.Sprint("tls-pub-", v), v, true, nil, trust)
		for q := range 3 {
			tok(t, pub.Publish(fmt.Sprintf("secure%d/q%d", v, q), byte(q), false, fmt.Sprint("over tls ", q)))
			m := subs.next(t)
			if m.topic != fmt.Sprintf("secure%d/q%d", v, q) || m.payload != fmt.Sprint("over tls ", q) || m.qos != byte(q) {
				t.Fatalf("level %d: got %+v", v, m)
			}
		}
		subs.nothing(t)
	}

	// Without the CA the handshake fails: nothing reaches MQTT.
	if _, err := paho3Try(t, tlsURL, "untrusting", 4, true, nil, func(o *mqtt3.ClientOptions) {
		o.SetTLSConfig(&tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	}); err == nil {
		t.Fatal("a client that does not trust the certificate connected")
	}
}

// MQTT over TLS as an operator sets it up (PEM files, transport's loader)
// and as docs/mqtt.md shows it: mosquitto_sub and mosquitto_pub with
// --cafile, MQTT 5 and 3.1.1.
func TestSpec4_2_MosquittoTLS(t *testing.T) {
	t.Parallel()
	pubCmd, subCmd := mosquitto(t, "mosquitto_pub"), mosquitto(t, "mosquitto_sub")
	certFile, keyFile, _ := testcert.Files(t)
	serverTLS, err := transport.LoadTLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	ts, err := transport.New(transport.Options{
		Listeners:       []transport.Listener{{Name: "mqtt-tls", Kind: transport.TLS, Addr: "127.0.0.1:0", TLSConfig: serverTLS}},
		Handler:         server.New(core.New(core.Options{MaxQueued: 100, Logger: log}), server.Config{}, log),
		ShutdownTimeout: 2 * time.Second, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	addr := ts.Addr("mqtt-tls").String()
	p := addr[strings.LastIndex(addr, ":")+1:]
	for _, v := range []string{"mqttv5", "mqttv311"} {
		// Retained, so the subscriber need not be up before the publish.
		out, err := runCmd(t, 10*time.Second, pubCmd, "-h", "127.0.0.1", "-p", p, "--cafile", certFile, "-V", v,
			"-t", "tls/"+v, "-m", "hi over tls", "-q", "1", "-r")
		if err != nil {
			t.Fatalf("%s mosquitto_pub: %v %s", v, err, out)
		}
		out, err = runCmd(t, 10*time.Second, subCmd, "-h", "127.0.0.1", "-p", p, "--cafile", certFile, "-V", v,
			"-t", "tls/"+v, "-v", "-C", "1", "-W", "5")
		if err != nil || strings.TrimSpace(out) != "tls/"+v+" hi over tls" {
			t.Fatalf("%s mosquitto_sub: %q, %v", v, out, err)
		}
	}
	// Without the CA file the handshake fails.
	if out, err := runCmd(t, 10*time.Second, pubCmd, "-h", "127.0.0.1", "-p", p, "--capath", t.TempDir(),
		"-t", "tls/x", "-m", "x"); err == nil {
		t.Fatalf("mosquitto_pub without the CA succeeded: %s", out)
	}
}
