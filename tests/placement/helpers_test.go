package placement

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

const (
	// writeTimeout bounds one PutKV of the load writers, retries included.
	writeTimeout = 5 * time.Second
	// maxWritesPerWriter bounds a writer's loop independently of time.
	maxWritesPerWriter = 1_000_000
	// verifySample bounds the point reads per member in verifyKeys; the
	// complete check is the ListKV.
	verifySample = 100
)

// testContext is a context that ends after d or when the test ends.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ack is one PutKV that returned OK.
type ack struct {
	key        string
	start, end time.Time
}

// writeLoad is a set of writer goroutines putting unique keys (value =
// key) until stopped; it records every acknowledged key. The test owns it
// and must call Stop.
type writeLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	acked    []ack
	failures map[codes.Code]int
	lastErr  error
}

// startWriteLoad starts writers goroutines writing keys under prefix+"/".
// They are also stopped when the test ends, should it end early.
func startWriteLoad(t *testing.T, api placementpb.PlacementServiceClient, prefix string, writers int) *writeLoad {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writeLoad{cancel: cancel, failures: make(map[codes.Code]int)}
	t.Cleanup(w.Stop)
	for g := range writers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for seq := 0; seq < maxWritesPerWriter && ctx.Err() == nil; seq++ {
				key := fmt.Sprintf("%s/w%02d/%07d", prefix, g, seq)
				start := time.Now()
				callCtx, callCancel := context.WithTimeout(ctx, writeTimeout)
				_, err := api.PutKV(callCtx, &placementpb.PutKVRequest{Key: key, Value: []byte(key)})
				callCancel()
				end := time.Now()
				w.mu.Lock()
				switch {
				case err == nil:
					w.acked = append(w.acked, ack{key: key, start: start, end: end})
				case ctx.Err() == nil:
					// A write cut short by Stop is neither acked nor a failure.
					w.failures[status.Code(err)]++
					w.lastErr = err
				}
				w.mu.Unlock()
			}
		}()
	}
	return w
}

// Stop ends the writers and waits for them; it may be called again.
func (w *writeLoad) Stop() {
	w.cancel()
	w.wg.Wait()
}

// Acked returns the acknowledged writes so far.
func (w *writeLoad) Acked() []ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ack(nil), w.acked...)
}

// AckCount is len(Acked()) without the copy.
func (w *writeLoad) AckCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// Keys returns the acknowledged keys.
func (w *writeLoad) Keys() []string {
	acks := w.Acked()
	keys := make([]string, len(acks))
	for i, a := range acks {
		keys[i] = a.key
	}
	return keys
}

// FirstAckStartedAfter returns the earliest completion among writes that
// were issued after t0 and acknowledged.
func (w *writeLoad) FirstAckStartedAfter(t0 time.Time) (time.Time, bool) {
	var first time.Time
	for _, a := range w.Acked() {
		if a.start.After(t0) && (first.IsZero() || a.end.Before(first)) {
			first = a.end
		}
	}
	return first, !first.IsZero()
}

// MaxGap is the longest time between consecutive acknowledgements (by
// completion time) within [from, to].
func (w *writeLoad) MaxGap(from, to time.Time) time.Duration {
	ends := []time.Time{from, to}
	for _, a := range w.Acked() {
		if a.end.After(from) && a.end.Before(to) {
			ends = append(ends, a.end)
		}
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
	var gap time.Duration
	for i := 1; i < len(ends); i++ {
		gap = max(gap, ends[i].Sub(ends[i-1]))
	}
	return gap
}

// Failures summarizes the failed writes, e.g. "3 (Unavailable=2
// DeadlineExceeded=1; last: ...)".
func (w *writeLoad) Failures() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	total := 0
	var parts []string
	for code, n := range w.failures {
		total += n
		parts = append(parts, fmt.Sprintf("%s=%d", code, n))
	}
	if total == 0 {
		return 0, "0"
	}
	sort.Strings(parts)
	return total, fmt.Sprintf("%d (%s; last: %v)", total, strings.Join(parts, " "), w.lastErr)
}

