package replication

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/journal-server/internal/lac"
	"github.com/robustmq/robustmq-go/journal-server/internal/segstore"
)

type leaderState int

const (
	stateOpen    leaderState = iota // taking appends
	stateSealing                    // no new appends; settling the end
	stateSealed                     // sealed locally at end; rolling in placement
	stateFailed                     // fenced, sealed by someone else, or gone
)

func (s leaderState) String() string {
	return [...]string{"open", "sealing", "sealed", "failed"}[s]
}

// tailBatch is a recently appended batch kept in memory for the
// replicators.
type tailBatch struct {
	first, next uint64
	data        []byte
}

// leader is this node's leadership of one segment at one epoch.
type leader struct {
	m         *Manager
	id        segstore.SegmentID
	epoch     uint64
	start     uint64
	replicas  []uint64
	quorum    int
	createdAt time.Time
	version   uint64 // placement version when taken (SealAndRoll's expected_version)

	ready   chan struct{} // closed when init finished (initErr then set)
	initErr error

	tracker *lac.Tracker
	seenLAC atomic.Uint64
	ctx     context.Context // ends when the leader stops: stops replicators
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	lacPoke chan struct{}
	// syncPoke wakes the syncer: an append is waiting for its fsync.
	syncPoke chan struct{}

	// appendMu serializes appends (producer check, local unsynced append,
	// producer record); it is not held across the fsync, which the syncer
	// does for every append queued meanwhile at once. sealing takes it to
	// stop appends. producers is guarded by it.
	appendMu  sync.Mutex
	producers *producers

	// mu guards the fields below; never held across I/O.
	mu        sync.Mutex
	state     leaderState
	logEnd    uint64 // local log end, synced or not: what followers are sent
	durable   uint64 // local durable log end: what counts toward the LAC
	bytes     uint64
	end       uint64 // sealed end (stateSealed)
	failErr   error
	sealedCh  chan struct{} // closed when sealing fixed the end (or failed)
	tail      []tailBatch
	tailBytes int
	reps      []*replicator
}

// appendResult is what a local append produced.
type appendResult struct {
	first, next uint64
	dup         dupResult
}

// append runs the leader's write path for one validated batch.
func (l *leader) append(ctx context.Context, h recordbatch.Header, batch []byte) (appendResult, error) {
	l.appendMu.Lock()
	l.mu.Lock()
	state, sealedCh, failErr, end := l.state, l.sealedCh, l.failErr, l.end
	l.mu.Unlock()
	switch state {
	case stateSealing:
		l.appendMu.Unlock()
		select {
		case <-sealedCh:
		case <-ctx.Done():
			return appendResult{}, StoreError(l.id, ctx.Err())
		}
		l.mu.Lock()
		state, failErr, end = l.state, l.failErr, l.end
		l.mu.Unlock()
		if state == stateSealed {
			return appendResult{}, rpcerr.SegmentSealed(end)
		}
		return appendResult{}, failErr
	case stateSealed:
		l.appendMu.Unlock()
		return appendResult{}, rpcerr.SegmentSealed(end)
	case stateFailed:
		l.appendMu.Unlock()
		return appendResult{}, failErr
	}
	defer l.appendMu.Unlock()

	dup, err := l.producers.check(h)
	if err != nil {
		return appendResult{}, err
	}
	if dup.dup {
		return appendResult{first: dup.first, next: dup.next, dup: dup}, nil
	}
	first, next, err := l.m.cfg.Store.AppendUnsynced(l.id, l.epoch, batch)
	if err != nil {
		err = StoreError(l.id, err)
		if _, ok := rpcerr.AsFenced(err); ok {
			l.fail(err)
		}
		if _, ok := rpcerr.AsSegmentSealed(err); ok {
			l.fail(err)
		}
		return appendResult{}, err
	}
	l.producers.record(h, first, next)
	l.mu.Lock()
	l.logEnd = next
	l.bytes += uint64(len(batch))
	l.tail = append(l.tail, tailBatch{first: first, next: next, data: batch})
	l.tailBytes += len(batch)
	for len(l.tail) > 1 && l.tailBytes > l.m.cfg.TailBytes {
		l.tailBytes -= len(l.tail[0].data)
		l.tail[0] = tailBatch{}
		l.tail = l.tail[1:]
	}
	reps := l.reps
	l.mu.Unlock()
	select {
	case l.syncPoke <- struct{}{}:
	default:
	}
	// The replicators send it now, while the syncer makes it durable
	// here: see batchesFrom for why that is safe.
	for _, r := range reps {
		r.poke()
	}
	return appendResult{first: first, next: next}, nil
}

// syncer makes the local appends durable: one Store.Sync covers every
// append made since the previous one began, so appends that arrive while a
// sync is in flight share the next. Each sync raises the leader's durable
// end, which counts toward the LAC (the replicators do not wait for it:
// they send up to the log end, so the follower fsyncs overlap this one).
// A failed sync ends the leadership (the store refuses the segment's
// writes until reopened).
func (l *leader) syncer() {
	defer l.wg.Done()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.syncPoke:
		}
		// The append that poked this syncer also made the replicators
		// runnable on this P; the sync below hands the P to Pebble's
		// fdatasync. Yielding first lets the replicators send the batch
		// before that system call holds the P, so the followers' fsyncs
		// overlap this one (the placement center's Ready loop does the
		// same, where the wait it saves was measured: 110-150 µs).
		runtime.Gosched()
		ends, err := l.m.cfg.Store.Sync(l.id)
		if err != nil {
			if l.ctx.Err() == nil {
				l.fail(StoreError(l.id, err))
			}
			return
		}
		l.advanceDurable(ends[0])
	}
}

