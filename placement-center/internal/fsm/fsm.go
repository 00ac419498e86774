package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/placement-center/internal/raftnode"
	"github.com/robustmq/robustmq-go/placement-center/internal/watch"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// DefaultTenant is the tenant that always exists and cannot be deleted.
const DefaultTenant = "default"

var _ raftnode.StateMachine = (*FSM)(nil)

// FSM is the placement center's state machine over its own Pebble database.
// Apply, Restore and Sync are called by the Raft node's apply goroutine;
// reads may be called from any goroutine at the same time.
type FSM struct {
	db     *pebble.DB
	hub    *watch.Hub
	logger zerolog.Logger
	// applied is stored only after the batch holding that index commits,
	// so readers never see an index ahead of the data.
	applied atomic.Uint64
	// writeMu serialises Apply and Restore. The Raft node calls them from
	// one goroutine anyway; the mutex makes misuse safe, and reads never
	// take it.
	writeMu sync.Mutex
}

// Open opens (or creates) the state database at dir. hub receives the change
// events of every applied batch; it may be nil when nobody watches (tools,
// tests). Open resets the hub to the applied index, because the hub cannot
// hold history from before this process.
func Open(dir string, hub *watch.Hub, logger zerolog.Logger) (*FSM, error) {
	opts := &pebble.Options{Logger: pebbleLogger{logger: logger}, MemTableSize: 64 << 20}
	// Every apply does point reads, most of them for keys that do not
	// exist yet (a new KV, a new node); bloom filters on every level (the
	// first level's policy is inherited by the others) let those misses
	// skip the sstables instead of seeking in each.
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("fsm: open pebble at %s: %w", dir, err)
	}
	f := &FSM{db: db, hub: hub, logger: logger}
	applied, _, err := getUint64(db, []byte(keyAppliedIndex))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("fsm: read applied index: %w", err), db.Close())
	}
	if err := f.ensureDefaultTenant(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	f.applied.Store(applied)
	if hub != nil {
		hub.Reset(applied)
	}
	logger.Info().Str("dir", dir).Uint64("applied_index", applied).Msg("state machine opened")
	return f, nil
}

// ensureDefaultTenant writes the default tenant when it is missing. Its
// content is fixed (version 0, created_at_ms 0), so every member writes the
// same bytes and state dumps stay identical.
func (f *FSM) ensureDefaultTenant() error {
	found, err := getProto(f.db, tenantKey(DefaultTenant), &placementpb.Tenant{})
	if err != nil || found {
		return err
	}
	b := f.db.NewBatch()
	defer b.Close()
	if err := setDefaultTenant(b); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("fsm: write default tenant: %w", err)
	}
	return nil
}

func setDefaultTenant(b *pebble.Batch) error {
	v, err := marshal(&placementpb.Tenant{Name: DefaultTenant})
	if err != nil {
		return err
	}
	return b.Set(tenantKey(DefaultTenant), v, nil)
}

// Close closes the database. No read or write may be in flight or follow.
func (f *FSM) Close() error {
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("fsm: close: %w", err)
	}
	return nil
}

// AppliedIndex returns the index of the last applied entry.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Sync makes every applied batch durable by writing a synced empty WAL
// record: Pebble syncs the WAL in order, so all earlier batches are durable
// once it returns.
func (f *FSM) Sync() error {
	if err := f.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("fsm: sync: %w", err)
	}
	return nil
}

