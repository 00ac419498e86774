package segstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/walprealloc"
)

// Options tunes Open. The zero value works.
type Options struct {
	// Limits bound the batches Append, AppendReplica and AppendRecovered
	// accept; zero fields take recordbatch.DefaultLimits.
	Limits recordbatch.Limits
	// CacheBytes is the Pebble block cache size; 0 means 64 MiB.
	CacheBytes int64
	// Logger receives Pebble's log lines (info at debug level).
	Logger zerolog.Logger
	// FS is the file system Pebble uses; nil means the OS. Tests pass a
	// crashable vfs.MemFS to check what survives a crash.
	FS vfs.FS
	// ObserveSync, when set, is told how long each synced write took (a
	// synced batch commit or a WAL sync: the fsync on the append path). It
	// must be quick and must not call back into the Store.
	ObserveSync func(time.Duration)
}

// Store is the segment store of one journal node. See the package doc for
// the concurrency model.
type Store struct {
	db          *pebble.DB
	limits      recordbatch.Limits
	observeSync func(time.Duration)

	// life is held shared by every method for its whole duration and
	// exclusively by Close, so Close waits for in-flight calls and no call
	// touches a closed Pebble.
	life   sync.RWMutex
	closed bool

	// segsMu guards the map only; it is never held across I/O.
	segsMu sync.Mutex
	segs   map[SegmentID]*segment
}

// segment is the in-memory state of one segment.
//
// Two locks, always taken in the order wmu then mu. wmu serializes the
// segment's writers and is held across their Pebble commit. mu guards the
// fields below for readers and is held only briefly, except across commits
// that remove data (a seal that trims, a deletion), so a reader never pairs
// metadata with data from which batches it promises have gone. Every other
// commit only adds keys past the published log end or changes metadata, so
// a reader that sees the old metadata with the new data reads correctly;
// such commits take mu only to publish the new metadata afterwards.
// Writers read the fields below under wmu alone: only writers change them,
// and always under both locks.
type segment struct {
	id  SegmentID
	wmu sync.Mutex
	mu  sync.Mutex
	// meta mirrors the last committed metadata.
	meta segmentMeta
	// gone is set when the segment was deleted or its creation failed; a
	// caller that looked it up before must treat it as absent.
	gone bool
	// broken is set when a commit or a sync failed: memory and disk may
	// disagree, so writes are refused until the store is reopened.
	broken error
	// durable is the durable log end: every batch below it is on disk
	// (fsynced). It never exceeds meta.logEnd. Guarded by mu.
	durable uint64
}

// state is the segment's SegmentState. Caller holds seg.mu.
func (seg *segment) state() SegmentState {
	st := seg.meta.state(seg.id)
	st.DurableEnd = seg.durable
	return st
}

// StoredBatch is one batch as stored: its verified header and its bytes in
// the recordbatch format (the caller owns Data).
type StoredBatch struct {
	Header recordbatch.Header
	Data   []byte
}

// Open opens or creates the store in dir and loads every segment's
// metadata.
func Open(dir string, opts Options) (*Store, error) {
	cacheBytes := opts.CacheBytes
	if cacheBytes <= 0 {
		cacheBytes = 64 << 20
	}
	cache := pebble.NewCache(cacheBytes)
	defer cache.Unref() // Pebble holds its own reference while open.
	popts := &pebble.Options{
		Cache:              cache,
		Logger:             pebbleLogger{log: opts.Logger},
		FormatMajorVersion: pebble.FormatNewest,
		// Appended batches are rewritten once on their way down from L0
		// (Pebble merges several L0 tables into the base level even when
		// they do not overlap); with Pebble's 4 MiB default they were
		// rewritten twice. BenchmarkAppendWriteAmplification (198 MB of
		// 16 KiB batches to one segment): 3.03 sstable bytes written per
		// appended byte with 4 MiB memtables, 2.02 with 64 MiB ones.
		// Memtables grow to this size only as they fill.
		MemTableSize: 64 << 20,
	}
	popts.Experimental.SpanPolicyFunc = outputSpan
	// Every acknowledged append waits for a WAL fsync: see walprealloc.
	popts.FS = walprealloc.New(opts.FS)
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("segstore: open pebble at %s: %w", dir, err)
	}
	s := &Store{db: db, limits: opts.Limits, observeSync: opts.ObserveSync, segs: map[SegmentID]*segment{}}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	// What Pebble replayed from its WAL may be only in the OS page cache
	// (unsynced appends before a process crash). It is reported as durable
	// from now on, so flush it to synced sstables first.
	if err := db.Flush(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("segstore: flush recovered WAL: %w", err)
	}
	return s, nil
}