// advanceDurable records a local durable end: it counts toward the LAC.
func (l *leader) advanceDurable(end uint64) {
	l.mu.Lock()
	end = min(end, l.logEnd)
	moved := end > l.durable
	if moved {
		l.durable = end
	}
	l.mu.Unlock()
	if !moved {
		return
	}
	l.updateEnd(l.m.cfg.NodeID, end)
}

// updateEnd records a replica's durable log end and reacts to a LAC move.
func (l *leader) updateEnd(node, end uint64) {
	l.mu.Lock()
	end = min(end, l.logEnd)
	l.mu.Unlock()
	lacNow := l.tracker.Update(node, end)
	for {
		seen := l.seenLAC.Load()
		if lacNow <= seen {
			return
		}
		if l.seenLAC.CompareAndSwap(seen, lacNow) {
			break
		}
	}
	select {
	case l.lacPoke <- struct{}{}:
	default:
	}
	l.pokeReplicators()
}

// persistLAC writes LAC moves to the local replica (so readers of this
// node and a restarted leader see them) and wakes readers.
func (l *leader) persistLAC() {
	defer l.wg.Done()
	var persisted uint64
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.lacPoke:
		}
		cur := l.tracker.LAC()
		if cur <= persisted {
			continue
		}
		if err := l.m.cfg.Store.AdvanceLAC(l.id, cur); err != nil {
			l.m.log.Debug().Err(err).Str("segment", l.id.String()).Msg("persisting LAC")
			continue
		}
		persisted = cur
		l.m.changes.Notify(l.id)
	}
}

// eager reports whether r's follower must sync every batch before it
// answers: the leader's own copy and those of the first ack_quorum-1
// followers with a live session make the quorum (see replicator, "Lazy
// replicas"). With lazy syncs disabled every follower is eager.
func (l *leader) eager(r *replicator) bool {
	if l.m.cfg.LazySyncInterval < 0 {
		return true
	}
	l.mu.Lock()
	reps := l.reps
	l.mu.Unlock()
	need := l.quorum - 1
	for _, o := range reps {
		if o == r {
			return need > 0
		}
		if o.up.Load() {
			need--
		}
	}
	return true
}

// pokeReplicators wakes every replicator (a LAC move, or a session that
// started or ended and so may change which followers are eager).
func (l *leader) pokeReplicators() {
	l.mu.Lock()
	reps := l.reps
	l.mu.Unlock()
	for _, r := range reps {
		r.poke()
	}
}

// LAC is the live last add confirmed.
func (l *leader) LAC() uint64 { return l.tracker.LAC() }

// batchesFrom returns stored batches starting exactly at from, below the
// local log end (synced or not): out of the tail when it holds from, else
// out of the store. An empty result means nothing to send.
//
// Followers get batches this node has not made durable yet, so the
// follower fsyncs run alongside the leader's own. A crash of this node may
// thus lose a tail its followers hold and acknowledged (the LAC may even
// cover it, from ack_quorum followers' durable ends). That is safe because
// no process of this node ever appends at this epoch again after a
// restart: registering again moves every OPEN segment it leads to
// RECOVERING at epoch+1 (placement fsm registerNode), the manager takes
// no segment whose metadata predates its registration (leaderFor), and
// recovery seals at the highest log end of a quorum, followers included.
func (l *leader) batchesFrom(from uint64) ([]tailBatch, error) {
	l.mu.Lock()
	logEnd := l.logEnd
	if from >= logEnd {
		l.mu.Unlock()
		return nil, nil
	}
	if n := len(l.tail); n > 0 && from >= l.tail[0].first {
		i := sort.Search(n, func(i int) bool { return l.tail[i].first >= from })
		if i < n && l.tail[i].first == from {
			j := i
			for j < min(n, i+64) && l.tail[j].next <= logEnd {
				j++
			}
			out := append([]tailBatch(nil), l.tail[i:j]...)
			l.mu.Unlock()
			return out, nil
		}
	}
	l.mu.Unlock()
	got, err := l.m.cfg.Store.Read(l.id, from, 1<<20, logEnd)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return nil, nil
	}
	if got[0].Header.FirstOffset != from {
		return nil, fmt.Errorf("follower log end %d is not a batch boundary of the leader (batch at %d)", from, got[0].Header.FirstOffset)
	}
	out := make([]tailBatch, len(got))
	for i, b := range got {
		out[i] = tailBatch{first: b.Header.FirstOffset, next: b.Header.NextOffset(), data: b.Data}
	}
	return out, nil
}

func (l *leader) snapshot() (state leaderState, logEnd, bytes uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state, l.logEnd, l.bytes
}

// fail stops the leader with err: waiting appends and later ones get it.
func (l *leader) fail(err error) {
	l.mu.Lock()
	if l.state == stateFailed {
		l.mu.Unlock()
		return
	}
	prev := l.state
	l.state = stateFailed
	l.failErr = err
	if prev == stateSealing && l.sealedCh != nil {
		close(l.sealedCh)
	}
	l.mu.Unlock()
	l.tracker.Fail(err)
	l.cancel()
	l.m.forget(l)
	l.m.log.Info().Str("segment", l.id.String()).Uint64("epoch", l.epoch).Err(err).Msg("segment leadership ended")
}

// stop ends the leader's goroutines (manager shutdown).
func (l *leader) stop() {
	l.tracker.Fail(status.Error(codes.Unavailable, "journal node stopping"))
	l.cancel()
}
