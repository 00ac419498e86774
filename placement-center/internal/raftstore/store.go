package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/common/walprealloc"
)

// Crash points passed to Options.CrashHook by Save.
const (
	CrashBeforeBatch = "before-batch"
	CrashAfterBatch  = "after-batch"
)

// ErrCrashed is returned by every method once a crash hook has fired: the
// store behaves like a process that died, it writes nothing more.
var ErrCrashed = errors.New("raftstore: crashed by crash hook")

// Options tunes Open.
type Options struct {
	// FS is the file system Pebble uses; nil means the OS. Tests pass a
	// crashable vfs.MemFS to check what survives a crash.
	FS vfs.FS
	// CrashHook, when set, is called by Save at CrashBeforeBatch and
	// CrashAfterBatch; a non-nil error stops Save there as a crash would,
	// and the store refuses every later write. Tests only.
	CrashHook func(point string) error
	// Logger receives Pebble's own log lines.
	Logger zerolog.Logger
}

// Key layout. Single-byte prefixes keep entries contiguous and ordered by
// big-endian index.
var (
	keyEntryPrefix = byte(0x01)
	keyHardState   = []byte{0x02}
	keyConfState   = []byte{0x03}
	keySnapshot    = []byte{0x04}
	keyMembership  = []byte{0x05}
	// keyLogStart holds the index and term of the entry just before the
	// first stored one (the last compacted or snapshotted entry), which raft
	// still asks Term for.
	keyLogStart = []byte{0x06}
	// keySnapshotFile names the file in snapshotDir holding the data of
	// the snapshot at keySnapshot (stored there without its data), with
	// the data's length and CRC-32C. Absent: the data is inline.
	keySnapshotFile = []byte{0x07}
)

// snapshotDir (next to the Pebble directory) holds the data of the
// snapshots this member takes (CreateSnapshot): a snapshot is the whole
// state machine, and written through Pebble it would be written three times
// (WAL, flush, compaction) and hold every later commit (the Ready loop's
// fsyncs) behind its WAL write. Snapshots installed from the leader stay
// inline in Pebble (rare).
const snapshotDir = "raft-snap"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// entryKeyLen is the length of an entry key: prefix and big-endian index.
const entryKeyLen = 9

func entryKey(index uint64) []byte {
	k := make([]byte, entryKeyLen)
	k[0] = keyEntryPrefix
	binary.BigEndian.PutUint64(k[1:], index)
	return k
}

// entryKeyEnd is past every entry key.
var entryKeyEnd = []byte{keyEntryPrefix + 1}

// Entry values are the 8-byte big-endian term followed by the marshalled
// raftpb.Entry, so Term reads a prefix instead of decoding the entry.
const termPrefixLen = 8

// Store is a Pebble-backed raft.Storage. All methods are safe for
// concurrent use; reads and writes are serialized by one lock so raft never
// sees a half-applied Save.
type Store struct {
	db        *pebble.DB
	fs        vfs.FS
	snapDir   string
	crashHook func(point string) error
	// snapFile is the file in snapDir that holds the current snapshot's
	// data, "" when it is inline. Under wmu, as is snapDirSynced (snapDir
	// exists and its entry is durable).
	snapFile      string
	snapDirSynced bool
	// snapshotWanted: see SetSnapshotWanted. Under mu.
	snapshotWanted func()

	// wmu serializes the writers of the snapshot and the log start
	// (CreateSnapshot, Compact, Save with a snapshot) and Close; it is taken
	// before mu. CreateSnapshot and Compact commit their batch without
	// holding mu, so a large snapshot write does not block Save (the Ready
	// loop) and raft's reads for its whole duration.
	wmu      sync.Mutex
	mu       sync.RWMutex
	crashed  bool
	closed   bool
	hard     *raftpb.HardState
	conf     *raftpb.ConfState
	snap     *raftpb.Snapshot
	members  Membership
	logStart logPosition
	last     uint64
	// tail caches the newest saved entries so raft's reads of the log
	// (committed entries to apply, entries for followers, terms) are served
	// from memory instead of Pebble. Invariants, kept by Save and Compact
	// under mu: when non-empty, tail holds the contiguous entries
	// tail[0].index .. s.last exactly as durably stored (the same entries,
	// never a stale version of a truncated index), tail[0].index >
	// s.logStart.index, and it is bounded by maxTailEntries and
	// maxTailBytes (oldest dropped first). A read outside it goes to Pebble.
	tail      []cachedEntry
	tailBytes uint64
	// hardPending: s.hard changed only in its commit index since it was
	// last written, and is written with the next batch (or by Close)
	// instead of costing a batch of its own; see SaveReady.
	hardPending bool
}

