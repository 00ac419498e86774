package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// BrokerBinary is the broker server's binary name in BinDir.
const BrokerBinary = "broker-server"

// brokerEnvPrefix prefixes the broker's environment overrides; the harness
// scrubs the test's own.
const brokerEnvPrefix = "ROBUSTMQ_BROKER_"

// BrokerOptions configures a set of broker-server processes.
type BrokerOptions struct {
	// Brokers is the number of brokers (1 when zero).
	Brokers int
	// Placement lists the placement center members (required).
	Placement []string
	// Env holds extra ROBUSTMQ_BROKER_* overrides, e.g.
	// "ROBUSTMQ_BROKER_CLUSTER_COMMIT_INTERVAL=100ms".
	Env []string
	// ExtraArgs are appended to every broker's arguments.
	ExtraArgs []string
	// ReadyTimeout bounds each broker's start (DefaultReadyTimeout when
	// zero).
	ReadyTimeout time.Duration
}

// Broker is one broker-server process.
type Broker struct {
	Index    int    // 0-based position in its BrokerCluster
	MQTT     string // MQTT over TCP
	WS       string // MQTT over WebSocket, path /mqtt
	GRPC     string
	HTTPAddr string
	Kafka    string // the Kafka listener
	*Process
}

// WSURL is the broker's MQTT-over-WebSocket URL.
func (b *Broker) WSURL() string { return "ws://" + b.WS + "/mqtt" }

// BrokerCluster is the brokers started by one test.
type BrokerCluster struct {
	t       testing.TB
	bin     string
	opts    BrokerOptions
	brokers []*Broker
}

// StartBroker starts opts.Brokers brokers on free loopback ports, one after
// the other, each waited for until it answers an MQTT CONNECT (a broker
// serves clients only once it is registered and its cluster state is
// loaded).
func StartBroker(t testing.TB, opts BrokerOptions) *BrokerCluster {
	t.Helper()
	if len(opts.Placement) == 0 {
		t.Fatal("harness: StartBroker needs the placement addresses")
	}
	if opts.Brokers <= 0 {
		opts.Brokers = 1
	}
	c := &BrokerCluster{t: t, bin: Binary(t, BrokerBinary), opts: opts}
	ports := FreePorts(t, 5*opts.Brokers)
	for i := range opts.Brokers {
		b := &Broker{Index: i, MQTT: LoopbackAddr(ports[5*i]), WS: LoopbackAddr(ports[5*i+1]),
			GRPC: LoopbackAddr(ports[5*i+2]), HTTPAddr: LoopbackAddr(ports[5*i+3]), Kafka: LoopbackAddr(ports[5*i+4])}
		c.start(b)
	}
	return c
}

func (c *BrokerCluster) start(b *Broker) {
	c.t.Helper()
	args := []string{
		"--grpc-addr", b.GRPC,
		"--http-addr", b.HTTPAddr,
		"--mqtt-addr", b.MQTT,
		"--ws-addr", b.WS,
		"--kafka-addr", b.Kafka,
		"--placement", strings.Join(c.opts.Placement, ","),
		"--log-format", "json",
	}
	// TLS listeners stay off: they need certificate files.
	env := c.opts.Env
	b.Process = Start(c.t, Spec{
		Name:             fmt.Sprintf("broker-%d", b.Index+1),
		Path:             c.bin,
		Args:             append(args, c.opts.ExtraArgs...),
		Env:              env,
		ScrubEnvPrefixes: []string{brokerEnvPrefix},
		ReadyTimeout:     c.opts.ReadyTimeout,
		Ready:            func(ctx context.Context) error { return MQTTReady(ctx, b.MQTT) },
	})
	c.brokers = append(c.brokers, b)
}

// Add starts one more broker on fresh ports and waits until it serves.
func (c *BrokerCluster) Add() *Broker {
	c.t.Helper()
	ports := FreePorts(c.t, 5)
	b := &Broker{Index: len(c.brokers), MQTT: LoopbackAddr(ports[0]), WS: LoopbackAddr(ports[1]),
		GRPC: LoopbackAddr(ports[2]), HTTPAddr: LoopbackAddr(ports[3]), Kafka: LoopbackAddr(ports[4])}
	c.start(b)
	return b
}

// Brokers returns the brokers in start order.
func (c *BrokerCluster) Brokers() []*Broker { return append([]*Broker(nil), c.brokers...) }

// Broker returns broker i (0-based).
func (c *BrokerCluster) Broker(i int) *Broker { return c.brokers[i] }

// KafkaAddrs lists the brokers' Kafka listeners (bootstrap servers).
func (c *BrokerCluster) KafkaAddrs() []string {
	var out []string
	for _, b := range c.brokers {
		out = append(out, b.Kafka)
	}
	return out
}

// MQTTReady sends an MQTT 3.1.1 CONNECT (clean session, empty client id,
// no credentials) to addr and succeeds when a CONNACK accepting it, or
// refusing it for want of credentials, comes back.
func MQTTReady(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// CONNECT: protocol "MQTT" level 4, clean session, keep alive 10 s,
	// empty client id; then DISCONNECT.
	connect := []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 0}
	if _, err := conn.Write(connect); err != nil {
		return err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		return fmt.Errorf("no CONNACK: %w", err)
	}
	// Accepted, or refused for want of credentials (authentication is
	// on): either way the broker serves clients. 3 (server unavailable)
	// means it does not yet.
	if !bytes.Equal(ack[:3], []byte{0x20, 2, 0}) || (ack[3] != 0 && ack[3] != 4 && ack[3] != 5) {
		return fmt.Errorf("CONNACK % x", ack)
	}
	_, _ = conn.Write([]byte{0xe0, 0})
	return nil
}