func (s *Store) load() error {
	v, closer, err := s.db.Get(versionKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := s.db.Set(versionKey, []byte(storeFormat), pebble.Sync); err != nil {
			return fmt.Errorf("segstore: write format version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("segstore: read format version: %w", err)
	default:
		ok := string(v) == storeFormat
		_ = closer.Close()
		if !ok {
			return fmt.Errorf("segstore: unknown store format %q, want %q", v, storeFormat)
		}
	}
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindMeta}, UpperBound: []byte{kindMeta + 1}})
	if err != nil {
		return fmt.Errorf("segstore: load segments: %w", err)
	}
	defer iter.Close()
	for ok := iter.First(); ok; ok = iter.Next() {
		id, rest, err := parseSegPrefix(kindMeta, iter.Key())
		if err != nil || len(rest) != 0 {
			return fmt.Errorf("segstore: load segments: bad metadata key %x: %w", iter.Key(), ErrCorrupt)
		}
		val, err := iter.ValueAndErr()
		if err != nil {
			return fmt.Errorf("segstore: load segment %s: %w", id, err)
		}
		m, err := decodeMeta(val)
		if err != nil {
			return fmt.Errorf("segstore: load segment %s: %w", id, err)
		}
		s.segs[id] = &segment{id: id, meta: m, durable: m.logEnd}
	}
	if err := iter.Error(); err != nil {
		return fmt.Errorf("segstore: load segments: %w", err)
	}
	return nil
}

// Close waits for in-flight calls and closes the database. Later calls
// return ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("segstore: close: %w", err)
	}
	return nil
}

// enter registers a call; the caller must s.life.RUnlock() when done.
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) lookup(id SegmentID) (*segment, error) {
	s.segsMu.Lock()
	seg := s.segs[id]
	s.segsMu.Unlock()
	if seg == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return seg, nil
}