// Bounds of the in-memory tail of the log. The leader and followers read
// back entries just written, and a follower at most a few thousand entries
// behind; older reads (a follower catching up from far behind) go to Pebble.
// Variables only so tests can shrink them.
var (
	maxTailEntries        = 8192
	maxTailBytes   uint64 = 32 << 20
)

// cachedEntry is one entry of the tail cache with its marshalled size, the
// size raft's size limits count.
type cachedEntry struct {
	e    *raftpb.Entry
	size uint64
}

// logPosition is the index and term of one log entry.
type logPosition struct {
	index, term uint64
}

var _ raft.Storage = (*Store)(nil)

// Open opens (creating if needed) the store at <dataDir>/raft, loads its
// metadata and checks that the log has no gap.
func Open(dataDir string, opts Options) (*Store, error) {
	popts := &pebble.Options{
		Logger: pebbleLogger{log: opts.Logger},
		// A snapshot of the whole state is one batch; with Pebble's 4 MiB
		// default a batch over half the memtable becomes a flushable batch
		// of its own (a memtable rotation and an L0 file per snapshot, with
		// writes stalling behind the flush at the default threshold of 2).
		// Larger memtables keep snapshots of a few MiB in the memtable,
		// where the next snapshot and the log compaction make them obsolete
		// before they are flushed. Memtables grow to this size only as
		// they fill.
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
	}
	// Every proposal waits for a WAL fsync of this store: see walprealloc.
	popts.FS = walprealloc.New(opts.FS)
	db, err := pebble.Open(filepath.Join(dataDir, "raft"), popts)
	if err != nil {
		return nil, fmt.Errorf("raftstore: open pebble: %w", err)
	}
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	s := &Store{db: db, fs: fs, snapDir: filepath.Join(dataDir, snapshotDir), crashHook: opts.CrashHook}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	s.hard = &raftpb.HardState{}
	if err := s.getProto(keyHardState, s.hard); err != nil {
		return fmt.Errorf("raftstore: load hard state: %w", err)
	}
	s.conf = &raftpb.ConfState{}
	if err := s.getProto(keyConfState, s.conf); err != nil {
		return fmt.Errorf("raftstore: load conf state: %w", err)
	}
	s.conf = raftpb.EnsureConfState(s.conf)
	s.snap = &raftpb.Snapshot{}
	if err := s.getProto(keySnapshot, s.snap); err != nil {
		return fmt.Errorf("raftstore: load snapshot: %w", err)
	}
	s.snap = raftpb.EnsureSnapshot(s.snap)
	if err := s.loadSnapshotFile(); err != nil {
		return err
	}
	raw, err := s.get(keyMembership)
	if err != nil {
		return fmt.Errorf("raftstore: load membership: %w", err)
	}
	if s.members, err = UnmarshalMembership(raw); err != nil {
		return fmt.Errorf("raftstore: load membership: %w", err)
	}
	raw, err = s.get(keyLogStart)
	if err != nil {
		return fmt.Errorf("raftstore: load log start: %w", err)
	}
	if raw != nil {
		if len(raw) != 16 {
			return fmt.Errorf("raftstore: log start record has %d bytes, want 16", len(raw))
		}
		s.logStart = logPosition{index: binary.BigEndian.Uint64(raw), term: binary.BigEndian.Uint64(raw[8:])}
	}

	// Walk the log once: it is bounded by compaction, and a gap or a stray
	// entry below the log start means the directory is corrupt, which is
	// better found now than as a raft panic later.
	s.last = s.logStart.index
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{keyEntryPrefix}, UpperBound: entryKeyEnd})
	if err != nil {
		return fmt.Errorf("raftstore: scan log: %w", err)
	}
	for valid := iter.First(); valid; valid = iter.Next() {
		idx := binary.BigEndian.Uint64(iter.Key()[1:])
		if idx != s.last+1 {
			_ = iter.Close()
			return fmt.Errorf("raftstore: log gap: entry %d follows %d (log start %d)", idx, s.last, s.logStart.index)
		}
		s.last = idx
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("raftstore: scan log: %w", err)
	}
	if c := s.hard.GetCommit(); c > s.last {
		return fmt.Errorf("raftstore: hard state commit %d beyond last index %d", c, s.last)
	}
	return nil
}

// get returns the value of key, or nil when absent.
func (s *Store) get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	_ = closer.Close()
	return out, nil
}

func (s *Store) getProto(key []byte, m proto.Message) error {
	raw, err := s.get(key)
	if err != nil || raw == nil {
		return err
	}
	return proto.Unmarshal(raw, m)
}

// Close closes the database. It is idempotent.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.hardPending && !s.crashed {
		b := s.db.NewBatch()
		err := s.putProto(b, keyHardState, s.hard)
		if err == nil {
			err = b.Commit(pebble.NoSync) // Close flushes the WAL
		}
		_ = b.Close()
		if err != nil {
			_ = s.db.Close()
			return fmt.Errorf("raftstore: close: write hard state: %w", err)
		}
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("raftstore: close: %w", err)
	}
	return nil
}

