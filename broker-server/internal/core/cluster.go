package core

import (
	"context"
	"errors"
)

// ErrTakenOver says another broker owns the session now: the local copy
// must stop without touching the cluster's record.
var ErrTakenOver = errors.New("session taken over by another broker")

// Position is a message's place in the cluster's message log (the journal
// stream that holds every QoS 1/2 publish).
type Position struct {
	Partition uint32
	Offset    uint64
	// Valid is false for a message that is not in the log (QoS 0, or a
	// standalone broker).
	Valid bool
}

// SessionState is what the cluster keeps of one session: enough to resume
// it on any broker.
type SessionState struct {
	ClientID  string
	Expiry    uint32
	Subs      []Subscription
	Positions map[uint32]uint64
	Connected bool
	Will      *Message
	WillDelay uint32
}

// Claim asks the cluster to make this broker the owner of a session.
type Claim struct {
	ClientID  string
	Clean     bool
	Expiry    uint32
	Will      *Message
	WillDelay uint32
}

// LogRecord is one message read from the log; Msg is nil for a record
// that is not a message (it still takes up its offset).
type LogRecord struct {
	Msg *Message
	Pos Position
}

// LogReader reads one partition of the log in offset order, from a given
// offset, waiting for new records at the end.
type LogReader interface {
	Next(ctx context.Context) ([]LogRecord, error)
	Close() error
}

// Cluster is what the core needs from the rest of the cluster (package
// cluster implements it; nil means a standalone, in-memory broker). Calls
// may do network I/O; the core never holds its locks across one.
type Cluster interface {
	// Claim makes this broker the owner of the session (the previous owner,
	// if another broker, closes its connection first) and returns the state
	// to resume: nil when there is none or Clean is set.
	Claim(ctx context.Context, c Claim) (*SessionState, error)
	// Save writes the session's state; ErrTakenOver when another broker
	// owns it now.
	Save(ctx context.Context, st *SessionState) error
	// Release deletes the session's record (the session ended).
	Release(ctx context.Context, clientID string) error
	// AppendAsync starts making m durable in the log; done is called once
	// with its position or the error (it must not block). An error
	// returned means done will not be called.
	AppendAsync(ctx context.Context, m *Message, done func(Position, error)) error
	// AppendMapped appends m to every stream a mapping rule of the tenant
	// sends its topic to (DESIGN section 5, converged).
	AppendMapped(ctx context.Context, m *Message) error
	// Retain stores m as its topic's retained message durably (an empty
	// payload deletes it).
	Retain(ctx context.Context, m *Message) error
	// UpdateRoute tells the cluster this broker gained its first (add) or
	// lost its last subscriber of filter. It must not block: updates are
	// applied in call order, and the channel reports when this one is.
	UpdateRoute(filter string, add bool) <-chan error
	// Forward sends m to the other brokers with matching routes. shares are
	// the shared subscriptions ("$share/g/f") this broker has for m's
	// topic; the result is the subset this broker serves itself (for each
	// group one broker of the cluster serves a message).
	Forward(m *Message, pos Position, shares []string) map[string]bool
	// ForwardShare sends m to another broker that has members of the
	// shared subscription share (a member here left before receiving it)
	// and reports whether there was one.
	ForwardShare(m *Message, share string) bool
	// LogEnds returns, per partition, the offset the next message will get.
	LogEnds(ctx context.Context) (map[uint32]uint64, error)
	// OpenLog opens a reader of one partition from an offset.
	OpenLog(partition uint32, from uint64) (LogReader, error)
}