// lockReader returns the segment with seg.mu held.
func (s *Store) lockReader(id SegmentID) (*segment, error) {
	seg, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	seg.mu.Lock()
	if seg.gone {
		seg.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return seg, nil
}

// lockWriter returns the segment with seg.wmu held, refusing a broken one
// unless allowBroken.
func (s *Store) lockWriter(id SegmentID, allowBroken bool) (*segment, error) {
	seg, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	seg.wmu.Lock()
	switch {
	case seg.gone:
		seg.wmu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	case seg.broken != nil && !allowBroken:
		seg.wmu.Unlock()
		return nil, fmt.Errorf("segstore: segment %s refuses writes after a failed commit: %w", id, seg.broken)
	}
	return seg, nil
}

// commit commits b (closing it) and, on success, installs m as the
// segment's metadata. Caller holds seg.wmu. removesData makes readers wait
// for the commit (see segment).
func (s *Store) commit(seg *segment, b *pebble.Batch, m segmentMeta, sync, removesData bool) error {
	return s.commitThen(seg, b, sync, removesData, func() { seg.meta = m })
}

// commitThen commits b (closing it) and, on success, runs publish with
// seg.mu held. Caller holds seg.wmu. A synced commit makes every earlier
// WAL record durable too, so it raises the durable end to the published
// log end.
func (s *Store) commitThen(seg *segment, b *pebble.Batch, sync, removesData bool, publish func()) error {
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	if removesData {
		seg.mu.Lock()
		defer seg.mu.Unlock()
	}
	err := s.timed(sync, func() error { return b.Commit(opts) })
	_ = b.Close()
	if !removesData {
		seg.mu.Lock()
		defer seg.mu.Unlock()
	}
	if err != nil {
		seg.broken = err
		return fmt.Errorf("segstore: commit segment %s: %w", seg.id, err)
	}
	publish()
	if sync {
		seg.durable = seg.meta.logEnd
	}
	seg.durable = min(seg.durable, seg.meta.logEnd)
	return nil
}

// timed runs write and, when it is a synced write, reports its duration to
// Options.ObserveSync.
func (s *Store) timed(synced bool, write func() error) error {
	if !synced || s.observeSync == nil {
		return write()
	}
	start := time.Now()
	err := write()
	s.observeSync(time.Since(start))
	return err
}

// DiskUsage is the bytes the store's files take on disk (Pebble's
// DiskSpaceUsage: WAL, tables, manifest, options).
func (s *Store) DiskUsage() (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.life.RUnlock()
	return s.db.Metrics().DiskSpaceUsage(), nil
}

// syncHeld makes the segment's published log end durable with a synced
// WAL write if it is not already. Caller holds seg.wmu.
func (s *Store) syncHeld(seg *segment) error {
	seg.mu.Lock()
	end, durable := seg.meta.logEnd, seg.durable
	seg.mu.Unlock()
	if end <= durable {
		return nil
	}
	if err := s.timed(true, func() error { return s.db.LogData(nil, pebble.Sync) }); err != nil {
		seg.broken = err
		return fmt.Errorf("segstore: sync segment %s: %w", seg.id, err)
	}
	seg.mu.Lock()
	seg.durable = max(seg.durable, min(end, seg.meta.logEnd))
	seg.mu.Unlock()
	return nil
}

// Sync makes every append committed so far durable and returns, for each
// given segment in order, its durable log end: every batch below it is on
// disk. It captures each segment's published log end, then writes one
// synced (empty) WAL record: Pebble's WAL is a single ordered log and
// replays a prefix after a crash, so syncing a later record makes every
// earlier committed record durable, whatever segment it belongs to.
// Concurrent Syncs and synced commits of other callers share fsyncs
// through Pebble's commit pipeline. When every given segment is already
// durable at its log end nothing is written. A failed sync makes the given
// segments refuse writes until the store is reopened.
func (s *Store) Sync(ids ...SegmentID) ([]uint64, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	segs := make([]*segment, len(ids))
	ends := make([]uint64, len(ids))
	need := false
	for i, id := range ids {
		seg, err := s.lockReader(id)
		if err != nil {
			return nil, err
		}
		segs[i], ends[i] = seg, seg.meta.logEnd
		if seg.durable < ends[i] {
			need = true
		}
		seg.mu.Unlock()
	}
	if need {
		if err := s.timed(true, func() error { return s.db.LogData(nil, pebble.Sync) }); err != nil {
			for _, seg := range segs {
				seg.wmu.Lock()
				if seg.broken == nil {
					seg.broken = err
				}
				seg.wmu.Unlock()
			}
			return nil, fmt.Errorf("segstore: sync: %w", err)
		}
	}
	out := make([]uint64, len(ids))
	for i, seg := range segs {
		seg.mu.Lock()
		// A seal may have trimmed below the captured end meanwhile (it is
		// synced itself): never report past what the segment holds.
		seg.durable = max(seg.durable, min(ends[i], seg.meta.logEnd))
		out[i] = seg.durable
		seg.mu.Unlock()
	}
	return out, nil
}

// CreateSegment creates an empty open segment starting at startOffset, with
// fence epoch epoch, durably. Creating an existing segment with the same
// start and epoch succeeds without writing; with others it returns an
// *AlreadyExistsError.
func (s *Store) CreateSegment(id SegmentID, startOffset, epoch uint64) error {
	if err := id.validate(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()

	// A concurrent DeleteSegment can leave a gone entry in our hands; look
	// again a bounded number of times.
	for attempt := 0; attempt < 16; attempt++ {
		s.segsMu.Lock()
		existing := s.segs[id]
		if existing == nil {
			// Publish a placeholder whose mutex we hold, so concurrent
			// callers wait for the outcome instead of racing the write,
			// and the map lock is not held across the fsync.
			seg := &segment{id: id}
			seg.wmu.Lock()
			seg.mu.Lock()
			s.segs[id] = seg
			s.segsMu.Unlock()
			return s.create(seg, startOffset, epoch)
		}
		s.segsMu.Unlock()

		existing.mu.Lock()
		gone, m := existing.gone, existing.meta
		existing.mu.Unlock()
		if gone {
			continue
		}
		if m.start == startOffset && m.epoch == epoch {
			return nil
		}
		return &AlreadyExistsError{ID: id, StartOffset: m.start, Epoch: m.epoch}
	}
	return fmt.Errorf("segstore: create %s: segment keeps being deleted concurrently", id)
}

// create writes the metadata of a placeholder segment; both its locks are
// held and released here.
func (s *Store) create(seg *segment, startOffset, epoch uint64) error {
	defer seg.wmu.Unlock()
	defer seg.mu.Unlock()
	m := newMeta(startOffset, epoch)
	b := s.db.NewBatch()
	err := b.Set(metaKey(seg.id), m.encode(), nil)
	if err == nil {
		err = s.timed(true, func() error { return b.Commit(pebble.Sync) })
	}
	_ = b.Close()
	if err != nil {
		return s.abandon(seg, fmt.Errorf("segstore: create %s: %w", seg.id, err))
	}
	seg.meta = m
	seg.durable = m.logEnd
	return nil
}

// abandon removes a placeholder whose creation failed. Caller holds both
// of its locks.
func (s *Store) abandon(seg *segment, err error) error {
	seg.gone = true
	s.segsMu.Lock()
	if s.segs[seg.id] == seg {
		delete(s.segs, seg.id)
	}
	s.segsMu.Unlock()
	return err
}

// Append is the leader's write path. It requires epoch >= the fence epoch
// (else *FencedError) and an unsealed segment (else *SealedError), checks
// the batch fully (CRC, limits, records; else ErrInvalidBatch wrapping the
// recordbatch error), assigns it offsets starting at the log end, and
// stores it with the new log end in one synced commit. It returns the
// batch's first offset and the new log end. An accepted epoch above the
// fence raises the fence to it, so once a newer leader has written, an
// older one cannot.
//
// Append patches batch in place (first offset, epoch, CRC): on success it
// holds exactly the stored bytes, ready to forward to followers. If the
// commit itself fails the patch remains and nothing is stored.
func (s *Store) Append(id SegmentID, epoch uint64, batch []byte) (first, next uint64, err error) {
	return s.appendLeader(id, epoch, batch, true)
}

// AppendUnsynced is Append without the fsync: the batch and its metadata
// are committed (visible, and in the WAL in order) but become durable only
// with a later Sync or synced write. A crash may lose it, together with
// every later write, never an earlier one; the store stays consistent.
// The durable end (Sync, SegmentState.DurableEnd) does not cover it until
// then.
func (s *Store) AppendUnsynced(id SegmentID, epoch uint64, batch []byte) (first, next uint64, err error) {
	return s.appendLeader(id, epoch, batch, false)
}

func (s *Store) appendLeader(id SegmentID, epoch uint64, batch []byte, sync bool) (first, next uint64, err error) {
	if err := s.enter(); err != nil {
		return 0, 0, err
	}
	defer s.life.RUnlock()
	seg, err := s.lockWriter(id, false)
	if err != nil {
		return 0, 0, err
	}
	defer seg.wmu.Unlock()

	m := seg.meta
	if epoch < m.fenceEpoch {
		return 0, 0, &FencedError{Epoch: m.fenceEpoch}
	}
	if m.status == StatusSealed {
		return 0, 0, &SealedError{End: m.sealedEnd}
	}
	h, err := s.checkBatch(batch)
	if err != nil {
		return 0, 0, err
	}
	first = m.logEnd
	next = first + uint64(h.Count)
	if next < first {
		return 0, 0, fmt.Errorf("%w: offsets overflow at %d", ErrInvalidBatch, first)
	}
	if err := recordbatch.SetFirstOffsetAndEpoch(batch, first, epoch); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	h.FirstOffset, h.Epoch = first, epoch
	m.fenceEpoch = max(m.fenceEpoch, epoch)
	if err := s.store(seg, m, h, batch, sync); err != nil {
		return 0, 0, err
	}
	return first, next, nil
}

// AppendReplica is the follower's write path. It accepts the batch only if
// epoch is not below the fence (else *FencedError), the segment is open
// (else *SealedError), the batch's epoch is not above epoch, and the batch
// starts exactly at the log end (else *NotContiguousError). A batch
// identical to one already stored at its offset is acknowledged without
// writing (a resend after a lost reply). It returns the log end.
func (s *Store) AppendReplica(id SegmentID, epoch uint64, batch []byte) (next uint64, err error) {
	return s.appendAt(id, true, epoch, batch, true)
}

// AppendReplicaUnsynced is AppendReplica without the fsync (see
// AppendUnsynced): the returned log end is not durable until a Sync.
func (s *Store) AppendReplicaUnsynced(id SegmentID, epoch uint64, batch []byte) (next uint64, err error) {
	return s.appendAt(id, true, epoch, batch, false)
}

// AppendReplicasUnsynced is AppendReplicaUnsynced for consecutive batches
// of one sender, in one Pebble batch and one commit (a follower's group;
// one commit per batch was a per-record cost). It appends the longest
// prefix of batches that AppendReplicaUnsynced would append at the log end
// one by one (epoch not below the fence, segment open, valid, batch epoch
// not above epoch, starting exactly at the running log end) and returns
// the log end after each appended batch. A batch it stops at is not an
// error here: the caller passes it (and the rest) to
// AppendReplicaUnsynced, which reports the exact error or acknowledges an
// identical resend. The batches and the metadata are in the same Pebble
// batch, so a crash keeps all of them or a prefix of earlier writes, as for
// single appends. err is set only if the commit failed (nothing appended).
func (s *Store) AppendReplicasUnsynced(id SegmentID, epoch uint64, batches [][]byte) (ends []uint64, err error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	seg, err := s.lockWriter(id, false)
	if err != nil {
		return nil, err
	}
	defer seg.wmu.Unlock()

	m := seg.meta
	if epoch < m.fenceEpoch || m.status == StatusSealed {
		return nil, nil
	}
	var b *pebble.Batch
	for _, batch := range batches {
		h, err := s.checkBatch(batch)
		if err != nil || h.Epoch > epoch || h.FirstOffset != m.logEnd || h.NextOffset() < h.FirstOffset {
			break
		}
		if b == nil {
			b = s.db.NewBatch()
		}
		if err := b.Set(batchKey(seg.id, h.FirstOffset), batch, nil); err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("segstore: append to %s: %w", seg.id, err)
		}
		if m.empty() || h.MaxTimestampMs > m.maxTs {
			if err := b.Set(timeKey(seg.id, h.MaxTimestampMs, h.FirstOffset), nil, nil); err != nil {
				_ = b.Close()
				return nil, fmt.Errorf("segstore: append to %s: %w", seg.id, err)
			}
			m.maxTs = h.MaxTimestampMs
		}
		m.logEnd = h.NextOffset()
		m.bytes += uint64(len(batch))
		ends = append(ends, m.logEnd)
	}
	if b == nil {
		return nil, nil
	}
	m.fenceEpoch = max(m.fenceEpoch, epoch)
	if err := b.Set(metaKey(seg.id), m.encode(), nil); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("segstore: append to %s: %w", seg.id, err)
	}
	if err := s.commit(seg, b, m, false, false); err != nil {
		return nil, err
	}
	return ends, nil
}