// IsEmpty reports whether nothing was ever saved: a fresh data directory.
func (s *Store) IsEmpty() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return raft.IsEmptyHardState(s.hard) && s.last == 0 && raft.IsEmptySnap(s.snap)
}

// InitialState implements raft.Storage. The ConfState is the current one:
// the last conf change applied through SetConfState, or the last snapshot's.
func (s *Store) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return proto.Clone(s.hard).(*raftpb.HardState), proto.Clone(s.conf).(*raftpb.ConfState), nil
}

// HardState returns the last saved HardState.
func (s *Store) HardState() *raftpb.HardState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return proto.Clone(s.hard).(*raftpb.HardState)
}

// Membership returns the current membership.
func (s *Store) Membership() Membership {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.members.Clone()
}

// Entries implements raft.Storage: entries in [lo, hi), at least one if
// any, the rest within maxSize bytes.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if lo <= s.logStart.index {
		return nil, raft.ErrCompacted
	}
	if hi > s.last+1 {
		return nil, fmt.Errorf("raftstore: entries hi %d beyond last index %d: %w", hi, s.last, raft.ErrUnavailable)
	}
	if s.last == s.logStart.index || lo >= hi {
		return nil, raft.ErrUnavailable
	}
	if ents, ok := s.tailEntries(lo, hi, maxSize); ok {
		return ents, nil
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(lo), UpperBound: entryKey(hi)})
	if err != nil {
		return nil, fmt.Errorf("raftstore: entries: %w", err)
	}
	defer func() { _ = iter.Close() }()
	var (
		out  []*raftpb.Entry
		size uint64
		want = lo
	)
	for valid := iter.First(); valid; valid = iter.Next() {
		if idx := binary.BigEndian.Uint64(iter.Key()[1:]); idx != want {
			return nil, fmt.Errorf("raftstore: entry %d missing: %w", want, raft.ErrUnavailable)
		}
		v := iter.Value()
		if len(v) < termPrefixLen {
			return nil, fmt.Errorf("raftstore: entry %d: short value", want)
		}
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(v[termPrefixLen:], e); err != nil {
			return nil, fmt.Errorf("raftstore: entry %d: %w", want, err)
		}
		size += uint64(proto.Size(e))
		if len(out) > 0 && size > maxSize {
			return out, nil
		}
		out = append(out, e)
		want++
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("raftstore: entries: %w", err)
	}
	if want != hi {
		return nil, fmt.Errorf("raftstore: entry %d missing: %w", want, raft.ErrUnavailable)
	}
	return out, nil
}

// Term implements raft.Storage.
func (s *Store) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.termLocked(i)
}

func (s *Store) termLocked(i uint64) (uint64, error) {
	switch {
	case i < s.logStart.index:
		return 0, raft.ErrCompacted
	case i == s.logStart.index:
		return s.logStart.term, nil
	case i > s.last:
		return 0, raft.ErrUnavailable
	}
	if ce, ok := s.tailAt(i); ok {
		return ce.e.GetTerm(), nil
	}
	v, err := s.get(entryKey(i))
	if err != nil {
		return 0, fmt.Errorf("raftstore: term %d: %w", i, err)
	}
	if len(v) < termPrefixLen {
		return 0, raft.ErrUnavailable
	}
	return binary.BigEndian.Uint64(v), nil
}

// LastIndex implements raft.Storage.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last, nil
}

// FirstIndex implements raft.Storage.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.logStart.index + 1, nil
}

// Snapshot implements raft.Storage: the latest snapshot. Raft asks for it
// only to send it to a follower that needs entries the log no longer has,
// so a snapshot older than the log start (the log was compacted without
// one, see Compact) would be useless: then it returns
// raft.ErrSnapshotTemporarilyUnavailable, which raft retries later, and
// calls the SnapshotWanted hook so the node takes one. The metadata is a
// copy; the data (the state machine's whole state) is shared, never
// modified by the store, and must not be modified by the caller (raft only
// sends it).
func (s *Store) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.logStart.index > 0 && s.snap.GetMetadata().GetIndex() < s.logStart.index {
		if s.snapshotWanted != nil {
			s.snapshotWanted()
		}
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return shareSnapshot(s.snap), nil
}

// StoredSnapshot returns the latest stored snapshot, even one older than
// the log start (empty if none); see Snapshot for the sharing of its data.
func (s *Store) StoredSnapshot() *raftpb.Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return shareSnapshot(s.snap)
}

// SetSnapshotWanted sets the hook Snapshot calls when raft needs a snapshot
// newer than the stored one. It is called with the store's lock held (and
// raft's): it must only signal, never block or call back into the store.
func (s *Store) SetSnapshotWanted(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshotWanted = fn
}

