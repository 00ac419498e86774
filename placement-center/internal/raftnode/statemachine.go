package raftnode

import (
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// Committed is one committed Raft entry handed to the state machine, in log
// order. Cmd is nil for entries that carry no command (the empty entry a new
// leader appends, configuration changes); the state machine still records
// Index as applied so its applied index never lags the log.
type Committed struct {
	Index uint64
	Term  uint64
	Cmd   *placementpb.Command
}

// Outcome is the result of applying one Committed entry. Err is a gRPC status
// error built with common/rpcerr (NotFound, AlreadyExists, VersionMismatch,
// ...) that the proposer returns to its caller unchanged; a rejected command
// changes nothing but still counts as applied.
type Outcome struct {
	Value proto.Message
	Err   error
}

// StateMachine is what the Raft node applies committed entries to.
//
// Invariants the implementation keeps:
//   - Apply writes the effects of all entries and the new applied index in one
//     Pebble batch, so a crash never leaves effects without their index or the
//     reverse. The batch need not be synced: the Raft log is, and entries past
//     the durable applied index are applied again after a restart.
//   - Apply is deterministic: it reads no clock (it uses
//     Command.ProposedAtMs), no randomness and no local configuration.
//   - Sync makes everything applied so far durable; the node calls it before
//     compacting the log past the state machine's applied index.
//   - Apply, Restore and Sync are called from one goroutine (the node's
//     applier); Snapshot from another, concurrently with them.
type StateMachine interface {
	// Apply applies entries in order and returns one Outcome per entry.
	// An error return means the state could not be written (disk failure);
	// the node then stops rather than diverge.
	Apply(entries []Committed) ([]Outcome, error)
	// AppliedIndex is the index of the last applied entry (durable or not).
	AppliedIndex() uint64
	// Snapshot serializes the state from a consistent Pebble snapshot and
	// returns the data and the index it covers. It is called from a
	// goroutine of its own while Apply (and Sync) keep running, so data and
	// index must come from one consistent view (e.g. the index read from
	// the same Pebble snapshot); the index is then at least the applied
	// index when the call started.
	Snapshot() (data []byte, index uint64, err error)
	// Restore replaces the whole state with data taken at index.
	Restore(data []byte, index uint64) error
	// Sync makes all applied state durable.
	Sync() error
}