// AppendRecovered is AppendReplica for recovery: it copies a batch of the
// tail that this replica misses from another replica, ignoring the fence
// (recovery runs after fencing, at whatever epoch the batch was written)
// but keeping every other rule: open segment, contiguity, idempotence.
func (s *Store) AppendRecovered(id SegmentID, batch []byte) (next uint64, err error) {
	return s.appendAt(id, false, 0, batch, true)
}

func (s *Store) appendAt(id SegmentID, checkFence bool, epoch uint64, batch []byte, sync bool) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.life.RUnlock()
	seg, err := s.lockWriter(id, false)
	if err != nil {
		return 0, err
	}
	defer seg.wmu.Unlock()

	m := seg.meta
	if checkFence && epoch < m.fenceEpoch {
		return 0, &FencedError{Epoch: m.fenceEpoch}
	}
	if m.status == StatusSealed {
		return 0, &SealedError{End: m.sealedEnd}
	}
	h, err := s.checkBatch(batch)
	if err != nil {
		return 0, err
	}
	if checkFence && h.Epoch > epoch {
		return 0, fmt.Errorf("%w: batch epoch %d above sender epoch %d", ErrInvalidBatch, h.Epoch, epoch)
	}
	if h.FirstOffset != m.logEnd {
		if h.FirstOffset >= m.start && h.FirstOffset < m.logEnd {
			dup, err := s.storedEquals(batchKey(id, h.FirstOffset), batch)
			if err != nil {
				return 0, err
			}
			if dup {
				if sync {
					// The caller expects the log end durable.
					if err := s.syncHeld(seg); err != nil {
						return 0, err
					}
				}
				return m.logEnd, nil
			}
		}
		return 0, &NotContiguousError{Expected: m.logEnd, Got: h.FirstOffset}
	}
	if h.NextOffset() < h.FirstOffset {
		return 0, fmt.Errorf("%w: offsets overflow at %d", ErrInvalidBatch, h.FirstOffset)
	}
	if checkFence {
		m.fenceEpoch = max(m.fenceEpoch, epoch)
	}
	if err := s.store(seg, m, h, batch, sync); err != nil {
		return 0, err
	}
	return h.NextOffset(), nil
}