// Apply applies entries in order, writes their effects and the new applied
// index in one unsynced batch, then publishes their events to the hub.
// Entries at or below the applied index are skipped with an error outcome,
// so a replayed entry can never be applied twice.
func (f *FSM) Apply(entries []raftnode.Committed) ([]raftnode.Outcome, error) {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()

	outcomes := make([]raftnode.Outcome, len(entries))
	// An indexed batch lets each command read the effects of the earlier
	// commands of the same call.
	b := f.db.NewIndexedBatch()
	defer b.Close()
	start := f.applied.Load()
	applied := start
	var events []*placementpb.WatchEvent
	for i, e := range entries {
		if e.Index <= applied {
			outcomes[i].Err = status.Errorf(codes.FailedPrecondition,
				"entry %d is at or below the applied index %d", e.Index, applied)
			continue
		}
		applied = e.Index
		if e.Cmd == nil {
			continue
		}
		c := &applyCtx{r: b, index: e.Index, atMs: e.Cmd.GetProposedAtMs()}
		value, err := c.execute(e.Cmd)
		var se *storageError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("fsm: apply entry %d: %w", e.Index, err)
		}
		if err != nil {
			// Handlers only stage writes, so a rejected command has
			// written nothing.
			outcomes[i].Err = err
			continue
		}
		if err := c.eff.writeTo(b); err != nil {
			return nil, fmt.Errorf("fsm: apply entry %d: %w", e.Index, err)
		}
		outcomes[i].Value = value
		events = append(events, c.eff.events...)
	}
	if applied == start {
		return outcomes, nil
	}
	if err := b.Set([]byte(keyAppliedIndex), be64(applied), nil); err != nil {
		return nil, fmt.Errorf("fsm: stage applied index: %w", err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return nil, fmt.Errorf("fsm: commit entries up to %d: %w", applied, err)
	}
	f.applied.Store(applied)
	if f.hub != nil {
		f.hub.Publish(events, applied)
	}
	return outcomes, nil
}

// storageError marks a failure to read or write Pebble (or a corrupt stored
// value). Apply stops on it rather than turning it into a command outcome,
// since members would otherwise diverge.
type storageError struct{ err error }

func (e *storageError) Error() string { return "storage: " + e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

func marshal(m proto.Message) ([]byte, error) {
	v, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, &storageError{fmt.Errorf("marshal %T: %w", m, err)}
	}
	return v, nil
}

// getProto reads key into m and reports whether it exists.
func getProto(r pebble.Reader, key []byte, m proto.Message) (bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, &storageError{fmt.Errorf("get %q: %w", key, err)}
	}
	defer closer.Close()
	// proto.Unmarshal copies bytes fields, so m does not alias Pebble's
	// buffer after Close.
	if err := proto.Unmarshal(v, m); err != nil {
		return false, &storageError{fmt.Errorf("decode %q: %w", key, err)}
	}
	return true, nil
}

// getUint64 reads an 8-byte big-endian counter.
func getUint64(r pebble.Reader, key []byte) (uint64, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, &storageError{fmt.Errorf("get %q: %w", key, err)}
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, &storageError{fmt.Errorf("decode %q: %d bytes, want 8", key, len(v))}
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// scan calls fn for every key with the given prefix, in key order, until fn
// returns false. key and value are only valid during the call.
func scan(r pebble.Reader, prefix []byte, fn func(key, value []byte) (bool, error)) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return &storageError{fmt.Errorf("iterate %q: %w", prefix, err)}
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return errors.Join(&storageError{fmt.Errorf("read %q: %w", it.Key(), err)}, it.Close())
		}
		more, err := fn(it.Key(), v)
		if err != nil {
			return errors.Join(err, it.Close())
		}
		if !more {
			break
		}
	}
	if err := it.Close(); err != nil {
		return &storageError{fmt.Errorf("iterate %q: %w", prefix, err)}
	}
	return nil
}

// list decodes every value under prefix whose key passes keep (nil keeps
// all) into fresh messages, up to limit (0 = no limit).
func list[T proto.Message](r pebble.Reader, prefix []byte, newT func() T, keep func(key []byte) bool, limit int) ([]T, error) {
	var out []T
	err := scan(r, prefix, func(key, value []byte) (bool, error) {
		if keep != nil && !keep(key) {
			return true, nil
		}
		m := newT()
		if err := proto.Unmarshal(value, m); err != nil {
			return false, &storageError{fmt.Errorf("decode %q: %w", key, err)}
		}
		out = append(out, m)
		return limit <= 0 || len(out) < limit, nil
	})
	return out, err
}

// pebbleLogger routes Pebble's log lines to zerolog; its chatty info lines
// go to debug.
type pebbleLogger struct{ logger zerolog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.logger.Debug().Str("component", "pebble").Msgf(format, args...)
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.logger.Error().Str("component", "pebble").Msgf(format, args...)
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.logger.Fatal().Str("component", "pebble").Msgf(format, args...)
}
