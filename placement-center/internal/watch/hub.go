package watch

import (
	"fmt"
	"strings"
	"sync"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// MaxEventsPerResponse bounds the events carried by one WatchResponse, so a
// large applied batch or a long replay never becomes one oversized gRPC
// message.
const MaxEventsPerResponse = 256

// Hub fans published events out to watchers and keeps the last historySize
// events for watchers that start from a past revision. All methods are safe
// for concurrent use; none of them blocks on a watcher.
type Hub struct {
	mu sync.Mutex
	// ring holds retained events oldest first starting at head; len(ring)
	// is the capacity (historySize) and count how many slots are in use.
	ring  []*placementpb.WatchEvent
	head  int
	count int
	// revision is the last revision published (or reset to).
	revision uint64
	// floor is the lowest revision from which every event is retained: a
	// watcher starting at or above it can be replayed without gaps.
	floor    uint64
	watchers map[*Watcher]struct{}
}

// NewHub returns a hub at revision 0 keeping the last historySize events
// (a negative size keeps none).
func NewHub(historySize int) *Hub {
	return &Hub{
		ring:     make([]*placementpb.WatchEvent, max(historySize, 0)),
		floor:    1,
		watchers: make(map[*Watcher]struct{}),
	}
}

// Revision returns the last published revision.
func (h *Hub) Revision() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.revision
}

// Publish records events (all with revisions in (previous revision,
// revision], in order) and the new current revision, then hands the events
// each watcher asked for to it. A watcher whose channel is full is ended with
// a resync response instead of being waited for. Publish takes ownership of
// events: neither the caller nor anybody else may modify them afterwards.
func (h *Hub) Publish(events []*placementpb.WatchEvent, revision uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range events {
		h.retain(ev)
	}
	if revision > h.revision {
		h.revision = revision
	}
	if len(events) == 0 {
		return
	}
	for w := range h.watchers {
		h.deliver(w, events)
	}
}

// Reset forgets all history and moves the hub to revision, ending every
// current watcher with a resync response. The state machine calls it when
// its state was replaced wholesale (a snapshot was restored), because no
// event sequence describes that change.
func (h *Hub) Reset(revision uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.ring)
	h.head, h.count = 0, 0
	h.revision = revision
	h.floor = revision + 1
	for w := range h.watchers {
		h.endWithResync(w)
	}
}

// Subscribe starts a watcher that receives every event with revision >=
// startRevision whose kind is in kinds (empty = all kinds): first the
// retained history, then live events. startRevision 0 means only events
// published from now on. When the history from startRevision is no longer
// retained, the watcher is returned already ended: its channel holds one
// resync response and is closed. buffer is how many responses may wait
// unread before the watcher is ended with a resync response.
func (h *Hub) Subscribe(startRevision uint64, kinds []placementpb.ResourceKind, buffer int) (*Watcher, error) {
	return h.SubscribeFiltered(startRevision, Filter{Kinds: kinds}, buffer)
}

// Filter selects the events a watcher receives.
type Filter struct {
	// Kinds: empty means every kind.
	Kinds []placementpb.ResourceKind
	// KVPrefixes: a KV event passes when its key has one of them; empty
	// means every key.
	KVPrefixes []string
}

// SubscribeFiltered is Subscribe with a key-prefix filter for KV events.
func (h *Hub) SubscribeFiltered(startRevision uint64, f Filter, buffer int) (*Watcher, error) {
	if buffer < 1 {
		return nil, fmt.Errorf("watch: buffer must be at least 1, got %d", buffer)
	}
	w := &Watcher{hub: h, kinds: newKindSet(f.Kinds), prefixes: f.KVPrefixes}

	h.mu.Lock()
	defer h.mu.Unlock()
	if startRevision == 0 {
		w.start = h.revision + 1
	} else {
		w.start = startRevision
	}
	if w.start < h.floor {
		// One slot is enough for the resync response.
		w.ch = make(chan *placementpb.WatchResponse, 1)
		h.endWithResync(w)
		return w, nil
	}
	var replay []*placementpb.WatchEvent
	for i := range h.count {
		ev := h.ring[(h.head+i)%len(h.ring)]
		if w.wants(ev) {
			replay = append(replay, ev)
		}
	}
	chunks := (len(replay) + MaxEventsPerResponse - 1) / MaxEventsPerResponse
	// The channel is sized so the whole replay fits, and one slot beyond the
	// buffer always stays free for the final resync response: Publish
	// treats the channel as full at cap-1.
	w.ch = make(chan *placementpb.WatchResponse, max(buffer, chunks)+1)
	for len(replay) > 0 {
		n := min(len(replay), MaxEventsPerResponse)
		w.ch <- &placementpb.WatchResponse{Events: replay[:n:n], Revision: h.revision}
		replay = replay[n:]
	}
	h.watchers[w] = struct{}{}
	return w, nil
}