// shareSnapshot copies snap's metadata and shares its data.
func shareSnapshot(snap *raftpb.Snapshot) *raftpb.Snapshot {
	return &raftpb.Snapshot{
		Data:     snap.GetData(),
		Metadata: proto.Clone(raftpb.EnsureSnapshot(snap).GetMetadata()).(*raftpb.SnapshotMetadata),
	}
}

// SnapshotIndex is the index of the latest snapshot (0 if none).
func (s *Store) SnapshotIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap.GetMetadata().GetIndex()
}

// LogStart is the index of the last compacted entry (0 if none): the log
// holds the entries after it.
func (s *Store) LogStart() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.logStart.index
}

// writable returns an error if the store must not be written.
func (s *Store) writable() error {
	if s.crashed {
		return ErrCrashed
	}
	if s.closed {
		return errors.New("raftstore: closed")
	}
	return nil
}

// Save persists one Ready's worth of state in one synced batch: the
// snapshot (which replaces the whole log, the ConfState and the membership),
// then the entries (discarding any stored entry at or after the first new
// index), then the HardState. Any argument may be nil or empty.
//
// The store keeps the entries it is handed (in its tail cache) and hands
// them back to raft: the caller must not modify them afterwards, as raft
// itself does not.
func (s *Store) Save(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot) error {
	return s.save(hs, entries, snap, true)
}

// SaveReady is Save for one raft.Ready, syncing only when Raft needs it:
// mustSync is the Ready's MustSync. A batch is written without sync only
// when it holds no entries and no snapshot and its HardState changes
// nothing but the commit index (checked here against the stored one, not
// just taken from mustSync): term, vote and log entries are what Raft
// requires on stable storage before any message goes out, while a lost
// commit index is learnt again from the leader. Such a HardState is not
// even written on its own: it is kept in memory and goes to disk with the
// next batch that writes anything (entries, a new term) or at Close, so a
// crash loses at most the latest commit-index updates, never a write that
// follows a synced one. After such a crash the durable commit index can lag what the state
// machine (a separate database) made durable; the node repairs that on
// start with RaiseCommit.
func (s *Store) SaveReady(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot, mustSync bool) error {
	return s.save(hs, entries, snap, mustSync)
}

// RaiseCommit durably raises the stored commit index to index, which must
// be within the log; it is a no-op if the commit index is already there.
// The node calls it on start when its state machine durably applied
// entries past the stored commit index (whose last updates were written
// without sync and lost in a crash): those entries were committed, since
// only committed entries are applied, and are in the log, since entries are
// synced before they are applied.
func (s *Store) RaiseCommit(index uint64) error {
	s.mu.RLock()
	hs := proto.Clone(s.hard).(*raftpb.HardState)
	s.mu.RUnlock()
	if hs.GetCommit() >= index {
		return nil
	}
	hs.Commit = new(index)
	return s.save(hs, nil, nil, true)
}

