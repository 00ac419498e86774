package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	cconfig "github.com/robustmq/robustmq-go/common/config"
)

// EnvPrefix prefixes every environment override, e.g.
// ROBUSTMQ_BROKER_LISTENERS_TCP_ADDR or ROBUSTMQ_BROKER_LIMITS_MAX_CONNECTIONS.
const EnvPrefix = "ROBUSTMQ_BROKER"

// MQTT bounds used by Validate (MQTT 5.0 sections 2.1.4, 3.1.2.10, 3.2.2.3).
const (
	// MaxMQTTPacketSize is the largest MQTT packet: a 5-byte fixed header
	// and the largest remaining length, 268,435,455.
	MaxMQTTPacketSize = 268435455 + 5
	maxUint16         = 65535
)

// Config is the whole broker server configuration.
type Config struct {
	// NodeID 0 (the default) lets the placement center assign a fresh id at
	// every registration: a broker keeps no state that an id would name.
	// A positive value registers with that id (several brokers must not
	// share one).
	NodeID   uint64 `mapstructure:"node_id"`
	GRPCAddr string `mapstructure:"grpc_addr"`
	HTTPAddr string `mapstructure:"http_addr"`
	// AdvertiseAddr is the gRPC address registered with the placement
	// center; empty means the bound gRPC address.
	AdvertiseAddr string `mapstructure:"advertise_addr"`
	// Placement lists the placement center members as host:port.
	Placement []string `mapstructure:"placement"`
	// ShutdownTimeout bounds how long client connections get to finish
	// after SIGTERM before they are cut.
	ShutdownTimeout time.Duration   `mapstructure:"shutdown_timeout"`
	Listeners       ListenersConfig `mapstructure:"listeners"`
	Cluster         ClusterConfig   `mapstructure:"cluster"`
	Auth            AuthConfig      `mapstructure:"auth"`
	Limits          LimitsConfig    `mapstructure:"limits"`
	Log             LogConfig       `mapstructure:"log"`
	MQTT            MQTTConfig      `mapstructure:"mqtt"`  // see mqtt.go
	Kafka           KafkaConfig     `mapstructure:"kafka"` // see kafka.go
}

// ListenersConfig holds the client-facing listeners. A listener with an
// empty addr is off; a TLS one is off until both cert_file and key_file
// are set.
type ListenersConfig struct {
	TCP TCPListener `mapstructure:"tcp"`
	TLS TLSListener `mapstructure:"tls"`
	WS  WSListener  `mapstructure:"ws"`
	WSS WSSListener `mapstructure:"wss"`
	// Kafka is the Kafka wire protocol over plain TCP.
	Kafka TCPListener `mapstructure:"kafka"`
}

// TCPListener is MQTT over plain TCP.
type TCPListener struct {
	Addr string `mapstructure:"addr"`
	// AdvertiseAddr is the address registered with the placement center
	// for clients; empty means the bound address.
	AdvertiseAddr string `mapstructure:"advertise_addr"`
}

// TLSFiles names a PEM certificate (chain) and its private key.
type TLSFiles struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// TLSListener is MQTT over TLS.
type TLSListener struct {
	TCPListener `mapstructure:",squash"`
	TLSFiles    `mapstructure:",squash"`
}

// WSListener is MQTT over WebSocket on one HTTP path.
type WSListener struct {
	TCPListener `mapstructure:",squash"`
	Path        string `mapstructure:"path"`
}

// WSSListener is MQTT over secure WebSocket.
type WSSListener struct {
	WSListener `mapstructure:",squash"`
	TLSFiles   `mapstructure:",squash"`
}

// Enabled reports whether the listener is configured.
func (l TCPListener) Enabled() bool { return l.Addr != "" }

// Enabled reports whether the listener has an address and both files.
func (l TLSListener) Enabled() bool { return l.Addr != "" && l.CertFile != "" && l.KeyFile != "" }

// Enabled reports whether the listener has an address and both files.
func (l WSSListener) Enabled() bool { return l.Addr != "" && l.CertFile != "" && l.KeyFile != "" }

