package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/broker-server/internal/auth"
	"github.com/robustmq/robustmq-go/broker-server/internal/cluster"
	"github.com/robustmq/robustmq-go/broker-server/internal/config"
	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	mqttserver "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/server"
	mqttsys "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/sys"
	"github.com/robustmq/robustmq-go/broker-server/internal/transport"
	"github.com/robustmq/robustmq-go/common/grpcserver"
	"github.com/robustmq/robustmq-go/common/httpserver"
	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/registration"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Listener names: also the keys of the addresses registered with the
// placement center (ClusterNode.extra_addrs).
const (
	ListenerMQTT    = "mqtt"
	ListenerMQTTTLS = "mqtt-tls"
	ListenerMQTTWS  = "mqtt-ws"
	ListenerMQTTWSS = "mqtt-wss"
)

// Options are what the caller plugs into the broker.
type Options struct {
	// Handler serves every client connection; nil means the MQTT front end
	// (mqtt/server) over an in-memory broker core.
	Handler transport.Handler
	// Started, if set, is called once everything listens, with the
	// registered node's addresses (for tests and tools).
	Started func(Endpoints)
}

// Endpoints are the bound addresses of a running broker.
type Endpoints struct {
	GRPC      string
	HTTP      string
	Listeners map[string]string
}

// StandaloneMQTTHandler is the MQTT front end over an in-memory core with
// no cluster behind it: nothing survives the process. Tests use it where
// the cluster is not what they test.
func StandaloneMQTTHandler(cfg config.Config, log zerolog.Logger) transport.Handler {
	b := core.New(core.Options{MaxQueued: cfg.Limits.MaxQueuedMessages, Logger: log.With().Str("component", "core").Logger()})
	return mqttserver.New(b, mqttserver.ConfigFor(cfg), log.With().Str("component", "mqtt").Logger())
}

// sysReporter publishes the front end's statistics under $SYS through the
// core (nil when mqtt.sys_interval is 0).
func sysReporter(cfg config.Config, srv *mqttserver.Server, b *core.Broker, log zerolog.Logger) *mqttsys.Reporter {
	if cfg.MQTT.SysInterval <= 0 {
		return nil
	}
	pub := mqttsys.PublisherFunc(func(ctx context.Context, m *core.Message) error {
		_, err := b.Publish(ctx, m)
		return err
	})
	return mqttsys.New(srv, pub, mqttsys.Options{Interval: cfg.MQTT.SysInterval,
		Logger: log.With().Str("component", "mqtt-sys").Logger()})
}

// listeners turns the configured listeners into transport listeners,
// loading the TLS certificates.
func listeners(cfg config.ListenersConfig) ([]transport.Listener, map[string]string, error) {
	var out []transport.Listener
	advertise := map[string]string{}
	add := func(name string, kind transport.Kind, l config.TCPListener, path string, files *config.TLSFiles) error {
		tl := transport.Listener{Name: name, Kind: kind, Addr: l.Addr, Path: path}
		if files != nil {
			tc, err := transport.LoadTLSConfig(files.CertFile, files.KeyFile)
			if err != nil {
				return fmt.Errorf("listeners.%s: %w", kind, err)
			}
			tl.TLSConfig = tc
		}
		out = append(out, tl)
		advertise[name] = l.AdvertiseAddr
		return nil
	}
	if cfg.TCP.Enabled() {
		if err := add(ListenerMQTT, transport.TCP, cfg.TCP, "", nil); err != nil {
			return nil, nil, err
		}
	}
	if cfg.TLS.Enabled() {
		if err := add(ListenerMQTTTLS, transport.TLS, cfg.TLS.TCPListener, "", &cfg.TLS.TLSFiles); err != nil {
			return nil, nil, err
		}
	}
	if cfg.WS.Enabled() {
		if err := add(ListenerMQTTWS, transport.WS, cfg.WS.TCPListener, cfg.WS.Path, nil); err != nil {
			return nil, nil, err
		}
	}
	if cfg.WSS.Enabled() {
		if err := add(ListenerMQTTWSS, transport.WSS, cfg.WSS.TCPListener, cfg.WSS.Path, &cfg.WSS.TLSFiles); err != nil {
			return nil, nil, err
		}
	}
	return out, advertise, nil
}

// advertised is addr unless it is empty, then bound.
func advertised(addr string, bound net.Addr) string {
	if addr != "" {
		return addr
	}
	return bound.String()
}

