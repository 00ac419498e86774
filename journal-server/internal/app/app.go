package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/grpcserver"
	"github.com/robustmq/robustmq-go/common/httpserver"
	"github.com/robustmq/robustmq-go/common/leaderclient"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/common/metacache"
	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/registration"
	"github.com/robustmq/robustmq-go/journal-server/internal/config"
	"github.com/robustmq/robustmq-go/journal-server/internal/reconcile"
	"github.com/robustmq/robustmq-go/journal-server/internal/recovery"
	"github.com/robustmq/robustmq-go/journal-server/internal/replication"
	"github.com/robustmq/robustmq-go/journal-server/internal/retention"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
	"github.com/robustmq/robustmq-go/journal-server/internal/server"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Deps is what a background worker is built from: the node's parts, all
// running by the time workers start (the metadata cache has synced once).
type Deps struct {
	NodeID    uint64
	Config    config.Config
	Store     *segstore.Store
	Meta      *metacache.Cache
	Placement placementpb.PlacementServiceClient
	// Peers reaches other journal nodes by id (JournalService clients:
	// journalpb.NewJournalServiceClient(conn)).
	Peers *replication.Peers
	// Manager must hear of local fences and seals made outside the gRPC
	// API (Manager.Fenced, Manager.Sealed) so a leadership ends at once.
	Manager *replication.Manager
	// Changes must be notified after a worker changes a local replica
	// (Seal, AppendRecovered, DeleteSegment) so readers wake at once.
	Changes  *replication.Changes
	Registry prometheus.Registerer
	Logger   zerolog.Logger
}

// Worker is a background loop run under the node's lifecycle group once
// the metadata cache has synced: it returns nil when ctx ends; an error
// stops the node.
type Worker struct {
	Name string
	Run  func(ctx context.Context) error
}

// workers builds the background workers: the recovery driver (runs
// recoveries placement assigned to this node), reconcile (brings local
// replicas in line with placement: seals, trims, completes, copies
// re-replicated sealed segments, drops) and retention (asks placement to
// delete the expired sealed segments of the shards whose open segment this
// node leads; reconcile then drops the data everywhere). All three
// reach other journal nodes through Peers, which applies this node's
// message-size limit, and tell the replication manager and the readers
// about every replica they change directly.
func workers(d Deps) ([]Worker, error) {
	dial := func(_ context.Context, id uint64) (journalpb.JournalServiceClient, error) {
		conn, err := d.Peers.Conn(id)
		if err != nil {
			return nil, err
		}
		return journalpb.NewJournalServiceClient(conn), nil
	}
	hooks := recovery.Hooks{OnFenced: d.Manager.Fenced, OnSealed: d.Manager.Sealed, OnChanged: d.Changes.Notify}
	rec, err := recovery.New(recovery.Config{NodeID: d.NodeID, Store: d.Store, Cache: d.Meta, Placement: d.Placement,
		Dial: dial, Hooks: hooks, Log: d.Logger.With().Str("component", "recovery").Logger()})
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	rc, err := reconcile.New(reconcile.Config{NodeID: d.NodeID, Store: d.Store, Cache: d.Meta, Placement: d.Placement,
		Dial: dial, Hooks: hooks, Log: d.Logger.With().Str("component", "reconcile").Logger()})
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	ret, err := retention.New(retention.Config{NodeID: d.NodeID, Store: d.Store, Cache: d.Meta, Placement: d.Placement, Dial: dial,
		DefaultTime: d.Config.Segment.RetentionTime, DefaultBytes: d.Config.Segment.RetentionBytes, Log: d.Logger})
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	return []Worker{{Name: "recovery", Run: rec.Run}, {Name: "reconcile", Run: rc.Run}, {Name: "retention", Run: ret.Run}}, nil
}