// retain appends ev to the history ring, evicting the oldest event when the
// ring is full. Called with h.mu held.
func (h *Hub) retain(ev *placementpb.WatchEvent) {
	if len(h.ring) == 0 {
		h.floor = max(h.floor, ev.GetRevision()+1)
		return
	}
	if h.count == len(h.ring) {
		evicted := h.ring[h.head]
		h.ring[h.head] = nil
		h.head = (h.head + 1) % len(h.ring)
		h.count--
		// Other events of the evicted revision may remain, but that
		// revision is no longer complete.
		h.floor = max(h.floor, evicted.GetRevision()+1)
	}
	h.ring[(h.head+h.count)%len(h.ring)] = ev
	h.count++
}

// deliver sends w the events it wants. Called with h.mu held.
func (h *Hub) deliver(w *Watcher, events []*placementpb.WatchEvent) {
	var wanted []*placementpb.WatchEvent
	for _, ev := range events {
		if w.wants(ev) {
			wanted = append(wanted, ev)
		}
	}
	for len(wanted) > 0 {
		if len(w.ch) >= cap(w.ch)-1 {
			h.endWithResync(w)
			return
		}
		n := min(len(wanted), MaxEventsPerResponse)
		w.ch <- &placementpb.WatchResponse{Events: wanted[:n:n], Revision: h.revision}
		wanted = wanted[n:]
	}
}

// endWithResync sends w its final resync response and closes its channel.
// Called with h.mu held; the send cannot block because one slot of every
// channel is kept free for it.
func (h *Hub) endWithResync(w *Watcher) {
	if w.ended {
		return
	}
	select {
	case w.ch <- &placementpb.WatchResponse{Revision: h.revision, Resync: true}:
	default:
		// Unreachable while the free-slot rule holds; closing without the
		// resync response would look like a clean end, so keep the rule.
		panic("watch: no free slot for the resync response")
	}
	h.stop(w)
}

// stop unregisters w and closes its channel. Called with h.mu held.
func (h *Hub) stop(w *Watcher) {
	w.ended = true
	delete(h.watchers, w)
	close(w.ch)
}

// Watcher is one subscription. Its channel is closed after a resync response
// or after Close; a closed channel without a preceding resync response means
// the watcher was closed by its owner.
type Watcher struct {
	hub   *Hub
	ch    chan *placementpb.WatchResponse
	start uint64
	kinds kindSet
	// prefixes filter KV events by key; nil: every key.
	prefixes []string
	// ended is guarded by hub.mu.
	ended bool
}

// C returns the channel of responses. Each response carries events in
// revision order; responses never overlap and never skip an event the
// watcher asked for, unless the last one has Resync set.
func (w *Watcher) C() <-chan *placementpb.WatchResponse { return w.ch }

// Close ends the watcher and closes its channel; it is idempotent.
func (w *Watcher) Close() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	if !w.ended {
		w.hub.stop(w)
	}
}

// wants reports whether ev passes w's revision, kind and key filters.
func (w *Watcher) wants(ev *placementpb.WatchEvent) bool {
	if ev.GetRevision() < w.start || !w.kinds.has(ev.GetKind()) {
		return false
	}
	if len(w.prefixes) == 0 || ev.GetKind() != placementpb.ResourceKind_RESOURCE_KIND_KV {
		return true
	}
	key := ev.GetKv().GetKey()
	for _, p := range w.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// kindSet is the set of resource kinds a watcher wants; nil means all.
type kindSet map[placementpb.ResourceKind]struct{}

func newKindSet(kinds []placementpb.ResourceKind) kindSet {
	var s kindSet
	for _, k := range kinds {
		if k == placementpb.ResourceKind_RESOURCE_KIND_UNSPECIFIED {
			continue
		}
		if s == nil {
			s = make(kindSet, len(kinds))
		}
		s[k] = struct{}{}
	}
	return s
}

func (s kindSet) has(k placementpb.ResourceKind) bool {
	if s == nil {
		return true
	}
	_, ok := s[k]
	return ok
}