// Run starts a broker and blocks until ctx ends or a part fails.
func Run(ctx context.Context, cfg config.Config, log zerolog.Logger, opts Options) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	lns, lnAdvertise, err := listeners(cfg.Listeners)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}

	pc, err := leaderclient.Dial(cfg.PlacementAddrs(), leaderclient.Options{Logger: log.With().Str("component", "placement-client").Logger()})
	if err != nil {
		return fmt.Errorf("placement client: %w", err)
	}
	defer func() { _ = pc.Close() }()
	placement := placementpb.NewPlacementServiceClient(pc)
	cache := metacache.New(placement, log.With().Str("component", "metacache").Logger())
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mqttLabels := frontLabels("mqtt", cfg.Cluster.Tenant)

	// The MQTT front end over the core over the cluster, unless the caller
	// brings its own handler.
	handler := opts.Handler
	var cl *cluster.Cluster
	var mqttSrv *mqttserver.Server
	var authStore *auth.Store
	var broker *core.Broker
	var sysStats *mqttsys.Reporter // $SYS statistics, started once registered
	if handler == nil {
		streams := streamclient.New(pc, streamclient.Options{Tenant: cfg.Cluster.Tenant, Cache: cache,
			Logger: log.With().Str("component", "streamclient").Logger()})
		defer func() { _ = streams.Close() }()
		retained := core.NewMemRetainStore()
		cl = cluster.New(cluster.Options{Tenant: cfg.Cluster.Tenant, Stream: cfg.Cluster.MessageStream,
			Partitions: cfg.Cluster.MessagePartitions, Replicas: cfg.Cluster.MessageReplicas,
			SweepInterval: cfg.Cluster.SweepInterval, Placement: placement, Cache: cache, Streams: streams,
			Retained: retained, Logger: log.With().Str("component", "cluster").Logger()})
		broker = core.New(core.Options{MaxQueued: cfg.Limits.MaxQueuedMessages, Retain: retained, Cluster: cl,
			FeedWindow: cfg.Cluster.FeedWindow, CommitInterval: cfg.Cluster.CommitInterval,
			Logger: log.With().Str("component", "core").Logger()})
		cl.Bind(broker)
		if err := registerCoreMetrics(reg, broker, cl); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		mcfg := mqttserver.ConfigFor(cfg)
		if mcfg.ObserveDelivery, err = newDeliveryHistogram(reg, mqttLabels); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		srv := mqttserver.New(broker, mcfg, log.With().Str("component", "mqtt").Logger())
		if err := registerMQTTMetrics(reg, mqttLabels, srv, broker, cl); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		handler, mqttSrv = srv, srv
		if cfg.Auth.Enabled {
			authStore = auth.New(auth.Options{Tenant: cfg.Cluster.Tenant, AllowAnonymous: cfg.Auth.AllowAnonymous,
				DefaultAllow: cfg.Auth.ACLDefault == "allow", Placement: placement,
				Logger: log.With().Str("component", "auth").Logger()})
			srv.SetAuthorizer(authStore)
		}
		sysStats = sysReporter(cfg, srv, broker, log)
	}

	gs, err := grpcserver.New(grpcserver.Options{
		Addr:       cfg.GRPCAddr,
		Logger:     log.With().Str("component", "grpc").Logger(),
		Registerer: reg,
	})
	if err != nil {
		return fmt.Errorf("grpc server: %w", err)
	}
	if cl != nil {
		brokerpb.RegisterBrokerInternalServer(gs.GRPC(), cl.Server())
	}
	ts, err := transport.New(transport.Options{
		Listeners:        lns,
		Handler:          handler,
		MaxConnections:   cfg.Limits.MaxConnections,
		HandshakeTimeout: cfg.Limits.HandshakeTimeout,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		Registerer:       prometheus.WrapRegistererWith(mqttLabels, reg),
		Logger:           log.With().Str("component", "transport").Logger(),
	})
	if err != nil {
		gs.Stop()
		return fmt.Errorf("transport: %w", err)
	}

	var synced atomic.Bool
	var reg2 *registration.Registration
	var produced func(ctx context.Context, topic string, recs []recordbatch.Record) error
	if cl != nil && cfg.Kafka.Tenant == cfg.Cluster.Tenant {
		// Records produced to a stream an MQTT mapping names reach the
		// MQTT subscribers of the topics in their keys.
		produced = cl.PublishRecords
	}
	kafka, err := newKafka(cfg, pc, cache, reg, log, func() (uint64, bool) {
		n := reg2.Current()
		return n.GetNodeId(), n != nil
	}, produced, authStore)
	if err != nil {
		gs.Stop()
		ts.Close()
		return err
	}
	healthy := func() error {
		if !synced.Load() {
			return errors.New("placement metadata not loaded yet")
		}
		if reg2.Current() == nil {
			return errors.New("not registered with the placement center yet")
		}
		return nil
	}
	hs, err := httpserver.New(cfg.HTTPAddr, reg, healthy, log.With().Str("component", "http").Logger())
	if err != nil {
		gs.Stop()
		ts.Close()
		if kafka != nil {
			kafka.ts.Close()
		}
		return fmt.Errorf("http server: %w", err)
	}

	ep := Endpoints{GRPC: advertised(cfg.AdvertiseAddr, gs.Addr()), HTTP: hs.Addr().String(), Listeners: map[string]string{}}
	extra := map[string]string{"http": ep.HTTP}
	for _, l := range lns {
		a := advertised(lnAdvertise[l.Name], ts.Addr(l.Name))
		ep.Listeners[l.Name] = a
		extra[l.Name] = a
		if host, _, _ := net.SplitHostPort(a); host == "" || net.ParseIP(host).IsUnspecified() {
			log.Warn().Str("listener", l.Name).Str("addr", a).Msg("registering an unspecified address; set advertise_addr so clients can reach this listener")
		}
	}
	if kafka != nil {
		ep.Listeners[ListenerKafka] = kafka.addr
		extra[ListenerKafka] = kafka.addr
	}
	reg2 = registration.New(placement, registration.Config{
		Node: &placementpb.ClusterNode{NodeId: cfg.NodeID, Kind: placementpb.NodeKind_NODE_KIND_BROKER,
			GrpcAddr: ep.GRPC, ExtraAddrs: extra},
		// A broker leaves no state behind: a clean stop removes it.
		UnregisterOnStop: true,
		Logger:           log.With().Str("component", "registration").Logger(),
	})
	log.Info().Uint64("node_id", cfg.NodeID).Str("grpc", ep.GRPC).Str("http", ep.HTTP).
		Interface("listeners", ep.Listeners).Strs("placement", cfg.PlacementAddrs()).Msg("broker server starting")

	// The transport drains clients for up to shutdown_timeout; the group
	// waits a little longer so it is not the one cutting them.
	g := lifecycle.NewGroup(ctx, cfg.ShutdownTimeout+5*time.Second)
	g.Go("grpc", gs.Serve)
	g.Go("http", hs.Serve)
	g.Go("metacache", cache.Run)
	if kafka != nil {
		kafka.start(g)
	}
	g.Go("metacache-ready", func(ctx context.Context) error {
		if err := cache.Ready(ctx); err != nil {
			return nil
		}
		synced.Store(true)
		log.Info().Msg("placement metadata loaded")
		return nil
	})
	g.Go("registration", func(ctx context.Context) error {
		n, err := reg2.Register(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		log.Info().Uint64("node_id", n.GetNodeId()).Uint64("incarnation", n.GetIncarnation()).Msg("broker registered")
		if cl != nil {
			// Clients wait in the listen backlog until the cluster state
			// (routes, retained messages, the message log) is in place.
			if err := cache.Ready(ctx); err != nil {
				return nil
			}
			if err := cl.Start(ctx, n.GetNodeId(), n.GetIncarnation()); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("cluster: %w", err)
			}
			g.Go("cluster", cl.Run)
			g.Go("core", broker.Run)
			g.Go("drain", func(ctx context.Context) error { return cl.RunDrain(ctx, ListenerMQTT, mqttSrv) })
			if authStore != nil {
				g.Go("auth", authStore.Run)
				if err := authStore.Ready(ctx); err != nil {
					return nil
				}
				log.Info().Msg("client authentication and topic authorisation on")
			}
			if sysStats != nil {
				sysStats.SetNode(strconv.FormatUint(n.GetNodeId(), 10))
				g.Go("mqtt-sys", sysStats.Run)
			}
			log.Info().Str("message_stream", cfg.Cluster.MessageStream).Msg("MQTT state in the cluster: sessions, routes and retained messages in the placement center, QoS 1/2 messages in the journal")
		}
		g.Go("transport", ts.Serve)
		if opts.Started != nil {
			opts.Started(ep)
		}
		return reg2.Run(ctx)
	})
	err = g.Wait()
	log.Info().Err(err).Msg("broker server stopped")
	return err
}