// LimitsConfig bounds what clients may use. The transport enforces
// max_connections and handshake_timeout; the MQTT front end
// (internal/mqtt/server) and the broker core read the other keys.
type LimitsConfig struct {
	// MaxConnections counts client connections over every listener; one
	// more is closed at once (WebSocket: HTTP 503 before the upgrade).
	MaxConnections int `mapstructure:"max_connections"`
	// HandshakeTimeout bounds a TLS handshake and a WebSocket upgrade.
	HandshakeTimeout time.Duration `mapstructure:"handshake_timeout"`
	// ConnectTimeout bounds the wait for CONNECT after the transport is up.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// MaxPacketSize is the largest MQTT packet accepted or sent, fixed
	// header included.
	MaxPacketSize int `mapstructure:"max_packet_size"`
	// ReceiveMaximum is the QoS 1/2 publishes a client may have unacked
	// towards the broker (MQTT 5 Receive Maximum).
	ReceiveMaximum int `mapstructure:"receive_maximum"`
	// TopicAliasMaximum is the highest topic alias a client may use (0: none).
	TopicAliasMaximum int `mapstructure:"topic_alias_maximum"`
	// ServerKeepAlive caps a client's keep alive (0: take the client's).
	ServerKeepAlive time.Duration `mapstructure:"server_keep_alive"`
	// MaxTopicLevels bounds the levels of a topic name or filter.
	MaxTopicLevels int `mapstructure:"max_topic_levels"`
	// MaxInflight bounds the outbound QoS 1/2 messages a client has not
	// acknowledged yet (also bounded by the client's Receive Maximum).
	MaxInflight int `mapstructure:"max_inflight"`
	// MaxQueuedMessages bounds the messages routed to one session that wait
	// in memory (QoS 0, shared subscriptions, and every message of a
	// session that is not persistent); when full, new ones for that session
	// are dropped. A persistent session's QoS 1/2 messages wait in the log
	// instead (cluster.feed_window).
	MaxQueuedMessages int `mapstructure:"max_queued_messages"`
}

// ClusterConfig is how the broker keeps MQTT state in the cluster
// (internal/cluster): session records, routes and retained messages in the
// placement center, QoS 1/2 messages in a journal stream.
type ClusterConfig struct {
	// Tenant names the key space and owns the message stream.
	Tenant string `mapstructure:"tenant"`
	// MessageStream is the journal stream of QoS 1/2 publishes;
	// MessagePartitions and MessageReplicas apply when a broker creates it
	// (replicas 0: the placement center's default, clamped to the live
	// journal nodes). Messages of one topic stay in one partition.
	MessageStream     string `mapstructure:"message_stream"`
	MessagePartitions int    `mapstructure:"message_partitions"`
	MessageReplicas   int    `mapstructure:"message_replicas"`
	// FeedWindow bounds the log messages one persistent session holds in
	// memory; past it, its delivery waits and reads on from the log.
	FeedWindow int `mapstructure:"feed_window"`
	// CommitInterval is how often persistent sessions' log positions are
	// saved in the cluster (a broker's death resends at most this much).
	CommitInterval time.Duration `mapstructure:"commit_interval"`
	// SweepInterval is how often the lowest-id broker fires the wills of
	// dead brokers' sessions and ends expired sessions nobody holds.
	SweepInterval time.Duration `mapstructure:"sweep_interval"`
}