func (s *Store) save(hs *raftpb.HardState, entries []*raftpb.Entry, snap *raftpb.Snapshot, mustSync bool) error {
	if snap != nil && !raft.IsEmptySnap(snap) {
		s.wmu.Lock()
		defer s.wmu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}

	// The state after the batch, applied to memory only once it is durable.
	next := struct {
		hard     *raftpb.HardState
		conf     *raftpb.ConfState
		snap     *raftpb.Snapshot
		members  Membership
		logStart logPosition
		last     uint64
	}{s.hard, s.conf, s.snap, s.members, s.logStart, s.last}

	b := s.db.NewBatch()
	defer func() { _ = b.Close() }()
	// sync: see SaveReady. Everything but a commit-index-only HardState
	// change is synced whatever the caller says.
	sync := mustSync
	resetTail := false
	var sizes []uint64 // marshalled size of each entry written

	if snap != nil && !raft.IsEmptySnap(snap) {
		sync = true
		resetTail = true
		meta := snap.GetMetadata()
		if cur := s.snap.GetMetadata().GetIndex(); cur != 0 && cur >= meta.GetIndex() {
			return raft.ErrSnapOutOfDate
		}
		data, err := UnmarshalSnapshotData(snap.GetData())
		if err != nil {
			return fmt.Errorf("raftstore: save snapshot %d: %w", meta.GetIndex(), err)
		}
		next.snap = raftpb.EnsureSnapshot(proto.Clone(snap).(*raftpb.Snapshot))
		next.conf = raftpb.EnsureConfState(proto.Clone(meta.GetConfState()).(*raftpb.ConfState))
		next.members = data.Membership
		next.logStart = logPosition{index: meta.GetIndex(), term: meta.GetTerm()}
		next.last = meta.GetIndex()
		if err := b.DeleteRange(entryKey(0), entryKeyEnd, nil); err != nil {
			return fmt.Errorf("raftstore: save snapshot: %w", err)
		}
		if err := s.putProto(b, keySnapshot, next.snap); err != nil {
			return err
		}
		// Installed snapshots are inline: drop the reference to this
		// member's own snapshot file (removed once the batch commits).
		if err := b.Delete(keySnapshotFile, nil); err != nil {
			return fmt.Errorf("raftstore: save snapshot: %w", err)
		}
		if err := s.putProto(b, keyConfState, next.conf); err != nil {
			return err
		}
		if err := putMembership(b, next.members); err != nil {
			return err
		}
		if err := b.Set(keyLogStart, encodeLogPosition(next.logStart), nil); err != nil {
			return fmt.Errorf("raftstore: save snapshot: %w", err)
		}
	}

	if len(entries) > 0 {
		for i := 1; i < len(entries); i++ {
			if entries[i].GetIndex() != entries[i-1].GetIndex()+1 {
				return fmt.Errorf("raftstore: save: entries not contiguous at %d after %d",
					entries[i].GetIndex(), entries[i-1].GetIndex())
			}
		}
		// Entries already folded into the log start are dropped, as
		// raft.MemoryStorage does.
		if first := next.logStart.index + 1; entries[0].GetIndex() < first {
			skip := first - entries[0].GetIndex()
			if skip >= uint64(len(entries)) {
				entries = nil
			} else {
				entries = entries[skip:]
			}
		}
	}
	if len(entries) > 0 {
		sync = true
		sizes = make([]uint64, len(entries))
		first := entries[0].GetIndex()
		newLast := entries[len(entries)-1].GetIndex()
		if first > next.last+1 {
			return fmt.Errorf("raftstore: save: entry %d would leave a gap after last index %d", first, next.last)
		}
		if next.last > newLast {
			// The stored tail past the new entries conflicts with them.
			if err := b.DeleteRange(entryKey(newLast+1), entryKey(next.last+1), nil); err != nil {
				return fmt.Errorf("raftstore: truncate tail: %w", err)
			}
		}
		for i, e := range entries {
			size := proto.Size(e)
			// The value is written in place into the batch: the term
			// prefix, then the marshalled entry.
			op := b.SetDeferred(entryKeyLen, termPrefixLen+size)
			op.Key[0] = keyEntryPrefix
			binary.BigEndian.PutUint64(op.Key[1:], e.GetIndex())
			binary.BigEndian.PutUint64(op.Value, e.GetTerm())
			// The capacity is capped so a marshal that disagreed with
			// Size could not write past this value into the batch.
			out, err := proto.MarshalOptions{}.MarshalAppend(op.Value[:termPrefixLen:termPrefixLen+size], e)
			if err != nil {
				return fmt.Errorf("raftstore: marshal entry %d: %w", e.GetIndex(), err)
			}
			if len(out) != termPrefixLen+size || &out[0] != &op.Value[0] {
				return fmt.Errorf("raftstore: entry %d marshalled to %d bytes, sized %d", e.GetIndex(), len(out)-termPrefixLen, size)
			}
			if err := op.Finish(); err != nil {
				return fmt.Errorf("raftstore: put entry %d: %w", e.GetIndex(), err)
			}
			sizes[i] = uint64(size)
		}
		next.last = newLast
	}

	if hs != nil && !raft.IsEmptyHardState(hs) {
		if hs.GetCommit() > next.last {
			return fmt.Errorf("raftstore: save: commit %d beyond last index %d", hs.GetCommit(), next.last)
		}
		if hs.GetTerm() != s.hard.GetTerm() || hs.GetVote() != s.hard.GetVote() {
			sync = true
		}
		next.hard = proto.Clone(hs).(*raftpb.HardState)
		if b.Empty() && !sync {
			// Commit index only: deferred, see SaveReady.
			s.hard, s.hardPending = next.hard, true
			return nil
		}
		if err := s.putProto(b, keyHardState, next.hard); err != nil {
			return err
		}
	} else if s.hardPending && !b.Empty() {
		if err := s.putProto(b, keyHardState, next.hard); err != nil {
			return err
		}
	}

	if b.Empty() {
		return nil
	}
	if err := s.hook(CrashBeforeBatch); err != nil {
		return err
	}
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	if err := b.Commit(wo); err != nil {
		return fmt.Errorf("raftstore: commit save: %w", err)
	}
	s.hard, s.conf, s.snap, s.members, s.logStart, s.last =
		next.hard, next.conf, next.snap, next.members, next.logStart, next.last
	s.hardPending = false
	if resetTail {
		s.tail, s.tailBytes = nil, 0
		// A snapshot was installed (under wmu): the old file is garbage.
		s.removeSnapshotFile(s.snapFile)
		s.snapFile = ""
	}
	s.cacheAppend(entries, sizes)
	return s.hook(CrashAfterBatch)
}

