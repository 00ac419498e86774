package replication

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// replicator streams one segment's batches to one follower (see the
// package doc). It owns its stream; the leader only pokes it.
//
// Lazy replicas. The LAC needs ack_quorum durable copies: the leader's
// own (it syncs every batch) and ack_quorum-1 followers'. The first
// ack_quorum-1 followers (in replica order) with a live session are eager:
// every request they get asks for a sync before the answer, as the
// package doc describes. The others are lazy: their requests carry
// defer_sync, so they append and answer without an fsync, and their
// answers count toward nothing. At most Config.LazySyncInterval after a
// lazy follower first holds unsynced batches, and at once when it becomes
// eager (an eager follower's session ended), its replicator sends an
// empty request without defer_sync; the Sync that answers it covers every
// batch the follower holds, and that durable end counts toward the LAC.
// So with replicas 3 and ack quorum 2 a round costs two fsyncs on the
// critical path instead of three, and the third copy's fsyncs are shared
// by every batch of the interval. INVARIANT: an end counts toward the LAC
// only from a response without unsynced set.
type replicator struct {
	l      *leader
	node   uint64
	pokeCh chan struct{}
	// up is set while a session with the follower is established; eager
	// reads it for every replicator of the leader.
	up atomic.Bool
}

func (r *replicator) poke() {
	select {
	case r.pokeCh <- struct{}{}:
	default:
	}
}

// errStopReplica ends a replicator for good (not retried).
var errStopReplica = errors.New("replication to this follower stopped")