// checkBatch validates an incoming batch completely.
func (s *Store) checkBatch(batch []byte) (recordbatch.Header, error) {
	h, err := recordbatch.Validate(batch, s.limits)
	if err != nil {
		return recordbatch.Header{}, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	}
	if h.Count == 0 {
		// An empty batch would share its key with the next batch.
		return recordbatch.Header{}, fmt.Errorf("%w: empty batch", ErrInvalidBatch)
	}
	return h, nil
}

// storedEquals reports whether key holds exactly want.
func (s *Store) storedEquals(key, want []byte) (bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("segstore: read %x: %w", key, err)
	}
	defer closer.Close()
	return bytes.Equal(v, want), nil
}

// store writes batch (header h, first offset at m.logEnd) with the
// metadata m advanced past it, the time index entry if the batch raises the
// segment's max timestamp, in one commit, synced if sync. Caller holds
// seg.wmu.
func (s *Store) store(seg *segment, m segmentMeta, h recordbatch.Header, batch []byte, sync bool) error {
	b := s.db.NewBatch()
	fail := func(err error) error {
		_ = b.Close()
		return fmt.Errorf("segstore: append to %s: %w", seg.id, err)
	}
	if err := b.Set(batchKey(seg.id, h.FirstOffset), batch, nil); err != nil {
		return fail(err)
	}
	if m.empty() || h.MaxTimestampMs > m.maxTs {
		if err := b.Set(timeKey(seg.id, h.MaxTimestampMs, h.FirstOffset), nil, nil); err != nil {
			return fail(err)
		}
		m.maxTs = h.MaxTimestampMs
	}
	m.logEnd = h.NextOffset()
	m.bytes += uint64(len(batch))
	if err := b.Set(metaKey(seg.id), m.encode(), nil); err != nil {
		return fail(err)
	}
	return s.commit(seg, b, m, sync, false)
}

// AdvanceLAC raises the segment's LAC to min(lac, log end); a lower value
// is ignored (the LAC never moves back) and so is any call on a sealed
// segment (its LAC is its end). A replica cannot vouch for offsets it does
// not hold, hence the clamp.
//
// The write is not synced, and that is safe: the stored LAC is only ever a
// lower bound of the true LAC. If a crash loses the write, the older,
// smaller value comes back, which only makes readers of this replica wait
// until the next advance; it can never expose an unconfirmed offset. If the
// write survives, every WAL record before it survived too (Pebble replays a
// prefix of its WAL), including the synced batches it covers. Recovery
// recomputes the LAC from a quorum anyway, and the next synced append
// flushes it.
func (s *Store) AdvanceLAC(id SegmentID, lac uint64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	seg, err := s.lockWriter(id, false)
	if err != nil {
		return err
	}
	defer seg.wmu.Unlock()

	m := seg.meta
	lac = min(lac, m.logEnd)
	if m.status == StatusSealed || lac <= m.lac {
		return nil
	}
	m.lac = lac
	b := s.db.NewBatch()
	if err := b.Set(metaKey(id), m.encode(), nil); err != nil {
		_ = b.Close()
		return fmt.Errorf("segstore: advance lac of %s: %w", id, err)
	}
	return s.commit(seg, b, m, false, false)
}

