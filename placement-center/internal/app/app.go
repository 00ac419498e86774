package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/common/grpcserver"
	"github.com/robustmq/robustmq-go/common/httpserver"
	"github.com/robustmq/robustmq-go/common/lifecycle"
	"github.com/robustmq/robustmq-go/placement-center/internal/config"
	"github.com/robustmq/robustmq-go/placement-center/internal/fsm"
	"github.com/robustmq/robustmq-go/placement-center/internal/raftnode"
	"github.com/robustmq/robustmq-go/placement-center/internal/registry"
	"github.com/robustmq/robustmq-go/placement-center/internal/server"
	"github.com/robustmq/robustmq-go/placement-center/internal/watch"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// watchHistory is how many recent events each member keeps for watchers
// resuming from an older revision.
const watchHistory = 100000

// Run starts a member and blocks until ctx ends or a part fails.
func Run(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	members, err := cfg.Members()
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	hub := watch.NewHub(watchHistory)
	sm, err := fsm.Open(filepath.Join(cfg.DataDir, "state"), hub, log.With().Str("component", "fsm").Logger())
	if err != nil {
		return fmt.Errorf("open state: %w", err)
	}
	defer func() {
		if cerr := sm.Close(); cerr != nil {
			log.Error().Err(cerr).Msg("closing state")
		}
	}()

	node, err := raftnode.New(raftnode.Config{
		ID:              cfg.NodeID,
		Addr:            cfg.GRPCAddr,
		Peers:           members,
		Join:            cfg.Raft.Join,
		DataDir:         cfg.DataDir,
		TickInterval:    cfg.Raft.TickInterval,
		ElectionTicks:   cfg.Raft.ElectionTicks,
		HeartbeatTicks:  cfg.Raft.HeartbeatTicks,
		SnapshotEntries: cfg.Raft.SnapshotEntries,
		CompactKeep:     cfg.Raft.CompactKeep,
		Logger:          log, // raftnode adds component=raft and the member id
		Registerer:      reg,
	}, sm)
	if err != nil {
		return fmt.Errorf("raft node: %w", err)
	}

	gs, err := grpcserver.New(grpcserver.Options{
		Addr:            cfg.GRPCAddr,
		Logger:          log.With().Str("component", "grpc").Logger(),
		Registerer:      reg,
		MaxRecvMsgBytes: cfg.Limits.MaxRequestBytes,
		MaxSendMsgBytes: cfg.Limits.MaxRequestBytes,
	})
	if err != nil {
		_ = node.Close()
		return fmt.Errorf("grpc server: %w", err)
	}
	leases := registry.New(registry.Config{
		Lease: cfg.Registry.Lease,
		Probe: registry.ProbeConfig{
			Interval: cfg.Registry.ProbeInterval,
			Timeout:  cfg.Registry.ProbeTimeout,
			Attempts: cfg.Registry.ProbeAttempts,
			Backoff:  cfg.Registry.ProbeBackoff,
		},
		Registerer: reg,
	}, sm, node, log.With().Str("component", "registry").Logger())
	node.RegisterTransport(gs.GRPC())
	placementpb.RegisterPlacementServiceServer(gs.GRPC(), server.NewPlacement(node, sm, hub, leases,
		server.Limits{MaxValueBytes: cfg.Limits.MaxValueBytes}, log.With().Str("component", "api").Logger()))
	placementpb.RegisterClusterServiceServer(gs.GRPC(), server.NewCluster(node))

	healthy := func() error {
		if st := node.Status(); st.LeaderID == 0 {
			return errors.New("no raft leader known")
		}
		return nil
	}
	hs, err := httpserver.New(cfg.HTTPAddr, reg, healthy, log.With().Str("component", "http").Logger())
	if err != nil {
		gs.Stop()
		_ = node.Close()
		return fmt.Errorf("http server: %w", err)
	}

	log.Info().Uint64("node_id", cfg.NodeID).Str("grpc", gs.Addr().String()).Str("http", hs.Addr().String()).
		Str("data_dir", cfg.DataDir).Int("peers", len(members)).Bool("join", cfg.Raft.Join).Msg("placement center starting")

	g := lifecycle.NewGroup(ctx, 15*time.Second)
	g.Go("raft", node.Run)
	g.Go("grpc", gs.Serve)
	g.Go("http", hs.Serve)
	g.Go("registry", leases.Run)
	g.Go("leadership", func(ctx context.Context) error {
		ch, cancel := node.SubscribeLeadership()
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return nil
			case c, ok := <-ch:
				if !ok {
					return nil
				}
				leases.SetLeader(c.IsLeader)
				log.Info().Bool("leader", c.IsLeader).Uint64("term", c.Term).Uint64("leader_id", c.LeaderID).Msg("leadership")
			}
		}
	})
	err = g.Wait()
	log.Info().Err(err).Msg("placement center stopped")
	return err
}
