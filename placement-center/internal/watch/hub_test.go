package watch

import (
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

const (
	kindNode    = placementpb.ResourceKind_RESOURCE_KIND_NODE
	kindShard   = placementpb.ResourceKind_RESOURCE_KIND_SHARD
	kindSegment = placementpb.ResourceKind_RESOURCE_KIND_SEGMENT
	kindKV      = placementpb.ResourceKind_RESOURCE_KIND_KV
)

func event(rev uint64, kind placementpb.ResourceKind) *placementpb.WatchEvent {
	return &placementpb.WatchEvent{Revision: rev, Type: placementpb.EventType_EVENT_TYPE_PUT, Kind: kind}
}

// drain reads w until its channel is closed or nothing arrives for a while,
// returning the events seen and whether a resync response arrived.
func drain(t *testing.T, w *Watcher, wait time.Duration) (events []*placementpb.WatchEvent, resync, closed bool) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case resp, ok := <-w.C():
			if !ok {
				return events, resync, true
			}
			if resync {
				t.Fatalf("response after resync: %v", resp)
			}
			if resp.GetResync() {
				if len(resp.GetEvents()) != 0 {
					t.Fatalf("resync response carries events: %v", resp)
				}
				resync = true
				continue
			}
			events = append(events, resp.GetEvents()...)
		case <-timer.C:
			return events, resync, false
		}
	}
}

func revisions(events []*placementpb.WatchEvent) []uint64 {
	out := make([]uint64, len(events))
	for i, ev := range events {
		out[i] = ev.GetRevision()
	}
	return out
}

func equalRevisions(t *testing.T, got []*placementpb.WatchEvent, want ...uint64) {
	t.Helper()
	g := revisions(got)
	if len(g) != len(want) {
		t.Fatalf("got revisions %v, want %v", g, want)
	}
	for i := range g {
		if g[i] != want[i] {
			t.Fatalf("got revisions %v, want %v", g, want)
		}
	}
}