// Fence raises the segment's fence epoch to epoch if it is higher, durably
// (synced) before returning, and returns the log end: the recovery takes the
// highest log end among a quorum of fenced replicas. From then on Append and
// AppendReplica below the fence fail with *FencedError. Fencing a sealed
// segment changes nothing but the fence and returns its end.
func (s *Store) Fence(id SegmentID, epoch uint64) (logEnd uint64, err error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.life.RUnlock()
	seg, err := s.lockWriter(id, false)
	if err != nil {
		return 0, err
	}
	defer seg.wmu.Unlock()

	m := seg.meta
	if epoch <= m.fenceEpoch {
		// Every fence raise is synced, so the current one is durable; the
		// log end we report must be too (unsynced appends may lie below).
		if err := s.syncHeld(seg); err != nil {
			return 0, err
		}
		return m.logEnd, nil
	}
	m.fenceEpoch = epoch
	if m.status == StatusOpen {
		m.status = StatusFenced
	}
	b := s.db.NewBatch()
	if err := b.Set(metaKey(id), m.encode(), nil); err != nil {
		_ = b.Close()
		return 0, fmt.Errorf("segstore: fence %s: %w", id, err)
	}
	if err := s.commit(seg, b, m, true, false); err != nil {
		return 0, err
	}
	return m.logEnd, nil
}

// Seal makes the segment immutable at end, durably (synced), and sets its
// LAC to end: everything below a seal end is committed by definition.
//
//   - end == log end: marks it sealed.
//   - end < log end: an old leader wrote past what the recovery kept; the
//     tail (batches at offsets >= end) is deleted in the same commit. end
//     must be a batch boundary (else ErrNotBatchBoundary) and not below
//     the LAC (else ErrInvalidArgument: committed data is never trimmed).
//   - end > log end: this replica misses data; it returns *IncompleteError
//     with its log end and changes nothing. The caller copies the tail with
//     AppendRecovered and seals again.
//
// Sealing again at the same end succeeds; at another end it returns
// *SealedError.
func (s *Store) Seal(id SegmentID, end uint64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	seg, err := s.lockWriter(id, false)
	if err != nil {
		return err
	}
	defer seg.wmu.Unlock()

	m := seg.meta
	switch {
	case m.status == StatusSealed && m.sealedEnd == end:
		return nil
	case m.status == StatusSealed:
		return &SealedError{End: m.sealedEnd}
	case end < m.start:
		return fmt.Errorf("%w: seal end %d below segment start %d", ErrInvalidArgument, end, m.start)
	case end < m.lac:
		return fmt.Errorf("%w: seal end %d below the LAC %d", ErrInvalidArgument, end, m.lac)
	case end > m.logEnd:
		return &IncompleteError{Have: m.logEnd, Want: end}
	}

	b := s.db.NewBatch()
	fail := func(err error) error {
		_ = b.Close()
		return err
	}
	trims := end < m.logEnd
	if trims {
		trimmed, err := s.trimTail(b, id, m, end)
		if err != nil {
			return fail(err)
		}
		m.bytes -= min(m.bytes, trimmed.bytes)
		m.maxTs = trimmed.maxTs
		m.logEnd = end
	}
	m.status = StatusSealed
	m.sealedEnd = end
	m.lac = end
	if err := b.Set(metaKey(id), m.encode(), nil); err != nil {
		return fail(fmt.Errorf("segstore: seal %s: %w", id, err))
	}
	return s.commit(seg, b, m, true, trims)
}

// trimResult is what trimTail removed and what remains.
type trimResult struct {
	bytes uint64 // size of the deleted batches
	maxTs int64  // max timestamp of the remaining batches
}

