package streamclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/common/streamclient/streamtest"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

func newFake(t *testing.T, nodes int) *streamtest.Cluster { return streamtest.NewCluster(t, nodes) }

// newClient returns a client over the fake's placement center.
func newClient(t *testing.T, fc *streamtest.Cluster, opts Options) *Client {
	t.Helper()
	cc, err := grpc.NewClient(fc.Center(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c := New(cc, opts)
	t.Cleanup(func() {
		_ = c.Close()
		_ = cc.Close()
	})
	return c
}

func bg(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, c *Client, name string, partitions int) *Stream {
	t.Helper()
	st, _, err := c.CreateStream(bg(t), name, StreamConfig{Partitions: partitions, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func recs(from, n int) []recordbatch.Record {
	out := make([]recordbatch.Record, n)
	for i := range out {
		out[i] = recordbatch.Record{TimestampMs: int64(1000 + from + i), Value: []byte("v" + strconv.Itoa(from+i))}
	}
	return out
}

// produce sends batches of size per partition concurrently through
// AppendAsync and returns every outcome by batch index.
type outcome struct {
	res AppendResult
	err error
}

func produceAll(t *testing.T, p *Producer, partition, batches, size int, timeout time.Duration) []outcome {
	t.Helper()
	out := make([]outcome, batches)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for i := 0; i < batches; i++ {
		wg.Add(1)
		i := i
		var once sync.Once
		err := p.AppendAsync(ctx, partition, recs(i*size, size), func(r AppendResult, err error) {
			once.Do(func() {
				out[i] = outcome{r, err}
				wg.Done()
			})
		})
		if err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	wg.Wait()
	return out
}

// checkExactlyOnce verifies the shard's log holds values v0..v<n-1>
// exactly once in order, and that the acknowledged offsets match.
func checkExactlyOnce(t *testing.T, fc *streamtest.Cluster, shard string, outs []outcome, size int) {
	t.Helper()
	log := fc.Records(shard)
	if len(log) != len(outs)*size {
		t.Fatalf("%s holds %d records, want %d", shard, len(log), len(outs)*size)
	}
	for i, m := range log {
		if got, want := string(m.Value), "v"+strconv.Itoa(i); got != want {
			t.Fatalf("offset %d holds %q, want %q", i, got, want)
		}
	}
	for i, o := range outs {
		if o.err != nil {
			t.Fatalf("batch %d failed: %v", i, o.err)
		}
		if o.res.OffsetsKnown && o.res.FirstOffset != uint64(i*size) {
			t.Fatalf("batch %d acked at %d, written at %d", i, o.res.FirstOffset, i*size)
		}
	}
}

func TestProduceAndReadBack(t *testing.T) {
	fc := newFake(t, 3)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s1", 2)
	p, err := c.NewProducer(bg(t), "s1", ProducerOptions{MaxInFlight: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	if p.Partitions() != 2 || p.ProducerID() == 0 || p.ProducerID()>>63 != 0 {
		t.Fatalf("partitions %d producer id %d", p.Partitions(), p.ProducerID())
	}
	outs := produceAll(t, p, 1, 50, 3, 10*time.Second)
	checkExactlyOnce(t, fc, "s1/1", outs, 3)
	for i, o := range outs {
		if o.res.Duplicate || !o.res.OffsetsKnown || o.res.Attempts != 1 || o.res.Partition != 1 {
			t.Fatalf("batch %d: %+v", i, o.res)
		}
	}
	if n := len(fc.Records("s1/0")); n != 0 {
		t.Fatalf("partition 0 got %d records", n)
	}

	r, err := c.NewReader("s1", 1, ReaderOptions{Start: Earliest(), MaxBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readUntilCaughtUp(t, r)
	if len(got) != 150 {
		t.Fatalf("read %d records", len(got))
	}
	for i, m := range got {
		if m.Offset != uint64(i) || string(m.Value) != "v"+strconv.Itoa(i) || m.TimestampMs != int64(1000+i) {
			t.Fatalf("record %d: offset %d value %q ts %d", i, m.Offset, m.Value, m.TimestampMs)
		}
	}
}

func readUntilCaughtUp(t *testing.T, r *Reader) []Message {
	t.Helper()
	var got []Message
	for {
		msgs, err := r.Next(bg(t))
		if errors.Is(err, ErrCaughtUp) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
	}
}

// A stream that breaks after the leader wrote a batch but before it
// answered: the resend finds the batch already written (duplicate=true with
// its offsets) and nothing is written twice.
func TestResendAfterLostAcksIsExactlyOnce(t *testing.T) {
	fc := newFake(t, 3)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	n := 0
	fc.SetAppendHook(func(uint64, *journalpb.AppendRequest) streamtest.Fault {
		n++
		return streamtest.Fault{DropAfter: n%7 == 3}
	})
	// No merging: the 60 appends, handed over at once, would otherwise
	// leave as a handful of batches and the fault would hit none.
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{MaxInFlight: 8, MergeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	outs := produceAll(t, p, 0, 60, 2, 20*time.Second)
	checkExactlyOnce(t, fc, "s/0", outs, 2)
	dups := 0
	for _, o := range outs {
		if o.res.Duplicate {
			dups++
			if !o.res.OffsetsKnown || o.res.Attempts < 2 {
				t.Fatalf("duplicate without offsets or resend: %+v", o.res)
			}
		}
	}
	if dups == 0 {
		t.Fatal("no batch was answered as a duplicate; the fault did not hit")
	}
}

// Leader failures of every kind: the producer refreshes and resends to
// whoever leads now, in order.
func TestRetriesThroughLeaderErrorsAndRolls(t *testing.T) {
	fc := newFake(t, 3)
	c := newClient(t, fc, Options{WatchMetadata: true})
	mustCreate(t, c, "s", 1)
	var once sync.Map
	fc.SetAppendHook(func(node uint64, req *journalpb.AppendRequest) streamtest.Fault {
		h, _ := recordbatch.DecodeHeader(req.GetBatch())
		fire := func(key string) bool { _, loaded := once.LoadOrStore(key, true); return !loaded }
		switch {
		case h.BaseSequence == 10 && fire("notleader"):
			return streamtest.Fault{Err: rpcerr.NotLeader(0, "")}
		case h.BaseSequence == 20 && fire("unavailable"):
			return streamtest.Fault{Err: status.Error(codes.Unavailable, "quorum lost")}
		case h.BaseSequence == 30 && fire("break"):
			return streamtest.Fault{BreakFirst: true}
		case h.BaseSequence == 40 && fire("roll"):
			// The leader rolls: seal at the log end, next segment
			// elsewhere; this batch is refused as sealed.
			go fc.Roll("s/0", 2)
			return streamtest.Fault{Err: rpcerr.SegmentSealed(0)}
		case h.BaseSequence == 60 && fire("fenced"):
			go fc.Roll("s/0", 3)
			return streamtest.Fault{Err: rpcerr.Fenced(9)}
		}
		return streamtest.Fault{}
	})
	// Unmerged: the faults pick batches by their base sequence.
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{MaxInFlight: 5, MergeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	outs := produceAll(t, p, 0, 40, 2, 20*time.Second)
	checkExactlyOnce(t, fc, "s/0", outs, 2)
	segs := len(fc.Segments("s/0"))
	if segs != 3 {
		t.Fatalf("%d segments, want 3 (two rolls)", segs)
	}

	// The reader crosses both sealed boundaries.
	r, _ := c.NewReader("s", 0, ReaderOptions{Start: Earliest()})
	defer r.Close()
	if got := readUntilCaughtUp(t, r); len(got) != 80 || got[79].Offset != 79 {
		t.Fatalf("read %d records across segments", len(got))
	}
}

// A batch refused for good fails alone; the ones pipelined behind it are
// renumbered under a new producer epoch and written once.
func TestRefusedBatchFailsAloneAndTheRestResequence(t *testing.T) {
	fc := newFake(t, 1)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	var hit bool
	fc.SetAppendHook(func(_ uint64, req *journalpb.AppendRequest) streamtest.Fault {
		b, _ := recordbatch.Decode(req.GetBatch(), recordbatch.Limits{})
		if !hit && string(b.Records[0].Value) == "v10" {
			hit = true
			return streamtest.Fault{Err: rpcerr.ResourceExhausted("batch_bytes", 10, 20)}
		}
		return streamtest.Fault{}
	})
	// Unmerged: a refused merged batch would fail every append in it.
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{MaxInFlight: 8, MergeBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	outs := produceAll(t, p, 0, 20, 1, 10*time.Second)
	var ae *AppendError
	if !errors.As(outs[10].err, &ae) || rpcerr.Code(ae) != codes.ResourceExhausted {
		t.Fatalf("batch 10: %v", outs[10].err)
	}
	log := fc.Records("s/0")
	if len(log) != 19 {
		t.Fatalf("%d records written, want 19", len(log))
	}
	for i, m := range log {
		want := i
		if i >= 10 {
			want = i + 1
		}
		if string(m.Value) != "v"+strconv.Itoa(want) {
			t.Fatalf("offset %d holds %q", i, m.Value)
		}
	}
	for i, o := range outs {
		if i != 10 && o.err != nil {
			t.Fatalf("batch %d: %v", i, o.err)
		}
	}
}

// With the leader down, an append fails with a typed timeout at its
// deadline; once the leader is back, later appends succeed and the timed
// out batch is kept in sequence (written once, not lost from the order).
func TestDeadlineThenRecovery(t *testing.T) {
	fc := newFake(t, 1)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	if _, err := p.Append(bg(t), 0, recs(0, 1)); err != nil {
		t.Fatal(err)
	}
	fc.SetDown(1, true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = p.Append(ctx, 0, recs(1, 1))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		var te *TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("append with the leader down: %v", err)
		}
	}
	// AppendAsync reports the typed timeout itself.
	done := make(chan error, 1)
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	if err := p.AppendAsync(ctx, 0, recs(2, 1), func(_ AppendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	cancel()
	var te *TimeoutError
	if err := <-done; !errors.As(err, &te) || te.Attempts == 0 || status.Code(te.Err) != codes.Unavailable {
		t.Fatalf("async outcome %v", err)
	}
	fc.SetDown(1, false)
	res, err := p.Append(bg(t), 0, recs(3, 1))
	if err != nil {
		t.Fatal(err)
	}
	log := fc.Records("s/0")
	if len(log) != 4 || res.FirstOffset != 3 {
		t.Fatalf("log %d records, last acked at %d", len(log), res.FirstOffset)
	}
}

func TestCloseDrainsAndThenRefuses(t *testing.T) {
	fc := newFake(t, 1)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 10)
	for i := 0; i < 10; i++ {
		if err := p.AppendAsync(bg(t), 0, recs(i, 1), func(_ AppendResult, err error) { results <- err }); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(bg(t)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Append(bg(t), 0, recs(0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestReaderPositions(t *testing.T) {
	fc := newFake(t, 3)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	produceAll(t, p, 0, 10, 5, 10*time.Second) // offsets 0..49, ts 1000..1049
	fc.Roll("s/0", 2)
	produceAll(t, p, 0, 2, 5, 10*time.Second) // 50..59 (values restart at v0)

	read := func(opts ReaderOptions) []Message {
		t.Helper()
		r, err := c.NewReader("s", 0, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		return readUntilCaughtUp(t, r)
	}
	if got := read(ReaderOptions{Start: AtOffset(12)}); len(got) != 48 || got[0].Offset != 12 {
		t.Fatalf("from offset 12: %d records, first %v", len(got), got)
	}
	if got := read(ReaderOptions{Start: AtTimestamp(1033)}); len(got) < 17 || got[0].Offset != 33 {
		t.Fatalf("from ts 1033: %d records, first at %d", len(got), got[0].Offset)
	}
	if got := read(ReaderOptions{Start: Latest()}); len(got) != 0 {
		t.Fatalf("latest read %d old records", len(got))
	}

	// Latest + Follow sees only what is written after it started.
	r, _ := c.NewReader("s", 0, ReaderOptions{Start: Latest(), Follow: true})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	if _, err := r.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("tail with nothing new: %v", err)
	}
	cancel()
	if _, err := p.Append(bg(t), 0, recs(777, 1)); err != nil {
		t.Fatal(err)
	}
	msgs, err := r.Next(bg(t))
	if err != nil || len(msgs) != 1 || msgs[0].Offset != 60 || string(msgs[0].Value) != "v777" {
		t.Fatalf("tailed %v %v", msgs, err)
	}

	// The leader of segment 1 stops serving reads: a replica answers.
	fc.SetDown(2, true)
	got := read(ReaderOptions{Start: AtOffset(55)})
	if len(got) != 6 || got[0].Offset != 55 {
		t.Fatalf("read with the leader down: %d records", len(got))
	}
}

func TestReaderFollowsAcrossARollWhileTailing(t *testing.T) {
	fc := newFake(t, 2)
	c := newClient(t, fc, Options{WatchMetadata: true})
	mustCreate(t, c, "s", 1)
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	r, _ := c.NewReader("s", 0, ReaderOptions{Start: Earliest(), Follow: true})
	defer r.Close()
	var got []Message
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for len(got) < 30 {
			msgs, err := r.Next(bg(t))
			if err != nil {
				t.Error(err)
				return
			}
			got = append(got, msgs...)
		}
	}()
	for i := 0; i < 30; i++ {
		if i == 15 {
			fc.Roll("s/0", 2)
		}
		if _, err := p.Append(bg(t), 0, recs(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, m := range got {
		if m.Offset != uint64(i) {
			t.Fatalf("record %d at offset %d", i, m.Offset)
		}
	}
}

func TestReaderOffsetOutOfRange(t *testing.T) {
	fc := newFake(t, 1)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	fc.TrimStart("s/0", 100) // retention dropped offsets below 100
	r, _ := c.NewReader("s", 0, ReaderOptions{Start: AtOffset(5)})
	_, err := r.Next(bg(t))
	var oe *OffsetOutOfRangeError
	if !errors.As(err, &oe) || oe.Earliest != 100 || !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start: %v", err)
	}
}

func TestStreamAdmin(t *testing.T) {
	fc := newFake(t, 3)
	c := newClient(t, fc, Options{})
	ctx := bg(t)
	st, warnings, err := c.CreateStream(ctx, "orders", StreamConfig{Partitions: 3, Replicas: 5, AckQuorum: 2,
		SegmentMaxBytes: 1 << 20, RetentionTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 3 || st.PartitionCount != 3 || len(st.Partitions) != 3 || st.Replicas != 3 {
		t.Fatalf("created %+v warnings %q", st, warnings)
	}
	for i, p := range st.Partitions {
		cfg := p.Shard.GetConfig()
		if p.Index != i || p.Shard.GetName() != fmt.Sprintf("orders/%d", i) || cfg["stream"] != "orders" ||
			cfg["partition"] != strconv.Itoa(i) || cfg["partitions"] != "3" || cfg["segment.max_bytes"] != "1048576" ||
			cfg["retention.time"] != "1h0m0s" || len(p.Segments) != 1 {
			t.Fatalf("partition %d: %v %v", i, p.Shard, p.Segments)
		}
	}
	if _, _, err := c.CreateStream(ctx, "orders", StreamConfig{Partitions: 3}); rpcerr.Code(err) != codes.AlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	if _, _, err := c.CreateStream(ctx, "orders", StreamConfig{Partitions: 4}); rpcerr.Code(err) != codes.AlreadyExists {
		t.Fatalf("create with other partitions: %v", err)
	}
	// A create interrupted half way resumes.
	if _, err := fc.Placement().DeleteShard(ctx, &placementpb.DeleteShardRequest{Name: "orders/1"}); err != nil {
		t.Fatal(err)
	}
	if st, _, err := c.CreateStream(ctx, "orders", StreamConfig{Partitions: 3}); err != nil || len(st.Partitions) != 3 {
		t.Fatalf("resumed create: %v", err)
	}
	// A shard that is not a stream partition is not listed.
	if _, err := fc.Placement().CreateShard(ctx, &placementpb.CreateShardRequest{Name: "plain"}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, c, "audit", 1)
	list, err := c.ListStreams(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "audit" || list[1].Name != "orders" || list[1].PartitionCount != 3 || list[1].PartitionsFound != 3 {
		t.Fatalf("list %+v %v", list, err)
	}
	for _, bad := range []string{"", "a/b", "a b", string(make([]byte, 201))} {
		if _, _, err := c.CreateStream(ctx, bad, StreamConfig{Partitions: 1}); rpcerr.Code(err) != codes.InvalidArgument {
			t.Fatalf("name %q: %v", bad, err)
		}
	}
	for _, n := range []int{0, -1, MaxPartitions + 1} {
		if _, _, err := c.CreateStream(ctx, "x", StreamConfig{Partitions: n}); rpcerr.Code(err) != codes.InvalidArgument {
			t.Fatalf("partitions %d: %v", n, err)
		}
	}
	if _, _, err := c.CreateStream(ctx, "x", StreamConfig{Partitions: 1, Replicas: 1, AckQuorum: 2}); rpcerr.Code(err) != codes.InvalidArgument {
		t.Fatalf("quorum above replicas: %v", err)
	}
	n, err := c.DeleteStream(ctx, "orders")
	if err != nil || n != 3 {
		t.Fatalf("delete: %d %v", n, err)
	}
	if _, err := c.DescribeStream(ctx, "orders"); !errors.Is(err, ErrStreamNotFound) || rpcerr.Code(err) != codes.NotFound {
		t.Fatalf("describe deleted: %v", err)
	}
	if _, err := c.DeleteStream(ctx, "orders"); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("delete deleted: %v", err)
	}
	if _, err := c.NewProducer(ctx, "orders", ProducerOptions{}); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("producer on deleted: %v", err)
	}
}

func TestClassifyAppend(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want errAction
	}{
		{rpcerr.NotLeader(2, "x"), actRetry},
		{rpcerr.Fenced(3), actRetry},
		{rpcerr.SegmentSealed(9), actRetry},
		{rpcerr.NotFound("segment", "s"), actRetry},
		{status.Error(codes.Unavailable, "x"), actRetry},
		{errors.New("EOF"), actRetry},
		{rpcerr.InvalidArgument("base_sequence", "gap"), actResequence},
		{rpcerr.InvalidArgument("producer_epoch", "old"), actStaleEpoch},
		{rpcerr.InvalidArgument("batch", "bad crc"), actFail},
		{rpcerr.ResourceExhausted("batch_bytes", 1, 2), actFail},
		{rpcerr.FromProto(rpcerr.ToProto(rpcerr.SegmentSealed(4))), actRetry},
	} {
		if got := classifyAppend(tc.err); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestSegmentFor(t *testing.T) {
	sealed := placementpb.SegmentStatus_SEGMENT_STATUS_SEALED
	segs := []*placementpb.Segment{
		{Seq: 0, Status: sealed, StartOffset: 0, EndOffset: 10},
		{Seq: 1, Status: sealed, StartOffset: 10, EndOffset: 10}, // empty
		{Seq: 2, Status: sealed, StartOffset: 10, EndOffset: 25},
		{Seq: 3, Status: placementpb.SegmentStatus_SEGMENT_STATUS_OPEN, StartOffset: 25},
	}
	for o, want := range map[uint64]uint32{0: 0, 9: 0, 10: 2, 24: 2, 25: 3, 1000: 3} {
		if got := segmentFor(segs, o); got.GetSeq() != want {
			t.Errorf("offset %d in segment %d, want %d", o, got.GetSeq(), want)
		}
	}
	if got := segmentFor(segs[:3], 25); got != nil {
		t.Errorf("offset past the last sealed segment found %v", got)
	}
}

func TestRandomProducerID(t *testing.T) {
	seen := map[uint64]bool{}
	for i := 0; i < 1000; i++ {
		id := RandomProducerID()
		if id == 0 || id>>63 != 0 || seen[id] {
			t.Fatalf("id %d", id)
		}
		seen[id] = true
	}
}

// Once a partition's oldest batch timed out and its queue is full, new
// appends fail at once instead of each waiting a whole deadline; when the
// leader is back the kept batches are written first, in order.
func TestStuckPartitionFailsFast(t *testing.T) {
	fc := newFake(t, 1)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{MaxInFlight: 1, MaxQueued: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	fc.SetDown(1, true)
	done := make(chan error, 2)
	for i := 0; i < 2; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		if err := p.AppendAsync(ctx, 0, recs(i, 1), func(_ AppendResult, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	for i := 0; i < 2; i++ {
		var te *TimeoutError
		if err := <-done; !errors.As(err, &te) {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = p.Append(ctx, 0, recs(2, 1))
	cancel()
	var te *TimeoutError
	if !errors.As(err, &te) || time.Since(start) > 2*time.Second {
		t.Fatalf("append to a stuck partition: %v after %v", err, time.Since(start))
	}
	fc.SetDown(1, false)
	// Until the kept batches are written the partition still refuses
	// new ones; a caller retries.
	var res AppendResult
	for deadline := time.Now().Add(10 * time.Second); ; {
		if res, err = p.Append(bg(t), 0, recs(3, 1)); err == nil {
			break
		}
		if !errors.As(err, &te) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := fc.Records("s/0")
	if len(got) != 3 || string(got[0].Value) != "v0" || string(got[1].Value) != "v1" || string(got[2].Value) != "v3" || res.FirstOffset != 2 {
		t.Fatalf("log %v, last acked at %d", got, res.FirstOffset)
	}
}

// A leader that stops answering (a hung process, a half-open connection):
// the batch times out, the stream is dropped, and the kept batch is resent
// on a new stream, where the dedupe table recognises it.
func TestHungLeaderIsDroppedAtTheDeadline(t *testing.T) {
	fc := newFake(t, 1)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	hung := false
	fc.SetAppendHook(func(uint64, *journalpb.AppendRequest) streamtest.Fault {
		if !hung {
			hung = true
			return streamtest.Fault{Hang: true}
		}
		return streamtest.Fault{}
	})
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	done := make(chan error, 1)
	if err := p.AppendAsync(ctx, 0, recs(0, 1), func(_ AppendResult, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	cancel()
	var te *TimeoutError
	if err := <-done; !errors.As(err, &te) || status.Code(te.Err) != codes.DeadlineExceeded {
		t.Fatalf("hung append: %v", err)
	}
	res, err := p.Append(bg(t), 0, recs(1, 1))
	if err != nil || res.FirstOffset != 1 {
		t.Fatalf("append after the hang: %+v %v", res, err)
	}
	if got := fc.Records("s/0"); len(got) != 2 || string(got[0].Value) != "v0" || string(got[1].Value) != "v1" {
		t.Fatalf("log %v", got)
	}
}

// A leader that goes silent while the placement center moves the segment
// on (recovery sealed it, a new leader took the next one): the producer
// notices from the metadata long before the batch deadline and resends to
// the new leader, which recognises the batch the silent one wrote.
func TestSilentLeaderReplacedBeforeTheDeadline(t *testing.T) {
	fc := newFake(t, 2)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	hung := false
	fc.SetAppendHook(func(uint64, *journalpb.AppendRequest) streamtest.Fault {
		if !hung {
			hung = true
			return streamtest.Fault{Hang: true}
		}
		return streamtest.Fault{}
	})
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	go func() {
		time.Sleep(300 * time.Millisecond)
		fc.Roll("s/0", 2)
	}()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := p.Append(ctx, 0, recs(0, 1))
	if err != nil || !res.Duplicate || res.FirstOffset != 0 || time.Since(start) > 10*time.Second {
		t.Fatalf("append through a silent leader: %+v %v after %v", res, err, time.Since(start))
	}
	if got := fc.Records("s/0"); len(got) != 1 {
		t.Fatalf("log %v", got)
	}
}

// A reader on a sealed segment whose replica goes silent moves to another
// replica instead of waiting on it.
func TestReaderLeavesASilentReplica(t *testing.T) {
	fc := newFake(t, 2)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	produceAll(t, p, 0, 4, 5, 10*time.Second)
	fc.Roll("s/0", 2)
	fc.SetReadHang(1, true) // the sealed segment's leader stops answering reads
	r, _ := c.NewReader("s", 0, ReaderOptions{Start: Earliest()})
	defer r.Close()
	start := time.Now()
	got := readUntilCaughtUp(t, r)
	if len(got) != 20 || time.Since(start) > 10*time.Second {
		t.Fatalf("read %d records in %v", len(got), time.Since(start))
	}
}

// Appends queued behind a full window are merged into one batch before it
// is first sent; each append still gets the offsets of its own records,
// also when a lost answer makes the merged batch a duplicate on resend.
func TestQueuedAppendsMergeIntoOneBatch(t *testing.T) {
	fc := newFake(t, 3)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	var mu sync.Mutex
	requests, sent := 0, 0
	fc.SetAppendHook(func(_ uint64, req *journalpb.AppendRequest) streamtest.Fault {
		h, err := recordbatch.DecodeHeader(req.GetBatch())
		if err != nil {
			t.Errorf("undecodable batch: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		requests++
		sent += int(h.Count)
		return streamtest.Fault{DropAfter: requests%5 == 2}
	})
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{MaxInFlight: 1, MaxQueued: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	const appends, size = 300, 3
	outs := produceAll(t, p, 0, appends, size, 20*time.Second)
	checkExactlyOnce(t, fc, "s/0", outs, size)
	dups := 0
	for i, o := range outs {
		if !o.res.OffsetsKnown || o.res.NextOffset-o.res.FirstOffset != size {
			t.Fatalf("append %d: %+v", i, o.res)
		}
		if o.res.Duplicate {
			dups++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// Every request carries whole appends; fewer requests than appends
	// (resends included) means appends were merged.
	if requests >= appends || sent%size != 0 {
		t.Fatalf("%d requests carried %d records for %d appends: nothing merged", requests, sent, appends)
	}
	if dups == 0 {
		t.Fatal("no merged batch was answered as a duplicate; the fault did not hit")
	}
	t.Logf("%d appends in %d requests, %d appends answered as duplicates", appends, requests, dups)
}

// TestAnsweredCallersJoinTheNextBatch: callers that append again as soon
// as they are answered (each waits for its append, as a Kafka or MQTT
// client with one message in flight does) all go in the next batch, not
// half of them in one batch and half in the next. With 16 such callers and
// one request in flight that used to be two batches of 8 per round.
func TestAnsweredCallersJoinTheNextBatch(t *testing.T) {
	fc := newFake(t, 3)
	c := newClient(t, fc, Options{})
	mustCreate(t, c, "s", 1)
	var mu sync.Mutex
	requests := 0
	var sizes []int
	fc.SetAppendHook(func(_ uint64, req *journalpb.AppendRequest) streamtest.Fault {
		h, _ := recordbatch.DecodeHeader(req.GetBatch())
		mu.Lock()
		requests++
		sizes = append(sizes, int(h.Count))
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // a replicated fsync's round trip
		return streamtest.Fault{}
	})
	p, err := c.NewProducer(bg(t), "s", ProducerOptions{MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg(t))
	const callers, rounds = 16, 30
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if _, err := p.Append(bg(t), 0, recs(0, 1)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// One batch per round is rounds requests; a few more while the callers
	// start. Batches of 8 and 8 would be 2 * rounds.
	if requests > rounds*5/4 {
		t.Fatalf("%d callers appending %d times each took %d requests, want at most %d; records per request: %v", callers, rounds, requests, rounds*5/4, sizes)
	}
	t.Logf("%d appends in %d requests: %v", callers*rounds, requests, sizes)
}
