package app

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/robustmq/robustmq-go/broker-server/internal/auth"
	"github.com/robustmq/robustmq-go/broker-server/internal/config"
	kafkaserver "github.com/robustmq/robustmq-go/broker-server/internal/kafka/server"
	"github.com/robustmq/robustmq-go/broker-server/internal/transport"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// ListenerKafka is the Kafka listener's name (and extra_addrs key).
const ListenerKafka = kafkaserver.ListenerName

// kafkaFrontEnd is the Kafka listener with its own transport (its
// connection metrics are prefixed kafka_) and the front end behind it.
type kafkaFrontEnd struct {
	ts      *transport.Server
	srv     *kafkaserver.Server
	streams *streamclient.Client
	addr    string // advertised
}

// newKafka binds the Kafka listener; nil when listeners.kafka is off.
// self reports this broker's registered node id.
// produced, if set, gets every batch appended to a topic (stream mappings
// hand mapped streams' records to MQTT). acl, if set, holds the users and
// ACL rules of cluster.tenant ([auth] enabled): they authorise topic
// access when the Kafka tenant is that tenant.
func newKafka(cfg config.Config, pc grpc.ClientConnInterface, cache *metacache.Cache, reg prometheus.Registerer,
	log zerolog.Logger, self func() (uint64, bool),
	produced func(ctx context.Context, topic string, recs []recordbatch.Record) error, acl *auth.Store) (*kafkaFrontEnd, error) {
	if !cfg.Listeners.Kafka.Enabled() {
		return nil, nil
	}
	k := &kafkaFrontEnd{}
	k.streams = streamclient.New(pc, streamclient.Options{Tenant: cfg.Kafka.Tenant, Cache: cache,
		Logger: log.With().Str("component", "kafka-streams").Logger()})
	k.srv = kafkaserver.New(kafkaserver.Config{
		AutoCreateTopics:           cfg.Kafka.AutoCreateTopics,
		DefaultPartitions:          cfg.Kafka.DefaultPartitions,
		DefaultReplicas:            cfg.Kafka.DefaultReplicas,
		MaxMessageBytes:            cfg.Kafka.MaxMessageBytes,
		GroupInitialRebalanceDelay: cfg.Kafka.GroupInitialRebalanceDelay,
		// [auth] enabled turns authentication on for Kafka too.
		SASL:           cfg.Kafka.SASL || cfg.Auth.Enabled,
		InternalTopics: internalTopics(cfg),
	}, kafkaserver.Deps{
		Streams:    k.streams,
		Placement:  placementpb.NewPlacementServiceClient(pc),
		Cache:      cache,
		Self:       self,
		Advertised: func() string { return k.addr },
		Produced:   produced,
		ACL:        kafkaACL(cfg, acl),
	}, log.With().Str("component", "kafka").Logger())
	ts, err := transport.New(transport.Options{
		Listeners:        []transport.Listener{{Name: ListenerKafka, Kind: transport.TCP, Addr: cfg.Listeners.Kafka.Addr}},
		Handler:          k.srv,
		MaxConnections:   cfg.Limits.MaxConnections,
		HandshakeTimeout: cfg.Limits.HandshakeTimeout,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		Registerer:       prometheus.WrapRegistererWith(frontLabels("kafka", cfg.Kafka.Tenant), reg),
		Logger:           log.With().Str("component", "kafka-transport").Logger(),
	})
	if err != nil {
		_ = k.streams.Close()
		return nil, fmt.Errorf("kafka listener: %w", err)
	}
	k.ts = ts
	k.addr = advertised(cfg.Listeners.Kafka.AdvertiseAddr, ts.Addr(ListenerKafka))
	return k, nil
}

// start runs the listener and the front end in g; the stream client is
// closed when the front end stops.
func (k *kafkaFrontEnd) start(g *lifecycle.Group) {
	g.Go("kafka-transport", k.ts.Serve)
	g.Go("kafka", func(ctx context.Context) error {
		defer func() { _ = k.streams.Close() }()
		return k.srv.Run(ctx)
	})
}

// internalTopics are the streams of the Kafka tenant the broker writes
// itself: the MQTT message log, when it lives in the same tenant.
func internalTopics(cfg config.Config) []string {
	if cfg.Kafka.Tenant != cfg.Cluster.Tenant {
		return nil
	}
	return []string{cfg.Cluster.MessageStream}
}

// kafkaACL is the store that authorises Kafka topic access: the [auth]
// store, whose rules are cluster.tenant's, when Kafka serves that tenant.
func kafkaACL(cfg config.Config, acl *auth.Store) *auth.Store {
	if acl == nil || cfg.Kafka.Tenant != cfg.Cluster.Tenant {
		return nil
	}
	return acl
}