// waitAcks waits until the load acknowledged at least n more writes than
// it had when called, and at least minDuration passed: the load runs for
// a while, not just for a burst.
func (w *writeLoad) waitAcks(t *testing.T, n int, minDuration, timeout time.Duration, what string) {
	t.Helper()
	base, began := w.AckCount(), time.Now()
	harness.Eventually(t, timeout, what, func() error {
		if got := w.AckCount() - base; got < n {
			_, failed := w.Failures()
			return fmt.Errorf("%d of %d acks; failures %s", got, n, failed)
		}
		if time.Since(began) < minDuration {
			return fmt.Errorf("load ran %v of %v", time.Since(began), minDuration)
		}
		return nil
	})
}

// putKeys writes every key (value = key) with parallel writers and fails
// the test on any error.
func putKeys(t *testing.T, ctx context.Context, api placementpb.PlacementServiceClient, keys []string, parallel int) {
	t.Helper()
	work := make(chan string)
	errs := make(chan error, parallel)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range work {
				if _, err := api.PutKV(ctx, &placementpb.PutKVRequest{Key: key, Value: []byte(key)}); err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
					return
				}
			}
		}()
	}
	var firstErr error
feed:
	for _, key := range keys {
		select {
		case work <- key:
		case firstErr = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if firstErr == nil {
		firstErr = <-errs
	}
	if firstErr != nil {
		t.Fatalf("writing %d keys: %v", len(keys), firstErr)
	}
}

// verifyKeys checks that every key (value = key) is readable from every
// running member of c with a linearizable read through that member: all
// of them through one ListKV of prefix, and a sample (always including the
// last key) through GetKV. It returns the number missing over all members.
func verifyKeys(t *testing.T, c *harness.PlacementCluster, prefix string, keys []string) int {
	t.Helper()
	ctx := testContext(t, 60*time.Second)
	missingTotal := 0
	for _, m := range c.Running() {
		list, err := m.API().ListKV(ctx, &placementpb.ListKVRequest{Prefix: prefix})
		if err != nil {
			t.Fatalf("member %d: linearizable ListKV %q: %v", m.ID, prefix, err)
		}
		stored := make(map[string]string, len(list.GetKvs()))
		for _, kv := range list.GetKvs() {
			stored[kv.GetKey()] = string(kv.GetValue())
		}
		var missing []string
		for _, k := range keys {
			if v, ok := stored[k]; !ok || v != k {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			t.Errorf("member %d: %d of %d acknowledged keys missing or wrong, e.g. %v",
				m.ID, len(missing), len(keys), missing[:min(5, len(missing))])
		}
		missingTotal += len(missing)

		step := max(1, len(keys)/verifySample)
		for i := 0; i < len(keys); i += step {
			checkGet(t, ctx, m, keys[i])
		}
		if len(keys) > 0 {
			checkGet(t, ctx, m, keys[len(keys)-1])
		}
	}
	return missingTotal
}

// checkGet asserts a linearizable GetKV of key on m returns value key.
func checkGet(t *testing.T, ctx context.Context, m *harness.PlacementMember, key string) {
	t.Helper()
	got, err := m.API().GetKV(ctx, &placementpb.GetKVRequest{Key: key})
	if err != nil {
		t.Errorf("member %d: GetKV %s: %v", m.ID, key, err)
		return
	}
	if string(got.GetKv().GetValue()) != key {
		t.Errorf("member %d: GetKV %s = %q", m.ID, key, got.GetKv().GetValue())
	}
}

// recvUntil reads stream responses until match returns true for one, the
// stream ends or its context does; it fails the test in the latter cases.
func recvUntil(t *testing.T, stream placementpb.PlacementService_WatchClient, what string, match func(*placementpb.WatchResponse) bool) *placementpb.WatchResponse {
	t.Helper()
	for range 100_000 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch ended before %s: %v", what, err)
		}
		if match(resp) {
			return resp
		}
	}
	t.Fatalf("watch: no %s in 100000 responses", what)
	return nil
}

// isCode reports whether err carries code (through %w wrapping too).
func isCode(err error, code codes.Code) bool {
	if status.Code(err) == code {
		return true
	}
	var gs interface{ GRPCStatus() *status.Status }
	return errors.As(err, &gs) && gs.GRPCStatus().Code() == code
}