// AuthConfig turns on client authentication and topic authorisation
// against the tenant's users and ACL rules in the placement center
// (robustctl user / acl).
type AuthConfig struct {
	// Enabled: clients must present a user name and password of a user of
	// cluster.tenant (unless AllowAnonymous) and their topics are checked
	// against the ACL rules.
	Enabled        bool `mapstructure:"enabled"`
	AllowAnonymous bool `mapstructure:"allow_anonymous"`
	// ACLDefault decides when no ACL rule matches: "allow" or "deny".
	ACLDefault string `mapstructure:"acl_default"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Default is a single development broker: MQTT on 127.0.0.1:1883,
// WebSocket on 127.0.0.1:8083/mqtt, gRPC on 127.0.0.1:1229, TLS
// listeners off until certificate files are given.
func Default() Config {
	return Config{
		GRPCAddr:        "127.0.0.1:1229",
		HTTPAddr:        "127.0.0.1:9120",
		Placement:       []string{"127.0.0.1:1228"},
		ShutdownTimeout: 10 * time.Second,
		Listeners: ListenersConfig{
			TCP: TCPListener{Addr: "127.0.0.1:1883"},
			TLS: TLSListener{TCPListener: TCPListener{Addr: "127.0.0.1:8883"}},
			WS:  WSListener{TCPListener: TCPListener{Addr: "127.0.0.1:8083"}, Path: "/mqtt"},
			WSS: WSSListener{WSListener: WSListener{TCPListener: TCPListener{Addr: "127.0.0.1:8084"}, Path: "/mqtt"}},
			// Kafka stays off unless configured (the shipped files set
			// 127.0.0.1:9092): a generated config that predates it must
			// not have two brokers of one host fight over 9092.
			Kafka: TCPListener{},
		},
		Cluster: ClusterConfig{
			Tenant:            "default",
			MessageStream:     "mqtt-messages",
			MessagePartitions: 4,
			FeedWindow:        1000,
			CommitInterval:    200 * time.Millisecond,
			SweepInterval:     time.Second,
		},
		Auth: AuthConfig{ACLDefault: "allow"},
		Kafka: KafkaConfig{Tenant: "default", AutoCreateTopics: true, DefaultPartitions: 1, MaxMessageBytes: 1 << 20,
			GroupInitialRebalanceDelay: time.Second},
		Limits: LimitsConfig{
			MaxConnections:    100000,
			HandshakeTimeout:  10 * time.Second,
			ConnectTimeout:    10 * time.Second,
			MaxPacketSize:     1 << 20,
			ReceiveMaximum:    128,
			TopicAliasMaximum: 64,
			MaxTopicLevels:    128,
			MaxInflight:       32,
			MaxQueuedMessages: 1000,
		},
		Log:  LogConfig{Level: "info", Format: "auto"},
		MQTT: DefaultMQTT(),
	}
}

// AddFlags declares the broker's own flags, each with the key it overrides
// (--config comes from common/servicemain; a broker has no --data-dir).
func AddFlags(f *cconfig.Flags) {
	d := Default()
	f.Uint64("node-id", "node_id", d.NodeID, "node id to register with (0: assigned by the placement center)")
	f.String("grpc-addr", "grpc_addr", d.GRPCAddr, "gRPC listen address")
	f.String("http-addr", "http_addr", d.HTTPAddr, "HTTP listen address for /metrics and /healthz")
	f.String("advertise-addr", "advertise_addr", "", "gRPC address registered with the placement center (default: the bound gRPC address)")
	f.StringSlice("placement", "placement", d.Placement, "placement center members host:port,...")
	f.String("mqtt-addr", "listeners.tcp.addr", d.Listeners.TCP.Addr, "MQTT over TCP listen address (empty: off)")
	f.String("ws-addr", "listeners.ws.addr", d.Listeners.WS.Addr, "MQTT over WebSocket listen address (empty: off)")
	f.String("kafka-addr", "listeners.kafka.addr", d.Listeners.Kafka.Addr, "Kafka listen address (empty: off)")
	f.String("log-level", "log.level", d.Log.Level, "log level: debug, info, warn, error")
	f.String("log-format", "log.format", d.Log.Format, "log format: auto, json, console")
}

// PlacementAddrs flattens Placement (entries may hold comma lists).
func (c Config) PlacementAddrs() []string {
	var out []string
	for _, p := range c.Placement {
		for _, a := range strings.Split(p, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

// Validate checks the configuration for mistakes an operator can fix.
func (c Config) Validate() error {
	if err := hostPort("grpc_addr", c.GRPCAddr, false); err != nil {
		return err
	}
	if err := hostPort("http_addr", c.HTTPAddr, false); err != nil {
		return err
	}
	if err := hostPort("advertise_addr", c.AdvertiseAddr, true); err != nil {
		return err
	}
	if len(c.PlacementAddrs()) == 0 {
		return errors.New("placement must list at least one placement center address")
	}
	for _, a := range c.PlacementAddrs() {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("placement %q: %w", a, err)
		}
	}
	if c.ShutdownTimeout <= 0 {
		return errors.New("shutdown_timeout must be positive")
	}
	if err := c.Listeners.validate(); err != nil {
		return err
	}
	if err := c.Cluster.validate(); err != nil {
		return err
	}
	if c.Auth.ACLDefault != "allow" && c.Auth.ACLDefault != "deny" {
		return fmt.Errorf("auth.acl_default %q must be \"allow\" or \"deny\"", c.Auth.ACLDefault)
	}
	if err := c.MQTT.validate(); err != nil {
		return err
	}
	if err := c.Kafka.validate(); err != nil {
		return err
	}
	return c.Limits.validate()
}

func (c ClusterConfig) validate() error {
	switch {
	case c.Tenant == "":
		return errors.New("cluster.tenant must not be empty")
	case c.MessageStream == "":
		return errors.New("cluster.message_stream must not be empty")
	case c.MessagePartitions < 1 || c.MessagePartitions > 4096:
		return fmt.Errorf("cluster.message_partitions %d is not in [1, 4096]", c.MessagePartitions)
	case c.MessageReplicas < 0:
		return fmt.Errorf("cluster.message_replicas %d is negative", c.MessageReplicas)
	case c.FeedWindow < 1:
		return fmt.Errorf("cluster.feed_window %d must be positive", c.FeedWindow)
	case c.CommitInterval <= 0 || c.SweepInterval <= 0:
		return errors.New("cluster.commit_interval and cluster.sweep_interval must be positive")
	}
	return nil
}

func (l ListenersConfig) validate() error {
	checks := []struct {
		name, addr, advertise string
	}{
		{"listeners.tcp", l.TCP.Addr, l.TCP.AdvertiseAddr},
		{"listeners.tls", l.TLS.Addr, l.TLS.AdvertiseAddr},
		{"listeners.ws", l.WS.Addr, l.WS.AdvertiseAddr},
		{"listeners.wss", l.WSS.Addr, l.WSS.AdvertiseAddr},
		{"listeners.kafka", l.Kafka.Addr, l.Kafka.AdvertiseAddr},
	}
	for _, c := range checks {
		if err := hostPort(c.name+".addr", c.addr, true); err != nil {
			return err
		}
		if err := hostPort(c.name+".advertise_addr", c.advertise, true); err != nil {
			return err
		}
	}
	if err := l.TLS.TLSFiles.validate("listeners.tls", l.TLS.Addr); err != nil {
		return err
	}
	if err := l.WSS.TLSFiles.validate("listeners.wss", l.WSS.Addr); err != nil {
		return err
	}
	for name, p := range map[string]string{"listeners.ws.path": l.WS.Path, "listeners.wss.path": l.WSS.Path} {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("%s must start with /, got %q", name, p)
		}
	}
	if !l.TCP.Enabled() && !l.TLS.Enabled() && !l.WS.Enabled() && !l.WSS.Enabled() && !l.Kafka.Enabled() {
		return errors.New("listeners: every client listener is off; configure at least one")
	}
	return nil
}

func (f TLSFiles) validate(name, addr string) error {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return fmt.Errorf("%s: cert_file and key_file must be set together", name)
	}
	if f.CertFile != "" && addr == "" {
		return fmt.Errorf("%s: cert_file is set but addr is empty", name)
	}
	return nil
}

func (l LimitsConfig) validate() error {
	switch {
	case l.MaxConnections <= 0:
		return errors.New("limits.max_connections must be positive")
	case l.HandshakeTimeout <= 0:
		return errors.New("limits.handshake_timeout must be positive")
	case l.ConnectTimeout <= 0:
		return errors.New("limits.connect_timeout must be positive")
	case l.MaxPacketSize < 16 || l.MaxPacketSize > MaxMQTTPacketSize:
		return fmt.Errorf("limits.max_packet_size must be in [16, %d]", MaxMQTTPacketSize)
	case l.ReceiveMaximum < 1 || l.ReceiveMaximum > maxUint16:
		return errors.New("limits.receive_maximum must be in [1, 65535]")
	case l.TopicAliasMaximum < 0 || l.TopicAliasMaximum > maxUint16:
		return errors.New("limits.topic_alias_maximum must be in [0, 65535]")
	case l.ServerKeepAlive < 0 || l.ServerKeepAlive > maxUint16*time.Second || l.ServerKeepAlive%time.Second != 0:
		return errors.New("limits.server_keep_alive must be whole seconds in [0s, 65535s]")
	case l.MaxTopicLevels < 1:
		return errors.New("limits.max_topic_levels must be positive")
	case l.MaxInflight < 1 || l.MaxInflight > maxUint16:
		return errors.New("limits.max_inflight must be in [1, 65535]")
	case l.MaxQueuedMessages < 1:
		return errors.New("limits.max_queued_messages must be positive")
	}
	return nil
}

// hostPort checks a host:port address; empty is accepted when optional.
func hostPort(name, addr string, optional bool) error {
	if addr == "" {
		if optional {
			return nil
		}
		return fmt.Errorf("%s must be set", name)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