// trimTail adds to b the deletion of every batch and time index entry at
// offsets >= end, after checking end is a batch boundary.
func (s *Store) trimTail(b *pebble.Batch, id SegmentID, m segmentMeta, end uint64) (trimResult, error) {
	res := trimResult{maxTs: math.MinInt64}
	batchLo := segPrefix(kindBatch, id, 0)
	batchHi := prefixEnd(batchLo)

	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: batchLo, UpperBound: batchHi})
	if err != nil {
		return res, fmt.Errorf("segstore: seal %s: %w", id, err)
	}
	defer iter.Close()
	if end > m.start {
		// The batch just before end must end exactly at end.
		if !iter.SeekLT(batchKey(id, end)) {
			return res, s.iterErr(iter, &CorruptError{ID: id, Offset: end - 1, Err: errors.New("no batch holds it")})
		}
		val, err := iter.ValueAndErr()
		if err != nil {
			return res, fmt.Errorf("segstore: seal %s: %w", id, err)
		}
		h, err := recordbatch.DecodeHeader(val)
		if err != nil {
			return res, &CorruptError{ID: id, Offset: batchOffset(iter.Key()), Err: err}
		}
		switch next := h.NextOffset(); {
		case next > end:
			return res, fmt.Errorf("%w: end %d inside batch [%d, %d)", ErrNotBatchBoundary, end, h.FirstOffset, next)
		case next < end:
			return res, &CorruptError{ID: id, Offset: next, Err: errors.New("gap before the seal end")}
		}
	}
	for ok := iter.SeekGE(batchKey(id, end)); ok; ok = iter.Next() {
		val, err := iter.ValueAndErr()
		if err != nil {
			return res, fmt.Errorf("segstore: seal %s: %w", id, err)
		}
		res.bytes += uint64(len(val))
	}
	if err := iter.Error(); err != nil {
		return res, fmt.Errorf("segstore: seal %s: %w", id, err)
	}
	if err := b.DeleteRange(batchKey(id, end), batchHi, nil); err != nil {
		return res, fmt.Errorf("segstore: seal %s: %w", id, err)
	}

	// Time index entries increase in offset, so the trimmed ones are a
	// suffix; the last survivor holds the remaining max timestamp.
	timeLo := segPrefix(kindTime, id, 0)
	titer, err := s.db.NewIter(&pebble.IterOptions{LowerBound: timeLo, UpperBound: prefixEnd(timeLo)})
	if err != nil {
		return res, fmt.Errorf("segstore: seal %s: %w", id, err)
	}
	defer titer.Close()
	for ok := titer.Last(); ok; ok = titer.Prev() {
		ts, first := parseTimeSuffix(titer.Key())
		if first < end {
			res.maxTs = ts
			break
		}
		if err := b.Delete(titer.Key(), nil); err != nil {
			return res, fmt.Errorf("segstore: seal %s: %w", id, err)
		}
	}
	if err := titer.Error(); err != nil {
		return res, fmt.Errorf("segstore: seal %s: %w", id, err)
	}
	return res, nil
}

// iterErr prefers the iterator's own error over the given one.
func (s *Store) iterErr(iter *pebble.Iterator, otherwise error) error {
	if err := iter.Error(); err != nil {
		return fmt.Errorf("segstore: iterate: %w", err)
	}
	return otherwise
}

// snapshot returns the segment's metadata and an iterator over [lo, hi)
// opened after it under seg.mu: the iterator holds at least every batch the
// metadata describes (appends publish metadata only after their commit is
// visible; removals hold seg.mu across their commit). It may also hold
// batches appended since, past the returned log end; callers ignore them.
func (s *Store) snapshot(id SegmentID, lo, hi []byte) (segmentMeta, *pebble.Iterator, error) {
	seg, err := s.lockReader(id)
	if err != nil {
		return segmentMeta{}, nil, err
	}
	defer seg.mu.Unlock()
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return segmentMeta{}, nil, fmt.Errorf("segstore: read %s: %w", id, err)
	}
	return seg.meta, iter, nil
}

// Read returns, in offset order, the whole batches that overlap
// [fromOffset, upTo) and end at or before upTo: the first may begin before
// fromOffset (the caller skips its leading records), and a batch that
// crosses upTo is not returned, so a caller passing upTo = LAC (or the
// sealed end) never sees an unconfirmed record. upTo is clamped to the log
// end. It stops before the batch that would take the total over maxBytes,
// but always returns at least one batch when one qualifies.
//
// fromOffset below the start or above the log end is an *OutOfRangeError;
// fromOffset >= upTo returns no batch. Every batch is verified (CRC, its
// key, contiguity with the previous one) and a failure is a *CorruptError
// with nothing returned: bad data is never served.
func (s *Store) Read(id SegmentID, fromOffset uint64, maxBytes int, upTo uint64) ([]StoredBatch, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	lo := segPrefix(kindBatch, id, 0)
	m, iter, err := s.snapshot(id, lo, prefixEnd(lo))
	if err != nil {
		return nil, err
	}
	defer iter.Close()

	if fromOffset < m.start || fromOffset > m.logEnd {
		return nil, &OutOfRangeError{Offset: fromOffset, Start: m.start, End: m.logEnd}
	}
	upTo = min(upTo, m.logEnd)
	if fromOffset >= upTo {
		return nil, nil
	}
	// fromOffset < upTo <= MaxUint64, so fromOffset+1 does not overflow.
	if !iter.SeekLT(batchKey(id, fromOffset+1)) {
		return nil, s.iterErr(iter, &CorruptError{ID: id, Offset: fromOffset, Err: errors.New("no batch holds it")})
	}
	var out []StoredBatch
	total := 0
	expect := fromOffset // offset the next batch must hold
	for ; ; iter.Next() {
		if !iter.Valid() {
			if err := iter.Error(); err != nil {
				return nil, fmt.Errorf("segstore: read %s: %w", id, err)
			}
			// The metadata says offsets up to the log end exist.
			return nil, &CorruptError{ID: id, Offset: expect, Err: errors.New("batch missing")}
		}
		val, err := iter.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("segstore: read %s: %w", id, err)
		}
		if len(out) > 0 && total+len(val) > maxBytes {
			break
		}
		h, err := verifyStored(id, iter.Key(), val)
		if err != nil {
			return nil, err
		}
		if h.FirstOffset > expect || h.NextOffset() <= expect {
			// Report the first offset that has no batch.
			missing := expect
			if h.NextOffset() <= expect {
				missing = h.NextOffset()
			}
			return nil, &CorruptError{ID: id, Offset: missing, Err: fmt.Errorf("batch missing (found [%d, %d))", h.FirstOffset, h.NextOffset())}
		}
		if h.NextOffset() > upTo {
			break
		}
		out = append(out, StoredBatch{Header: h, Data: append([]byte(nil), val...)})
		total += len(val)
		expect = h.NextOffset()
		if expect == upTo {
			break
		}
	}
	return out, nil
}

