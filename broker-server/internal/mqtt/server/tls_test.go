package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
	"github.com/robustmq/robustmq-go/broker-server/internal/testcert"
	"github.com/robustmq/robustmq-go/broker-server/internal/transport"
)

// TestTLSAndSecureWebSocket: MQTT 3.1.1 and 3.1 clients over TLS
// (ssl://) and secure WebSocket (wss://.../mqtt) publish and subscribe
// through one broker, across the two transports, at QoS 0, 1 and 2; a
// client that does not trust the certificate is refused.
func TestTLSAndSecureWebSocket(t *testing.T) {
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
