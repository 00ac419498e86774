package raftnode

import (
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/placement-center/internal/raftstore"
)

// proposalResult is what a proposer receives: the state machine's Outcome
// for its entry, or the membership after its conf change, or why the
// proposal cannot complete.
type proposalResult struct {
	value   proto.Message
	err     error
	members raftstore.Membership
	// notApplied: err says why the proposal could not complete (not
	// leader, dropped, stopped), not the state machine's verdict.
	notApplied bool
}

type proposalWaiter struct {
	ch chan proposalResult // buffered 1: resolving never blocks
	// index is the log index of the proposal's entry once the leader's
	// Ready showed it; 0 until then.
	index uint64
}

// proposalWaiters maps proposal ids to the callers waiting on them. Each
// waiter is resolved at most once: resolving removes it.
type proposalWaiters struct {
	mu sync.Mutex
	m  map[uint64]*proposalWaiter
}

func newProposalWaiters() *proposalWaiters {
	return &proposalWaiters{m: make(map[uint64]*proposalWaiter)}
}

func (w *proposalWaiters) register(id uint64) *proposalWaiter {
	pw := &proposalWaiter{ch: make(chan proposalResult, 1)}
	w.mu.Lock()
	w.m[id] = pw
	w.mu.Unlock()
	return pw
}

func (w *proposalWaiters) remove(id uint64) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

func (w *proposalWaiters) resolve(id uint64, r proposalResult) {
	w.mu.Lock()
	pw, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		pw.ch <- r
	}
}

func (w *proposalWaiters) empty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m) == 0
}

func (w *proposalWaiters) setIndex(id, index uint64) {
	w.mu.Lock()
	if pw, ok := w.m[id]; ok {
		pw.index = index
	}
	w.mu.Unlock()
}

// failUncommitted fails every waiter whose entry is not known to be
// committed (index unknown or beyond commit): after a leadership loss those
// entries may be overwritten and would leave their callers hanging. Entries
// at or below commit will still be applied and resolve normally.
func (w *proposalWaiters) failUncommitted(commit uint64, err error) {
	w.mu.Lock()
	var failed []*proposalWaiter
	for id, pw := range w.m {
		if pw.index == 0 || pw.index > commit {
			failed = append(failed, pw)
			delete(w.m, id)
		}
	}
	w.mu.Unlock()
	for _, pw := range failed {
		pw.ch <- proposalResult{err: err, notApplied: true}
	}
}

func (w *proposalWaiters) failAll(err error) {
	w.failUncommitted(0, err)
}

// queuedProposal is a command waiting in the proposal queue: its id (its
// waiter's key) and the marshalled Command.
type queuedProposal struct {
	id   uint64
	data []byte
}

// proposalQueue carries commands from Propose to the Ready loop. Once
// closed (Run stopping) it refuses new proposals, so none is queued after
// Run failed every waiter.
type proposalQueue struct {
	mu     sync.Mutex
	items  []queuedProposal
	closed bool
}

func (q *proposalQueue) push(p queuedProposal) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.items = append(q.items, p)
	return true
}

// take removes and returns everything queued.
func (q *proposalQueue) take() []queuedProposal {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// close refuses later pushes and drops what is queued (Run fails the
// waiters).
func (q *proposalQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.items = nil
}

// readWaiters maps ReadIndex request contexts to the callers waiting for
// their read index.
type readWaiters struct {
	mu sync.Mutex
	m  map[string]chan uint64
}

func newReadWaiters() *readWaiters {
	return &readWaiters{m: make(map[string]chan uint64)}
}

func (r *readWaiters) register(rctx []byte) <-chan uint64 {
	ch := make(chan uint64, 1)
	r.mu.Lock()
	r.m[string(rctx)] = ch
	r.mu.Unlock()
	return ch
}

func (r *readWaiters) remove(rctx []byte) {
	r.mu.Lock()
	delete(r.m, string(rctx))
	r.mu.Unlock()
}

func (r *readWaiters) resolve(rctx []byte, index uint64) {
	r.mu.Lock()
	ch, ok := r.m[string(rctx)]
	delete(r.m, string(rctx))
	r.mu.Unlock()
	if ok {
		ch <- index
	}
}

// appliedNotifier tracks the state machine's applied index and wakes
// callers waiting for it to reach an index.
type appliedNotifier struct {
	mu      sync.Mutex
	applied uint64
	waiting []appliedWait // sorted by index
}

type appliedWait struct {
	index uint64
	ch    chan struct{}
}

func newAppliedNotifier(applied uint64) *appliedNotifier {
	return &appliedNotifier{applied: applied}
}

func (a *appliedNotifier) get() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

// wait returns a channel closed once applied >= index.
func (a *appliedNotifier) wait(index uint64) <-chan struct{} {
	ch := make(chan struct{})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.applied >= index {
		close(ch)
		return ch
	}
	i := sort.Search(len(a.waiting), func(i int) bool { return a.waiting[i].index > index })
	a.waiting = append(a.waiting, appliedWait{})
	copy(a.waiting[i+1:], a.waiting[i:])
	a.waiting[i] = appliedWait{index: index, ch: ch}
	return ch
}

func (a *appliedNotifier) advance(applied uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applied = applied
	n := 0
	for n < len(a.waiting) && a.waiting[n].index <= applied {
		close(a.waiting[n].ch)
		n++
	}
	a.waiting = a.waiting[n:]
}
