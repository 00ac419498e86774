package raftnode

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Crash points passed to Config.CrashHook by the node. The raft store adds
// its own ("before-batch", "after-batch", see raftstore).
const (
	// CrashBeforeSend fires after a Ready was persisted, before its
	// messages are sent and its committed entries handed to the applier.
	CrashBeforeSend = "before-send"
	// CrashBeforeApply fires before a batch of committed entries is applied
	// to the state machine.
	CrashBeforeApply = "before-apply"
	// CrashAfterApply fires after the state machine applied a batch, before
	// waiters are resolved.
	CrashAfterApply = "after-apply"
)

// Defaults of Config's zero values.
const (
	DefaultTickInterval     = 100 * time.Millisecond
	DefaultElectionTicks    = 10
	DefaultHeartbeatTicks   = 1
	DefaultSnapshotEntries  = 10000
	DefaultCompactKeep      = 1000
	DefaultMaxProposalBytes = 3 << 19 // 1.5 MiB
	// DefaultRequestTimeout bounds Propose, ReadIndex and membership changes
	// whose context has no deadline.
	DefaultRequestTimeout = 5 * time.Second
)

// maxMemberID keeps member ids within the 16 bits proposal ids reserve for
// the proposer (see nextProposalID).
const maxMemberID = 1<<16 - 1

// Config configures one member.
type Config struct {
	// ID is this member's Raft id, never reused in the cluster's lifetime.
	ID uint64
	// Addr is this member's gRPC address; clients and Raft peers share it.
	Addr string
	// Peers are the bootstrap voters, this member included. They are used
	// only when DataDir holds no Raft state and Join is false.
	Peers []*placementpb.Member
	// Join starts a fresh member that was added with AddMember on the
	// leader: it starts with no peers and waits for the leader to contact it.
	Join bool
	// DataDir holds the Raft log at <DataDir>/raft.
	DataDir string

	TickInterval   time.Duration // default 100ms
	ElectionTicks  int           // default 10
	HeartbeatTicks int           // default 1
	// SnapshotEntries: compact the log after this many entries were
	// applied since the last compaction, the leader taking a snapshot first
	// (default 10000); see applier.maybeSnapshot.
	SnapshotEntries uint64
	// CompactKeep: entries kept behind a snapshot for slow followers
	// (default 1000).
	CompactKeep uint64
	// MaxProposalBytes: a bigger marshalled command is refused with
	// ResourceExhausted (default 1.5 MiB).
	MaxProposalBytes int

	Logger zerolog.Logger
	// Registerer receives the node's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// CrashHook is for tests: it is called at the Crash* points (and by the
	// raft store at its own); a non-nil error stops the node there as a
	// crash would, Run returning that error.
	CrashHook func(point string) error
}

func (c *Config) setDefaults() {
	if c.TickInterval <= 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	if c.CompactKeep == 0 {
		c.CompactKeep = DefaultCompactKeep
	}
	if c.MaxProposalBytes <= 0 {
		c.MaxProposalBytes = DefaultMaxProposalBytes
	}
}

func (c *Config) validate() error {
	switch {
	case c.ID == 0:
		return errors.New("raftnode: ID must be non-zero")
	case c.ID > maxMemberID:
		return fmt.Errorf("raftnode: ID %d above %d", c.ID, maxMemberID)
	case c.Addr == "":
		return errors.New("raftnode: Addr is required")
	case c.DataDir == "":
		return errors.New("raftnode: DataDir is required")
	case c.ElectionTicks <= c.HeartbeatTicks:
		return fmt.Errorf("raftnode: ElectionTicks %d must exceed HeartbeatTicks %d", c.ElectionTicks, c.HeartbeatTicks)
	}
	for _, p := range c.Peers {
		if p.GetId() == 0 || p.GetId() > maxMemberID || p.GetAddr() == "" {
			return fmt.Errorf("raftnode: bad peer %v", p)
		}
	}
	return nil
}