// cacheAppend adds entries just saved (contiguous, ending at s.last) to the
// tail cache, first dropping every cached entry at or after the first new
// index (they were replaced, in Pebble too), and then the oldest entries
// beyond the bounds.
func (s *Store) cacheAppend(entries []*raftpb.Entry, sizes []uint64) {
	if len(entries) == 0 {
		return
	}
	first := entries[0].GetIndex()
	if len(s.tail) > 0 {
		tailFirst := s.tail[0].e.GetIndex()
		switch {
		case first < tailFirst:
			s.tail, s.tailBytes = s.tail[:0], 0
		case first <= tailFirst+uint64(len(s.tail)):
			for _, ce := range s.tail[first-tailFirst:] {
				s.tailBytes -= ce.size
			}
			s.tail = s.tail[:first-tailFirst]
		default:
			// A gap cannot happen (Save refuses it), but a cache that is
			// not contiguous must not survive.
			s.tail, s.tailBytes = s.tail[:0], 0
		}
	}
	for i, e := range entries {
		s.tail = append(s.tail, cachedEntry{e: e, size: sizes[i]})
		s.tailBytes += sizes[i]
	}
	drop := 0
	for len(s.tail)-drop > 1 && (len(s.tail)-drop > maxTailEntries || s.tailBytes > maxTailBytes) {
		s.tailBytes -= s.tail[drop].size
		drop++
	}
	s.dropTailFront(drop)
}

// dropTailFront removes the n oldest cached entries.
func (s *Store) dropTailFront(n int) {
	if n <= 0 {
		return
	}
	if n >= len(s.tail) {
		s.tail, s.tailBytes = nil, 0
		return
	}
	// Clear the dropped slots so the entries can be collected before the
	// backing array is reallocated by a later append.
	clear(s.tail[:n])
	s.tail = s.tail[n:]
}

// tailAt returns the cached entry at index i, if cached.
func (s *Store) tailAt(i uint64) (cachedEntry, bool) {
	if len(s.tail) == 0 {
		return cachedEntry{}, false
	}
	first := s.tail[0].e.GetIndex()
	if i < first || i >= first+uint64(len(s.tail)) {
		return cachedEntry{}, false
	}
	return s.tail[i-first], true
}

// tailEntries answers Entries(lo, hi, maxSize) from the tail cache when it
// holds lo (it always reaches s.last, hence hi-1). The slice is new: raft
// may append to it.
func (s *Store) tailEntries(lo, hi, maxSize uint64) ([]*raftpb.Entry, bool) {
	if len(s.tail) == 0 {
		return nil, false
	}
	first := s.tail[0].e.GetIndex()
	if lo < first || hi > first+uint64(len(s.tail)) {
		return nil, false
	}
	cached := s.tail[lo-first : hi-first]
	out := make([]*raftpb.Entry, 0, len(cached))
	var size uint64
	for _, ce := range cached {
		size += ce.size
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, ce.e)
	}
	return out, true
}

// hook runs the crash hook; once it fires the store is dead.
func (s *Store) hook(point string) error {
	if s.crashHook == nil {
		return nil
	}
	if err := s.crashHook(point); err != nil {
		s.crashed = true
		return fmt.Errorf("raftstore: %s: %w: %w", point, ErrCrashed, err)
	}
	return nil
}

func (s *Store) putProto(b *pebble.Batch, key []byte, m proto.Message) error {
	raw, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("raftstore: marshal %T: %w", m, err)
	}
	if err := b.Set(key, raw, nil); err != nil {
		return fmt.Errorf("raftstore: put %T: %w", m, err)
	}
	return nil
}

func putMembership(b *pebble.Batch, m Membership) error {
	raw, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("raftstore: %w", err)
	}
	if err := b.Set(keyMembership, raw, nil); err != nil {
		return fmt.Errorf("raftstore: put membership: %w", err)
	}
	return nil
}

func encodeLogPosition(p logPosition) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, p.index)
	binary.BigEndian.PutUint64(v[8:], p.term)
	return v
}

// ApplySnapshot replaces the log, ConfState and membership with snap's,
// durably. It is Save with only a snapshot.
func (s *Store) ApplySnapshot(snap *raftpb.Snapshot) error {
	return s.Save(nil, nil, snap)
}

// SetConfState durably records the ConfState and membership that result
// from applying a conf change entry.
func (s *Store) SetConfState(cs *raftpb.ConfState, m Membership) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	conf := raftpb.EnsureConfState(proto.Clone(cs).(*raftpb.ConfState))
	b := s.db.NewBatch()
	defer func() { _ = b.Close() }()
	if err := s.putProto(b, keyConfState, conf); err != nil {
		return err
	}
	if err := putMembership(b, m); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("raftstore: commit conf state: %w", err)
	}
	s.conf, s.members = conf, m.Clone()
	return nil
}