// Run starts a journal node and blocks until ctx ends or a part fails.
func Run(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	observeSync, err := newSyncHistogram(reg)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	store, err := segstore.Open(filepath.Join(cfg.DataDir, "segments"), segstore.Options{
		Limits:      recordbatch.Limits{MaxBatchBytes: cfg.Limits.MaxBatchBytes, MaxRecords: cfg.Limits.MaxBatchRecords},
		Logger:      log.With().Str("component", "segstore").Logger(),
		ObserveSync: observeSync,
	})
	if err != nil {
		return fmt.Errorf("open segment store: %w", err)
	}
	defer func() {
		start := time.Now()
		if cerr := store.Close(); cerr != nil {
			log.Error().Err(cerr).Msg("closing segment store")
			return
		}
		log.Info().Dur("took", time.Since(start)).Msg("segment store closed")
	}()
	if err := registerDiskUsage(reg, store); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	pc, err := leaderclient.Dial(cfg.PlacementAddrs(), leaderclient.Options{Logger: log.With().Str("component", "placement-client").Logger()})
	if err != nil {
		return fmt.Errorf("placement client: %w", err)
	}
	defer func() { _ = pc.Close() }()
	placement := placementpb.NewPlacementServiceClient(pc)
	cache := metacache.New(placement, log.With().Str("component", "metacache").Logger())

	gs, err := grpcserver.New(grpcserver.Options{
		Addr:            cfg.GRPCAddr,
		Logger:          log.With().Str("component", "grpc").Logger(),
		Registerer:      reg,
		MaxRecvMsgBytes: cfg.Limits.MaxRequestBytes,
		MaxSendMsgBytes: cfg.Limits.MaxRequestBytes,
	})
	if err != nil {
		return fmt.Errorf("grpc server: %w", err)
	}
	advertise := cfg.AdvertiseAddr
	if advertise == "" {
		advertise = gs.Addr().String()
	}
	peers := replication.NewPeers(cache, cfg.Limits.MaxRequestBytes)
	defer peers.Close()
	changes := replication.NewChanges()
	mgr, err := replication.New(replication.Config{
		NodeID: cfg.NodeID, Store: store, Meta: cache, Placement: placement, Peers: peers, Changes: changes,
		MaxBatchBytes: cfg.Limits.MaxBatchBytes, MaxBatchRecords: cfg.Limits.MaxBatchRecords,
		SegmentMaxBytes: cfg.Segment.MaxBytes, SegmentMaxAge: cfg.Segment.MaxAge,
		LazySyncInterval: lazySyncInterval(cfg.Replication.LazySyncInterval),
		// Lead only segments placed after this process registered: its
		// registration ends the leaderships of a previous process.
		AwaitRegistration: true,
		Registerer:        reg, Logger: log.With().Str("component", "replication").Logger(),
	})
	if err != nil {
		gs.Stop()
		return fmt.Errorf("replication: %w", err)
	}
	metrics, err := server.NewMetrics(reg)
	if err != nil {
		gs.Stop()
		return fmt.Errorf("metrics: %w", err)
	}

	g := lifecycle.NewGroup(ctx, 15*time.Second)
	var synced atomic.Bool
	metaReady := func() error {
		if !synced.Load() {
			return errNotReady
		}
		return nil
	}
	journalpb.RegisterJournalServiceServer(gs.GRPC(), server.New(server.Options{
		Store: store, Manager: mgr, Follower: replication.NewFollower(store, changes),
		// Room for framing around the largest batch in one response.
		MaxReadBytes: max(cfg.Limits.MaxBatchBytes, cfg.Limits.MaxRequestBytes-64<<10),
		Metrics:      metrics, Ready: metaReady, Done: g.Context().Done(),
		Logger: log.With().Str("component", "journal").Logger(),
	}))

	reg2 := registration.New(placement, registration.Config{
		Node: &placementpb.ClusterNode{NodeId: cfg.NodeID, Kind: placementpb.NodeKind_NODE_KIND_JOURNAL, GrpcAddr: advertise,
			ExtraAddrs: map[string]string{"http": cfg.HTTPAddr}},
		Logger: log.With().Str("component", "registration").Logger(),
	})
	reg2.OnRegistered(func(n *placementpb.ClusterNode) { mgr.SetRegistered(n.GetVersion()) })
	healthy := func() error {
		if err := metaReady(); err != nil {
			return err
		}
		if reg2.Current() == nil {
			return errors.New("not registered with the placement center yet")
		}
		return nil
	}
	hs, err := httpserver.New(cfg.HTTPAddr, reg, healthy, log.With().Str("component", "http").Logger())
	if err != nil {
		gs.Stop()
		return fmt.Errorf("http server: %w", err)
	}
	log.Info().Uint64("node_id", cfg.NodeID).Str("grpc", gs.Addr().String()).Str("advertise", advertise).
		Str("http", hs.Addr().String()).Str("data_dir", cfg.DataDir).Strs("placement", cfg.PlacementAddrs()).Msg("journal server starting")

	ws, err := workers(Deps{NodeID: cfg.NodeID, Config: cfg, Store: store, Meta: cache, Placement: placement, Peers: peers,
		Manager: mgr, Changes: changes, Registry: reg, Logger: log})
	if err != nil {
		gs.Stop()
		_ = hs.Close()
		return fmt.Errorf("workers: %w", err)
	}
	g.Go("grpc", gs.Serve)
	g.Go("http", hs.Serve)
	g.Go("metacache", cache.Run)
	g.Go("registration", func(ctx context.Context) error {
		if _, err := reg2.Register(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		return reg2.Run(ctx)
	})
	g.Go("replication", func(ctx context.Context) error {
		if err := cache.Ready(ctx); err != nil {
			return nil
		}
		synced.Store(true)
		return mgr.Run(ctx)
	})
	for _, w := range ws {
		g.Go(w.Name, func(ctx context.Context) error {
			if err := cache.Ready(ctx); err != nil {
				return nil
			}
			return w.Run(ctx)
		})
	}
	err = g.Wait()
	log.Info().Err(err).Msg("journal server stopped")
	return err
}

var errNotReady = status.Error(codes.Unavailable, "placement metadata not loaded yet; retry")

// lazySyncInterval maps the config's lazy_sync_interval (0: off) onto
// replication.Config's (0: default, negative: off).
func lazySyncInterval(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