// run keeps a session with the follower going, reconnecting with backoff,
// until the leader stops.
func (r *replicator) run() {
	defer r.l.wg.Done()
	log := r.l.m.log.With().Str("segment", r.l.id.String()).Uint64("follower", r.node).Logger()
	backoff := 50 * time.Millisecond
	for r.l.ctx.Err() == nil {
		progressed, err := r.session()
		if r.up.Swap(false) {
			// A lazy follower may have to become eager now.
			r.l.pokeReplicators()
		}
		if r.l.ctx.Err() != nil {
			return
		}
		if errors.Is(err, errStopReplica) {
			log.Debug().Err(err).Msg("replicator stopped")
			return
		}
		if progressed {
			backoff = 50 * time.Millisecond
		}
		log.Debug().Err(err).Dur("retry_in", backoff).Msg("replication session ended")
		select {
		case <-r.l.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

type inflight struct {
	gen  uint64
	end  uint64
	sync bool // an empty request sent to make a lazy follower durable
}

// session runs one Replicate stream. It reports whether the follower
// acknowledged anything.
func (r *replicator) session() (progressed bool, err error) {
	l := r.l
	cc, err := l.m.cfg.Peers.Conn(r.node)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	stream, err := journalpb.NewJournalServiceClient(cc).Replicate(ctx)
	if err != nil {
		return false, err
	}
	ref := Ref(l.id)
	send := func(batch []byte, lacV uint64, deferSync bool) error {
		return stream.Send(&journalpb.ReplicateRequest{Segment: ref, Epoch: l.epoch, Batch: batch, Lac: lacV, StartOffset: l.start, DeferSync: deferSync})
	}
	// Probe: a LAC-only request creates the replica if needed and tells
	// its log end.
	lacSent := l.LAC()
	if err := send(nil, lacSent, false); err != nil {
		return false, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return false, err
	}
	if err := r.checkError(resp); err != nil {
		return false, err
	}
	sentEnd := resp.GetLogEnd()
	if _, logEnd, _ := l.snapshot(); sentEnd > logEnd {
		return false, fmt.Errorf("%w: follower log end %d above the leader's %d", errStopReplica, sentEnd, logEnd)
	}
	l.updateEnd(r.node, sentEnd)
	progressed = true
	r.up.Store(true)
	l.pokeReplicators()

	resps := make(chan *journalpb.ReplicateResponse, l.m.cfg.ReplicaWindow+1)
	recvErr := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case resps <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()

	var (
		gen    uint64
		queue  []inflight
		ticker = time.NewTicker(time.Second)
		// Lazy replicas (see replicator): durable is the highest end the
		// follower answered synced, held the highest it answered
		// unsynced; syncing is set while a sync request is in flight;
		// syncDue fires LazySyncInterval after held first passed durable,
		// and syncFired records that it did.
		durable, held      uint64
		syncing, syncFired bool
		syncTimer          *time.Timer
		syncDue            <-chan time.Time
	)
	durable = sentEnd
	defer ticker.Stop()
	defer func() {
		if syncTimer != nil {
			syncTimer.Stop()
		}
	}()
	for {
		lazy := !l.eager(r)
		// A lazy follower's unsynced batches: sync them when it has become
		// eager or its interval is over, else make sure a timer runs.
		if held > durable && !syncing {
			if !lazy || syncFired {
				if syncTimer != nil {
					syncTimer.Stop()
				}
				syncTimer, syncDue, syncFired = nil, nil, false
				lacSent = l.LAC()
				if err := send(nil, lacSent, false); err != nil {
					return progressed, err
				}
				queue = append(queue, inflight{gen: gen, end: sentEnd, sync: true})
				syncing = true
			} else if syncDue == nil {
				syncTimer = time.NewTimer(l.m.cfg.LazySyncInterval)
				syncDue = syncTimer.C
			}
		}
		// Fill the window.
		for len(queue) < l.m.cfg.ReplicaWindow {
			batches, err := l.batchesFrom(sentEnd)
			if err != nil {
				return progressed, err
			}
			if len(batches) == 0 {
				break
			}
			for _, b := range batches {
				if len(queue) >= l.m.cfg.ReplicaWindow {
					break
				}
				lacSent = l.LAC()
				if err := send(b.data, lacSent, lazy); err != nil {
					return progressed, err
				}
				queue = append(queue, inflight{gen: gen, end: b.next})
				sentEnd = b.next
			}
		}
		// Idle: carry a LAC move on its own.
		if len(queue) == 0 {
			if cur := l.LAC(); cur > lacSent {
				lacSent = cur
				if err := send(nil, cur, lazy); err != nil {
					return progressed, err
				}
				queue = append(queue, inflight{gen: gen, end: sentEnd})
			}
		}
		select {
		case <-ctx.Done():
			return progressed, ctx.Err()
		case err := <-recvErr:
			return progressed, err
		case <-r.pokeCh:
		case <-ticker.C:
		case <-syncDue:
			syncTimer, syncDue, syncFired = nil, nil, true
		case resp := <-resps:
			// Handle every response already received, then record the
			// highest acknowledged end once: a follower answers a whole
			// group after one fsync, and one updateEnd per group (not per
			// batch) means one LAC move, one wake-up of the Append
			// answerers and one persisted LAC per group. Each end is
			// durable on the follower, so the highest one is too.
			var acked uint64
			for {
				end, ok, wasSync, err := r.handle(resp, &queue, &gen, &sentEnd)
				if wasSync {
					syncing = false
				}
				if err != nil {
					if acked > 0 {
						l.updateEnd(r.node, acked)
					}
					return progressed, err
				}
				if ok {
					progressed = true
					if resp.GetUnsynced() {
						held = max(held, end)
					} else {
						acked = max(acked, end)
					}
				}
				var more bool
				select {
				case resp, more = <-resps:
				default:
				}
				if !more {
					break
				}
			}
			if acked > 0 {
				durable = max(durable, acked)
				l.updateEnd(r.node, acked)
			}
		}
	}
}

// handle processes one follower response in order: it pops the in-flight
// entry it answers (wasSync: a lazy follower's sync request) and reports
// the log end it acknowledges (ok; durable unless resp is unsynced),
// rewinds to the follower's log end on NotContiguous, or returns the error
// that ends the session.
func (r *replicator) handle(resp *journalpb.ReplicateResponse, queue *[]inflight, gen, sentEnd *uint64) (end uint64, ok, wasSync bool, err error) {
	l := r.l
	if len(*queue) == 0 {
		return 0, false, false, fmt.Errorf("unexpected response from follower")
	}
	front := (*queue)[0]
	*queue = (*queue)[1:]
	if e := rpcerr.FromProto(resp.GetError()); e != nil {
		if status.Code(e) == codes.FailedPrecondition && !isTyped(e) {
			// Not contiguous: resend from the follower's log end (which
			// counts toward the LAC only if the follower synced it).
			if !resp.GetUnsynced() {
				l.updateEnd(r.node, resp.GetLogEnd())
			}
			if front.gen == *gen {
				*gen++
				if _, logEnd, _ := l.snapshot(); resp.GetLogEnd() > logEnd {
					return 0, false, front.sync, fmt.Errorf("%w: follower log end %d above the leader's %d", errStopReplica, resp.GetLogEnd(), logEnd)
				}
				*sentEnd = resp.GetLogEnd()
			}
			return 0, false, front.sync, nil
		}
		return 0, false, front.sync, r.checkError(resp)
	}
	return resp.GetLogEnd(), true, front.sync, nil
}

// isTyped reports whether err carries a Fenced or SegmentSealed detail.
func isTyped(err error) bool {
	if _, ok := rpcerr.AsFenced(err); ok {
		return true
	}
	_, ok := rpcerr.AsSegmentSealed(err)
	return ok
}

// checkError turns a follower's in-band error into what the replicator
// does: a fenced follower fences this leader (recovery has started), a
// sealed follower ends replication to it, anything else is retried.
func (r *replicator) checkError(resp *journalpb.ReplicateResponse) error {
	e := rpcerr.FromProto(resp.GetError())
	if e == nil {
		return nil
	}
	if f, ok := rpcerr.AsFenced(e); ok {
		if f.GetEpoch() > r.l.epoch {
			go r.l.fail(rpcerr.Fenced(f.GetEpoch()))
		}
		return fmt.Errorf("%w: %v", errStopReplica, e)
	}
	if _, ok := rpcerr.AsSegmentSealed(e); ok {
		return fmt.Errorf("%w: %v", errStopReplica, e)
	}
	return e
}