// verifyStored checks a stored batch against its CRC and its key.
func verifyStored(id SegmentID, key, val []byte) (recordbatch.Header, error) {
	first := batchOffset(key)
	if err := recordbatch.Verify(val); err != nil {
		return recordbatch.Header{}, &CorruptError{ID: id, Offset: first, Err: err}
	}
	h, err := recordbatch.DecodeHeader(val)
	if err != nil {
		return recordbatch.Header{}, &CorruptError{ID: id, Offset: first, Err: err}
	}
	if h.FirstOffset != first || h.Count == 0 || h.NextOffset() < h.FirstOffset {
		return recordbatch.Header{}, &CorruptError{ID: id, Offset: first,
			Err: fmt.Errorf("header says first %d count %d", h.FirstOffset, h.Count)}
	}
	return h, nil
}

// FindOffsetByTime returns the first offset of the first batch whose max
// timestamp is >= tsMs. When no stored batch qualifies it returns the log
// end: the next record written is the first that can. The result may be
// above the LAC; Read bounded by the LAC then returns nothing yet.
func (s *Store) FindOffsetByTime(id SegmentID, tsMs int64) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.life.RUnlock()
	lo := segPrefix(kindTime, id, 0)
	m, iter, err := s.snapshot(id, lo, prefixEnd(lo))
	if err != nil {
		return 0, err
	}
	defer iter.Close()
	if !iter.SeekGE(timeKey(id, tsMs, 0)) {
		if err := iter.Error(); err != nil {
			return 0, fmt.Errorf("segstore: time index of %s: %w", id, err)
		}
		return m.logEnd, nil
	}
	_, first := parseTimeSuffix(iter.Key())
	return min(first, m.logEnd), nil
}

// Describe returns the segment's metadata.
func (s *Store) Describe(id SegmentID) (SegmentState, error) {
	if err := s.enter(); err != nil {
		return SegmentState{}, err
	}
	defer s.life.RUnlock()
	seg, err := s.lockReader(id)
	if err != nil {
		return SegmentState{}, err
	}
	defer seg.mu.Unlock()
	return seg.state(), nil
}

// ListSegments returns every segment on this node, ordered by tenant,
// shard and sequence.
func (s *Store) ListSegments() ([]SegmentState, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	s.segsMu.Lock()
	segs := make([]*segment, 0, len(s.segs))
	for _, seg := range s.segs {
		segs = append(segs, seg)
	}
	s.segsMu.Unlock()

	out := make([]SegmentState, 0, len(segs))
	for _, seg := range segs {
		seg.mu.Lock()
		if !seg.gone && (seg.meta != segmentMeta{}) {
			out = append(out, seg.state())
		}
		seg.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].ID, out[j].ID
		if a.Tenant != b.Tenant {
			return a.Tenant < b.Tenant
		}
		if a.Shard != b.Shard {
			return a.Shard < b.Shard
		}
		return a.Seq < b.Seq
	})
	return out, nil
}

// DeleteSegment removes the segment and all its batches and index entries
// in one synced commit (range deletions: cost independent of its size).
// Used by retention. A missing segment returns ErrNotFound.
func (s *Store) DeleteSegment(id SegmentID) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	seg, err := s.lockWriter(id, true)
	if err != nil {
		return err
	}
	defer seg.wmu.Unlock()

	b := s.db.NewBatch()
	fail := func(err error) error {
		_ = b.Close()
		return fmt.Errorf("segstore: delete %s: %w", id, err)
	}
	if err := b.Delete(metaKey(id), nil); err != nil {
		return fail(err)
	}
	for _, kind := range []byte{kindBatch, kindTime} {
		lo := segPrefix(kind, id, 0)
		if err := b.DeleteRange(lo, prefixEnd(lo), nil); err != nil {
			return fail(err)
		}
	}
	publish := func() {
		seg.gone = true
		seg.meta = segmentMeta{}
	}
	if err := s.commitThen(seg, b, true, true, publish); err != nil {
		return err
	}
	s.segsMu.Lock()
	if s.segs[id] == seg {
		delete(s.segs, id)
	}
	s.segsMu.Unlock()
	return nil
}

// pebbleLogger routes Pebble's log lines to zerolog. Fatalf panics rather
// than exiting so the owner's deferred cleanup still runs.
type pebbleLogger struct {
	log zerolog.Logger
}

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug().Str("component", "pebble-segstore").Msgf(format, args...)
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error().Str("component", "pebble-segstore").Msgf(format, args...)
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error().Str("component", "pebble-segstore").Msgf(format, args...)
	panic(fmt.Sprintf(format, args...))
}