// CreateSnapshot records a snapshot at index i (which must still be in the
// log) with the ConfState in effect at i and data (a SnapshotData
// envelope), durably. It returns raft.ErrSnapOutOfDate if i is not newer
// than the latest snapshot. The log is not compacted: call Compact. The
// store keeps data (it must not be modified afterwards), and the returned
// snapshot shares it.
func (s *Store) CreateSnapshot(i uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	// Only wmu is held while the batch is built and committed: every other
	// writer of keySnapshot holds it too, so the snapshot checked newer here
	// is still newer when it lands, and s.snap (what raft reads) switches
	// to it only once it is durable.
	s.wmu.Lock()
	defer s.wmu.Unlock()
	term, err := func() (uint64, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if err := s.writable(); err != nil {
			return 0, err
		}
		if i <= s.snap.GetMetadata().GetIndex() {
			return 0, raft.ErrSnapOutOfDate
		}
		if i > s.last {
			return 0, fmt.Errorf("raftstore: snapshot index %d beyond last index %d", i, s.last)
		}
		term, err := s.termLocked(i)
		if err != nil {
			return 0, fmt.Errorf("raftstore: snapshot index %d: %w", i, err)
		}
		return term, nil
	}()
	if err != nil {
		return nil, err
	}
	meta := &raftpb.SnapshotMetadata{
		Index:     new(i),
		Term:      new(term),
		ConfState: raftpb.EnsureConfState(proto.Clone(cs).(*raftpb.ConfState)),
	}
	// The data goes to a file of its own, durable before the batch that
	// refers to it (see snapshotDir); Pebble keeps the metadata.
	name, ref, err := s.writeSnapshotFile(i, term, data)
	if err != nil {
		return nil, fmt.Errorf("raftstore: write snapshot %d: %w", i, err)
	}
	b := s.db.NewBatch()
	defer func() { _ = b.Close() }()
	if err := s.putProto(b, keySnapshot, &raftpb.Snapshot{Metadata: meta}); err != nil {
		s.removeSnapshotFile(name)
		return nil, err
	}
	if err := b.Set(keySnapshotFile, ref, nil); err != nil {
		s.removeSnapshotFile(name)
		return nil, fmt.Errorf("raftstore: put snapshot file %d: %w", i, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		// Whether the batch landed is unknown: keep the file, the next
		// Open removes it if it is not referenced.
		return nil, fmt.Errorf("raftstore: commit snapshot: %w", err)
	}
	s.removeSnapshotFile(s.snapFile)
	s.snapFile = name
	snap := &raftpb.Snapshot{Data: data, Metadata: meta}
	s.mu.Lock()
	s.snap = snap
	s.mu.Unlock()
	return shareSnapshot(snap), nil
}

// Compact discards every entry at or before index, keeping index's term,
// so FirstIndex becomes index+1. The caller must not compact past what the
// state machine has durably applied (a restart resumes applying after the
// log start). No snapshot needs to cover index: a member that is not
// leading compacts without taking one, and Snapshot asks for one when raft
// needs it. It returns raft.ErrCompacted if index is already compacted.
func (s *Store) Compact(index uint64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	start, err := s.startCompaction(index)
	if err != nil {
		return err
	}
	// The batch commits without mu: readers already see the entries as
	// compacted (ErrCompacted, never a half-deleted range, which raft would
	// take for a corrupt log), and nothing else writes them: they are
	// committed, and the other log-start writers hold wmu.
	b := s.db.NewBatch()
	defer func() { _ = b.Close() }()
	if err := b.DeleteRange(entryKey(0), entryKey(index+1), nil); err != nil {
		return fmt.Errorf("raftstore: compact: %w", err)
	}
	if err := b.Set(keyLogStart, encodeLogPosition(start), nil); err != nil {
		return fmt.Errorf("raftstore: compact: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("raftstore: commit compact: %w", err)
	}
	return nil
}

// startCompaction checks a Compact(index) and moves the in-memory log
// start to index (dropping cached entries up to it) before the deletion is
// written, so no reader can see the range half deleted.
func (s *Store) startCompaction(index uint64) (logPosition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return logPosition{}, err
	}
	if index <= s.logStart.index {
		return logPosition{}, raft.ErrCompacted
	}
	if index > s.last {
		return logPosition{}, fmt.Errorf("raftstore: compact %d beyond last index %d", index, s.last)
	}
	term, err := s.termLocked(index)
	if err != nil {
		return logPosition{}, fmt.Errorf("raftstore: compact %d: %w", index, err)
	}
	start := logPosition{index: index, term: term}
	s.logStart = start
	if len(s.tail) > 0 {
		if first := s.tail[0].e.GetIndex(); first <= index {
			drop := int(min(index-first+1, uint64(len(s.tail))))
			for _, c := range s.tail[:drop] {
				s.tailBytes -= c.size
			}
			s.dropTailFront(drop)
		}
	}
	return start, nil
}

// loadSnapshotFile reads the snapshot data from its file when keySnapshot
// refers to one, checking length and CRC, and removes every other file in
// the snapshot directory (left by a crash between writing a file and
// committing its reference, or before an old file was removed).
func (s *Store) loadSnapshotFile() error {
	ref, err := s.get(keySnapshotFile)
	if err != nil {
		return fmt.Errorf("raftstore: load snapshot file: %w", err)
	}
	if ref != nil {
		if len(ref) < 12 {
			return fmt.Errorf("raftstore: snapshot file record has %d bytes", len(ref))
		}
		size, crc, name := binary.BigEndian.Uint64(ref), binary.BigEndian.Uint32(ref[8:]), string(ref[12:])
		data, err := s.readFile(filepath.Join(s.snapDir, name))
		if err != nil {
			return fmt.Errorf("raftstore: load snapshot file %s: %w", name, err)
		}
		if uint64(len(data)) != size || crc32.Checksum(data, crcTable) != crc {
			return fmt.Errorf("raftstore: snapshot file %s: %d bytes with CRC %08x, want %d bytes with CRC %08x",
				name, len(data), crc32.Checksum(data, crcTable), size, crc)
		}
		s.snap.Data = data
		s.snapFile = name
	}
	names, err := s.fs.List(s.snapDir)
	if err != nil {
		return nil // no directory yet
	}
	for _, n := range names {
		if n != s.snapFile {
			_ = s.fs.Remove(filepath.Join(s.snapDir, n))
		}
	}
	return nil
}

func (s *Store) readFile(path string) ([]byte, error) {
	f, err := s.fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && len(data) == 0) {
		return nil, err
	}
	return data, nil
}

