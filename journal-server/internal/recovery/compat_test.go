package recovery_test

import (
	"testing"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"

	"github.com/robustmq/robustmq-go/journal-server/internal/recovery/replicatest"
	"github.com/robustmq/robustmq-go/journal-server/internal/replication"
	"github.com/robustmq/robustmq-go/journal-server/internal/server"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// productionServer serves the real JournalService (internal/server over a
// replication manager and follower) on each test node.
func productionServer(t *testing.T) func(*replicatest.Meta, *replicatest.Placement) replicatest.Register {
	return func(meta *replicatest.Meta, pl *replicatest.Placement) replicatest.Register {
		return func(n *replicatest.Node, srv *grpc.Server) {
			changes := replication.NewChanges()
			peers := replication.NewPeers(meta, 0)
			t.Cleanup(peers.Close)
			mgr, err := replication.New(replication.Config{NodeID: n.ID, Store: n.Store, Meta: meta, Placement: pl,
				Peers: peers, Changes: changes, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatalf("replication.New: %v", err)
			}
			journalpb.RegisterJournalServiceServer(srv, server.New(server.Options{Store: n.Store, Manager: mgr,
				Follower: replication.NewFollower(n.Store, changes), Logger: zerolog.Nop()}))
		}
	}
}

// The recovery protocol against the production JournalService: different
// log ends with the leader dead (local copy), and a replica that never got
// the segment (created remotely through a batch-less Replicate).
func TestRecoveryAgainstJournalServer(t *testing.T) {
	t.Run("different log ends", func(t *testing.T) {
		e := newEnvWith(t, productionServer(t), 3)
		e.cl.Nodes[1].Stop()
		e.run(t, 3)
		sealed := e.waitSealedInPlacement(t)
		if sealed.GetEndOffset() != e.end(t, 4) {
			t.Fatalf("sealed at %d, want %d", sealed.GetEndOffset(), e.end(t, 4))
		}
		e.checkOneCall(t, e.end(t, 4))
		e.checkSealed(t, 2, e.end(t, 4), e.stored[:4])
		e.checkSealed(t, 3, e.end(t, 4), e.stored[:4])
	})
	t.Run("missing remote replica", func(t *testing.T) {
		e := newEnvWith(t, productionServer(t), 2, 2)
		e.cl.Nodes[1].Stop()
		e.run(t, 2)
		e.waitSealedInPlacement(t)
		e.checkOneCall(t, e.end(t, 4))
		e.checkSealed(t, 2, e.end(t, 4), e.stored[:4])
		e.checkSealed(t, 3, e.end(t, 4), e.stored[:4])
	})
}