func TestReplayFromRevisionThenLive(t *testing.T) {
	h := NewHub(100)
	for rev := uint64(1); rev <= 10; rev++ {
		h.Publish([]*placementpb.WatchEvent{event(rev, kindKV)}, rev)
	}
	w, err := h.Subscribe(5, nil, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h.Publish([]*placementpb.WatchEvent{event(11, kindKV), event(11, kindNode)}, 11)
	got, resync, closed := drain(t, w, 50*time.Millisecond)
	if resync || closed {
		t.Fatalf("resync=%v closed=%v, want a live watcher", resync, closed)
	}
	equalRevisions(t, got, 5, 6, 7, 8, 9, 10, 11, 11)
}

func TestStartZeroMeansFromNow(t *testing.T) {
	h := NewHub(100)
	h.Publish([]*placementpb.WatchEvent{event(1, kindKV)}, 1)
	h.Publish(nil, 3) // revisions without events still advance the hub
	w, err := h.Subscribe(0, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h.Publish([]*placementpb.WatchEvent{event(4, kindKV)}, 4)
	got, _, _ := drain(t, w, 50*time.Millisecond)
	equalRevisions(t, got, 4)
	if h.Revision() != 4 {
		t.Fatalf("revision %d, want 4", h.Revision())
	}
}

func TestFutureStartRevisionWaits(t *testing.T) {
	h := NewHub(10)
	h.Publish([]*placementpb.WatchEvent{event(1, kindKV)}, 1)
	w, err := h.Subscribe(3, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h.Publish([]*placementpb.WatchEvent{event(2, kindKV)}, 2)
	h.Publish([]*placementpb.WatchEvent{event(3, kindKV)}, 3)
	got, _, _ := drain(t, w, 50*time.Millisecond)
	equalRevisions(t, got, 3)
}

func TestKindsFilter(t *testing.T) {
	h := NewHub(100)
	h.Publish([]*placementpb.WatchEvent{event(1, kindNode), event(1, kindShard), event(1, kindSegment)}, 1)
	w, err := h.Subscribe(1, []placementpb.ResourceKind{kindSegment, kindNode}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h.Publish([]*placementpb.WatchEvent{event(2, kindKV)}, 2)
	h.Publish([]*placementpb.WatchEvent{event(3, kindShard), event(3, kindSegment)}, 3)
	got, _, _ := drain(t, w, 50*time.Millisecond)
	var kinds []placementpb.ResourceKind
	for _, ev := range got {
		kinds = append(kinds, ev.GetKind())
	}
	want := []placementpb.ResourceKind{kindNode, kindSegment, kindSegment}
	if len(kinds) != len(want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("kinds %v, want %v", kinds, want)
		}
	}
	equalRevisions(t, got, 1, 1, 3)
}

func TestStartBeforeRetainedHistoryResyncs(t *testing.T) {
	h := NewHub(4)
	// Revision 5 has two events; the ring keeps 4 events: 5b, 6, 7, 8.
	for rev := uint64(1); rev <= 8; rev++ {
		evs := []*placementpb.WatchEvent{event(rev, kindKV)}
		if rev == 5 {
			evs = append(evs, event(rev, kindNode))
		}
		h.Publish(evs, rev)
	}
	tests := []struct {
		start      uint64
		wantResync bool
		wantRevs   []uint64
	}{
		{start: 1, wantResync: true},
		{start: 5, wantResync: true}, // revision 5 is only partly retained
		{start: 6, wantRevs: []uint64{6, 7, 8}},
		{start: 8, wantRevs: []uint64{8}},
		{start: 9},
	}
	for _, tc := range tests {
		w, err := h.Subscribe(tc.start, nil, 2)
		if err != nil {
			t.Fatal(err)
		}
		got, resync, closed := drain(t, w, 20*time.Millisecond)
		if resync != tc.wantResync || closed != tc.wantResync {
			t.Fatalf("start %d: resync=%v closed=%v, want %v", tc.start, resync, closed, tc.wantResync)
		}
		equalRevisions(t, got, tc.wantRevs...)
		w.Close()
	}
}

func TestSlowWatcherIsEndedWithResync(t *testing.T) {
	h := NewHub(100)
	w, err := h.Subscribe(0, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for rev := uint64(1); rev <= 10; rev++ {
		h.Publish([]*placementpb.WatchEvent{event(rev, kindKV)}, rev)
	}
	got, resync, closed := drain(t, w, time.Second)
	if !resync || !closed {
		t.Fatalf("resync=%v closed=%v, want both", resync, closed)
	}
	equalRevisions(t, got, 1, 2)
	// A late subscriber with enough buffer still gets the full replay, which
	// may exceed its buffer.
	w2, err := h.Subscribe(1, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	got, resync, _ = drain(t, w2, 20*time.Millisecond)
	if resync {
		t.Fatal("replay within history must not resync")
	}
	equalRevisions(t, got, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
}

func TestLargeBatchesAreSplit(t *testing.T) {
	h := NewHub(2 * MaxEventsPerResponse)
	w, err := h.Subscribe(1, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	evs := make([]*placementpb.WatchEvent, MaxEventsPerResponse+1)
	for i := range evs {
		evs[i] = event(1, kindKV)
	}
	h.Publish(evs, 1)
	first := <-w.C()
	second := <-w.C()
	if len(first.GetEvents()) != MaxEventsPerResponse || len(second.GetEvents()) != 1 {
		t.Fatalf("responses of %d and %d events", len(first.GetEvents()), len(second.GetEvents()))
	}
}

func TestResetResyncsEveryWatcher(t *testing.T) {
	h := NewHub(100)
	h.Publish([]*placementpb.WatchEvent{event(1, kindKV)}, 1)
	var ws []*Watcher
	for range 3 {
		w, err := h.Subscribe(0, nil, 4)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	h.Reset(50)
	for _, w := range ws {
		_, resync, closed := drain(t, w, time.Second)
		if !resync || !closed {
			t.Fatalf("resync=%v closed=%v after Reset", resync, closed)
		}
		w.Close() // closing an ended watcher is harmless
	}
	if h.Revision() != 50 {
		t.Fatalf("revision %d after Reset(50)", h.Revision())
	}
	// History is gone: starting at 1 resyncs, starting at 51 is live.
	w, err := h.Subscribe(1, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, resync, _ := drain(t, w, 20*time.Millisecond); !resync {
		t.Fatal("history before Reset must not be replayed")
	}
	w, err = h.Subscribe(51, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h.Publish([]*placementpb.WatchEvent{event(51, kindKV)}, 51)
	got, resync, _ := drain(t, w, 50*time.Millisecond)
	if resync {
		t.Fatal("unexpected resync")
	}
	equalRevisions(t, got, 51)
}

func TestCloseEndsWithoutResync(t *testing.T) {
	h := NewHub(10)
	w, err := h.Subscribe(0, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	w.Close()
	h.Publish([]*placementpb.WatchEvent{event(1, kindKV)}, 1)
	got, resync, closed := drain(t, w, time.Second)
	if len(got) != 0 || resync || !closed {
		t.Fatalf("events=%d resync=%v closed=%v after Close", len(got), resync, closed)
	}
	if _, err := h.Subscribe(0, nil, 0); err == nil {
		t.Fatal("buffer 0 must be rejected")
	}
}

func TestPublishNeverBlocksOnIdleWatchers(t *testing.T) {
	h := NewHub(16)
	for range 20 {
		if _, err := h.Subscribe(0, nil, 1); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rev := uint64(1); rev <= 2000; rev++ {
			h.Publish([]*placementpb.WatchEvent{event(rev, kindKV)}, rev)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Publish blocked on watchers nobody reads")
	}
}

// TestWatcherSeesGapFreePrefix is the property behind the resync rule: for
// any interleaving of publishes and partial reads, what a watcher receives
// before a resync is exactly a prefix of the published events it asked for,
// and without a resync it is all of them.
func TestWatcherSeesGapFreePrefix(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := NewHub(rapid.IntRange(0, 20).Draw(rt, "history"))
		allKinds := []placementpb.ResourceKind{kindNode, kindShard, kindSegment, kindKV}
		var published []*placementpb.WatchEvent
		rev := uint64(0)
		publish := func(rt *rapid.T) {
			rev++
			n := rapid.IntRange(0, 4).Draw(rt, "events")
			evs := make([]*placementpb.WatchEvent, n)
			for i := range evs {
				evs[i] = event(rev, rapid.SampledFrom(allKinds).Draw(rt, "kind"))
			}
			published = append(published, evs...)
			h.Publish(evs, rev)
		}
		for range rapid.IntRange(0, 10).Draw(rt, "before") {
			publish(rt)
		}
		start := rapid.Uint64Range(0, rev+2).Draw(rt, "start")
		kinds := rapid.SliceOfNDistinct(rapid.SampledFrom(allKinds), 0, 3, rapid.ID).Draw(rt, "kinds")
		w, err := h.Subscribe(start, kinds, rapid.IntRange(1, 4).Draw(rt, "buffer"))
		if err != nil {
			rt.Fatal(err)
		}
		defer w.Close()
		from := start
		if from == 0 {
			from = rev + 1
		}
		var received []*placementpb.WatchEvent
		resync := false
		read := func(max int) {
			for range max {
				select {
				case resp, ok := <-w.C():
					if !ok {
						return
					}
					if resync {
						rt.Fatalf("response after resync")
					}
					if resp.GetResync() {
						resync = true
						continue
					}
					received = append(received, resp.GetEvents()...)
				default:
					return
				}
			}
		}
		for range rapid.IntRange(0, 30).Draw(rt, "steps") {
			if rapid.Bool().Draw(rt, "publish") {
				publish(rt)
			} else {
				read(rapid.IntRange(1, 3).Draw(rt, "reads"))
			}
		}
		read(1 << 20)
		set := newKindSet(kinds)
		var want []*placementpb.WatchEvent
		for _, ev := range published {
			if ev.GetRevision() >= from && set.has(ev.GetKind()) {
				want = append(want, ev)
			}
		}
		if len(received) > len(want) {
			rt.Fatalf("received %d events, only %d published", len(received), len(want))
		}
		for i := range received {
			if received[i] != want[i] {
				rt.Fatalf("event %d: got revision %d kind %v, want revision %d kind %v", i,
					received[i].GetRevision(), received[i].GetKind(), want[i].GetRevision(), want[i].GetKind())
			}
		}
		if !resync && len(received) != len(want) {
			rt.Fatalf("no resync but received %d of %d events", len(received), len(want))
		}
	})
}

// TestConcurrentPublishSubscribe runs a publisher against watchers that come
// and go, under -race: each watcher must see consecutive revisions (every
// publish carries exactly one event) until it closes or resyncs.
func TestConcurrentPublishSubscribe(t *testing.T) {
	const revisionsToPublish = 3000
	h := NewHub(64)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 16)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 200; round++ {
				select {
				case <-stop:
					return
				default:
				}
				cur := h.Revision()
				start := uint64(0)
				if cur > 10 && round%2 == 0 {
					start = cur - 10
				}
				w, err := h.Subscribe(start, nil, 1+i)
				if err != nil {
					errs <- err.Error()
					return
				}
				next := start
				timeout := time.After(10 * time.Second)
			read:
				for n := 0; n < 50; n++ {
					select {
					case resp, ok := <-w.C():
						if !ok || resp.GetResync() {
							break read
						}
						for _, ev := range resp.GetEvents() {
							if next != 0 && ev.GetRevision() != next {
								errs <- "gap or duplicate in watcher stream"
								w.Close()
								return
							}
							next = ev.GetRevision() + 1
						}
					case <-timeout:
						break read
					case <-stop:
						break read
					}
				}
				w.Close()
			}
		}()
	}
	for rev := uint64(1); rev <= revisionsToPublish; rev++ {
		h.Publish([]*placementpb.WatchEvent{event(rev, kindKV)}, rev)
		if rev%500 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func kvEvent(rev uint64, key string) *placementpb.WatchEvent {
	ev := event(rev, kindKV)
	ev.Object = &placementpb.WatchEvent_Kv{Kv: &placementpb.KeyValue{Key: key}}
	return ev
}

// KV key prefixes select KV events (replayed and live) and leave the
// events of other kinds alone.
func TestKVPrefixFilter(t *testing.T) {
	h := NewHub(100)
	h.Publish([]*placementpb.WatchEvent{kvEvent(1, "mqtt/t/routes/1/a"), kvEvent(1, "mqtt/t/sessions/c")}, 1)
	w, err := h.SubscribeFiltered(1, Filter{KVPrefixes: []string{"mqtt/t/routes/", "mqtt/t/retained/"}}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h.Publish([]*placementpb.WatchEvent{kvEvent(2, "mqtt/t/sessions/d"), kvEvent(2, "mqtt/t/retained/x"), event(2, kindNode)}, 2)
	got, _, _ := drain(t, w, 50*time.Millisecond)
	var keys []string
	for _, ev := range got {
		keys = append(keys, ev.GetKv().GetKey())
	}
	want := []string{"mqtt/t/routes/1/a", "mqtt/t/retained/x", ""}
	if len(keys) != len(want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys %q, want %q", keys, want)
		}
	}
	equalRevisions(t, got, 1, 2, 2)
}