// writeSnapshotFile writes data to a new file in the snapshot directory
// and syncs it and the directory, so the file is durable before the batch
// that refers to it commits. It returns the file's name and the reference
// record (length, CRC, name).
func (s *Store) writeSnapshotFile(index, term uint64, data []byte) (string, []byte, error) {
	if !s.snapDirSynced {
		// The directory's own entry must be durable too.
		if err := s.fs.MkdirAll(s.snapDir, 0o755); err != nil {
			return "", nil, err
		}
		if err := s.syncDirAt(filepath.Dir(s.snapDir)); err != nil {
			return "", nil, err
		}
		s.snapDirSynced = true
	}
	name := fmt.Sprintf("snap-%016x-%016x.data", term, index)
	f, err := s.fs.Create(filepath.Join(s.snapDir, name), vfs.WriteCategoryUnspecified)
	if err != nil {
		return "", nil, err
	}
	// vfs.File.Write may modify the buffer it is given, and data is kept
	// (it is the snapshot raft reads): write it through a scratch buffer.
	var scratch []byte
	for rest := data; len(rest) > 0 && err == nil; {
		n := min(len(rest), 1<<20)
		scratch = append(scratch[:0], rest[:n]...)
		_, err = f.Write(scratch)
		rest = rest[n:]
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.syncDir()
	}
	if err != nil {
		_ = s.fs.Remove(filepath.Join(s.snapDir, name))
		return "", nil, err
	}
	ref := make([]byte, 12, 12+len(name))
	binary.BigEndian.PutUint64(ref, uint64(len(data)))
	binary.BigEndian.PutUint32(ref[8:], crc32.Checksum(data, crcTable))
	return name, append(ref, name...), nil
}

func (s *Store) syncDir() error { return s.syncDirAt(s.snapDir) }

func (s *Store) syncDirAt(dir string) error {
	d, err := s.fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeSnapshotFile removes a snapshot file no longer referenced; a
// failure only leaves garbage that the next Open removes.
func (s *Store) removeSnapshotFile(name string) {
	if name != "" {
		_ = s.fs.Remove(filepath.Join(s.snapDir, name))
	}
}

// pebbleLogger routes Pebble's log lines to zerolog. Fatalf panics rather
// than exiting so the owner's recovery and deferred cleanup still run.
type pebbleLogger struct {
	log zerolog.Logger
}

func (l pebbleLogger) Infof(format string, args ...interface{}) {
	l.log.Debug().Str("component", "pebble-raft").Msgf(format, args...)
}

func (l pebbleLogger) Errorf(format string, args ...interface{}) {
	l.log.Error().Str("component", "pebble-raft").Msgf(format, args...)
}

func (l pebbleLogger) Fatalf(format string, args ...interface{}) {
	l.log.Error().Str("component", "pebble-raft").Msgf(format, args...)
	panic(fmt.Sprintf(format, args...))
}
