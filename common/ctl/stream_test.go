package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/robustmq/robustmq-go/common/recordbatch"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/common/streamclient/streamtest"
	"github.com/robustmq/robustmq-go/proto/gen/journalpb"
)

// lastJSONLine decodes the last line of out into v and checks it is the
// only JSON line.
func lastJSONLine(t *testing.T, out string, v any) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	dec := json.NewDecoder(strings.NewReader(last))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("last line %q: %v\n%s", last, err, out)
	}
	for _, l := range lines[:len(lines)-1] {
		if strings.HasPrefix(strings.TrimSpace(l), "{") {
			t.Fatalf("more than one JSON line:\n%s", out)
		}
	}
}

func TestStreamCommands(t *testing.T) {
	fc := streamtest.NewCluster(t, 3)
	addr := fc.Center()

	r := runAt(t, addr, "stream", "create", "s1", "--partitions", "2", "--replicas", "1", "--segment-max-bytes", "1048576")
	mustSucceed(t, r)
	lines := tableLines(r.out)
	if want := strings.Fields("stream default/s1 partitions 2 replicas 1 ack-quorum 1 segment.max_bytes 1048576"); !slices.Equal(lines[0], want) {
		t.Fatalf("create header %q", lines[0])
	}
	if want := []string{"PARTITION", "SEQ", "STATUS", "REPLICAS", "LEADER", "EPOCH", "START", "END", "LAC", "LOG-END"}; !slices.Equal(lines[2], want) || len(lines) != 5 {
		t.Fatalf("create table:\n%s", r.out)
	}

	r = runAt(t, addr, "stream", "create", "s1", "--partitions", "2")
	if r.code != 1 || !strings.Contains(r.errOut, "already exists") {
		t.Fatalf("second create: exit %d stderr %q", r.code, r.errOut)
	}
	r = runAt(t, addr, "stream", "create", "bad/name")
	if r.code != 1 || !strings.Contains(r.errOut, "invalid argument: stream") {
		t.Fatalf("bad name: exit %d stderr %q", r.code, r.errOut)
	}

	// Write 5 records to partition 1 so describe shows the journal's LAC.
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc := streamclient.New(cc, streamclient.Options{})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := sc.NewProducer(ctx, "s1", streamclient.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(ctx, 1, make([]recordbatch.Record, 5)); err != nil {
		t.Fatal(err)
	}
	_ = p.Close(ctx)
	fc.Roll("s1/1", 2)

	r = runAt(t, addr, "stream", "describe", "s1")
	mustSucceed(t, r)
	lines = tableLines(r.out)
	want := [][]string{
		{"0", "0", "open", "1", "1", "1", "0", "-", "0", "0"},
		{"1", "0", "sealed", "2", "2", "1", "0", "5", "5", "5"},
		{"1", "1", "open", "2", "2", "2", "5", "-", "5", "5"},
	}
	if !slices.EqualFunc(lines[3:], want, slices.Equal) {
		t.Fatalf("describe table:\n%s\nwant rows %q", r.out, want)
	}

	r = runAt(t, addr, "stream", "describe", "s1", "-o", "json")
	mustSucceed(t, r)
	var v streamView
	oneJSON(t, r.out, &v)
	if v.Name != "s1" || v.Partitions != 2 || len(v.Parts) != 2 || len(v.Parts[1].Segments) != 2 ||
		*v.Parts[1].Segments[0].EndOffset != 5 || *v.Parts[1].Segments[1].LAC != 5 || v.Parts[1].ActiveSegment != 1 {
		t.Fatalf("describe json:\n%s", r.out)
	}

	mustSucceed(t, runAt(t, addr, "stream", "create", "s2", "--partitions", "1"))
	r = runAt(t, addr, "stream", "list")
	mustSucceed(t, r)
	if want := [][]string{{"NAME", "PARTITIONS", "REPLICAS", "ACK-QUORUM"}, {"s1", "2", "1", "1"}, {"s2", "1", "3", "2"}}; !slices.EqualFunc(tableLines(r.out), want, slices.Equal) {
		t.Fatalf("list:\n%s", r.out)
	}
	r = runAt(t, addr, "stream", "list", "-o", "json")
	mustSucceed(t, r)
	var rows []map[string]any
	oneJSON(t, r.out, &rows)
	if len(rows) != 2 || rows[0]["name"] != "s1" || rows[0]["partitions"] != float64(2) {
		t.Fatalf("list json:\n%s", r.out)
	}

	r = runAt(t, addr, "stream", "delete", "s1")
	mustSucceed(t, r)
	if r.out != "deleted stream s1 (2 partitions)\n" {
		t.Fatalf("delete printed %q", r.out)
	}
	r = runAt(t, addr, "stream", "describe", "s1")
	if r.code != 1 || !strings.Contains(r.errOut, `not found: stream "default/s1"`) {
		t.Fatalf("describe deleted: exit %d stderr %q", r.code, r.errOut)
	}
	r = runAt(t, addr, "stream", "list", "--tenant", "acme", "-o", "json")
	if mustSucceed(t, r); r.out != "[]\n" {
		t.Fatalf("empty list %q", r.out)
	}
}

func TestBenchProduceThenConsumeVerifies(t *testing.T) {
	fc := streamtest.NewCluster(t, 3)
	addr := fc.Center()
	mustSucceed(t, runAt(t, addr, "stream", "create", "s1", "--partitions", "3", "--replicas", "3"))
	// Every 5th append loses its acknowledgement: the resends must be
	// answered as duplicates and nothing written twice.
	n := 0
	fc.SetAppendHook(func(uint64, *journalpb.AppendRequest) streamtest.Fault {
		n++
		return streamtest.Fault{DropAfter: n%5 == 2}
	})

	r := runAt(t, addr, "bench", "produce", "--stream", "s1", "--count", "2000", "--size", "40", "--batch", "37", "--concurrency", "2", "--verifiable")
	mustSucceed(t, r)
	var ps produceSummary
	lastJSONLine(t, r.out, &ps)
	if ps.Acked != 2000 || ps.Failed != 0 || ps.RecordsPerSec <= 0 || ps.P99Ms < ps.P50Ms {
		t.Fatalf("produce summary %+v", ps)
	}
	total := 0
	for i := 0; i < 3; i++ {
		recs := fc.Records(fmt.Sprintf("s1/%d", i))
		total += len(recs)
		for _, rec := range recs {
			if len(rec.Value) != 40 || !strings.HasPrefix(string(rec.Value), "seq=") {
				t.Fatalf("value %q", rec.Value)
			}
		}
	}
	if total != 2000 {
		t.Fatalf("%d records stored, want 2000", total)
	}

	r = runAt(t, addr, "bench", "consume", "--stream", "s1", "--verify", "--expect", "2000", "-o", "json")
	mustSucceed(t, r)
	var cs consumeSummary
	lastJSONLine(t, r.out, &cs)
	if cs.Read != 2000 || cs.Missing != 0 || cs.Duplicates != 0 {
		t.Fatalf("consume summary %+v", cs)
	}
	if strings.Count(r.out, "\n") != 1 {
		t.Fatalf("-o json printed more than the JSON line:\n%s", r.out)
	}

	// Expecting more than was written: missing counted, exit 1 at the
	// timeout.
	r = runAt(t, addr, "bench", "consume", "--stream", "s1", "--verify", "--expect", "2005", "--timeout", "1s")
	lastJSONLine(t, r.out, &cs)
	if r.code != 1 || cs.Missing != 5 || cs.Read != 2000 || !strings.Contains(r.errOut, "5 records missing (first: [2000 2001 2002 2003 2004])") {
		t.Fatalf("short consume: exit %d %+v stderr %q", r.code, cs, r.errOut)
	}
}

func TestBenchConsumeCountsDuplicates(t *testing.T) {
	fc := streamtest.NewCluster(t, 1)
	addr := fc.Center()
	mustSucceed(t, runAt(t, addr, "stream", "create", "d", "--partitions", "2", "--replicas", "1"))
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc := streamclient.New(cc, streamclient.Options{})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := sc.NewProducer(ctx, "d", streamclient.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 0..9 across both partitions, 3 and 8 twice, then a foreign value.
	for i, seq := range []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 8} {
		if _, err := p.Append(ctx, i%2, []recordbatch.Record{{Value: seqValue(seq, 10)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Append(ctx, 0, []recordbatch.Record{{Value: []byte("hello")}}); err != nil {
		t.Fatal(err)
	}
	_ = p.Close(ctx)

	r := runAt(t, addr, "bench", "consume", "--stream", "d", "--verify", "--expect", "10")
	var cs consumeSummary
	lastJSONLine(t, r.out, &cs)
	if r.code != 1 || cs.Read != 13 || cs.Missing != 0 || cs.Duplicates != 2 || !strings.Contains(r.errOut, "2 duplicates") ||
		!strings.Contains(r.errOut, "1 values are not seq=<n>") {
		t.Fatalf("exit %d %+v stderr %q", r.code, cs, r.errOut)
	}
	// Without --verify only the count matters.
	r = runAt(t, addr, "bench", "consume", "--stream", "d", "--expect", "13")
	mustSucceed(t, r)
}

func TestBenchProduceFlags(t *testing.T) {
	fc := streamtest.NewCluster(t, 2)
	addr := fc.Center()
	mustSucceed(t, runAt(t, addr, "stream", "create", "p", "--partitions", "3", "--replicas", "1"))
	// "--partitions 1" (bare flag then a count) writes the first partition only.
	r := runAt(t, addr, "bench", "produce", "--stream", "p", "--count", "50", "--size", "8", "--partitions", "1", "--batch", "10")
	mustSucceed(t, r)
	if a, b := len(fc.Records("p/0")), len(fc.Records("p/1")); a != 50 || b != 0 {
		t.Fatalf("partition 0 got %d, partition 1 got %d", a, b)
	}
	r = runAt(t, addr, "bench", "produce", "--stream", "p", "--count", "30", "--size", "8", "--partitions", "--batch", "10")
	mustSucceed(t, r)
	if a, b, c := len(fc.Records("p/0")), len(fc.Records("p/1")), len(fc.Records("p/2")); a != 60 || b != 10 || c != 10 {
		t.Fatalf("bare --partitions: %d %d %d", a, b, c)
	}
	for _, args := range [][]string{
		{"bench", "produce", "--count", "1"},
		{"bench", "produce", "--stream", "p", "--count", "0"},
		{"bench", "produce", "--stream", "p", "--concurrency", "0"},
		{"bench", "produce", "--stream", "p", "extra"},
		{"bench", "consume", "--stream", "p"},
		{"bench", "produce", "--stream", "nope"},
	} {
		if r := runAt(t, addr, args...); r.code != 1 || r.errOut == "" {
			t.Fatalf("%q: exit %d stderr %q", args, r.code, r.errOut)
		}
	}

	// With every journal node down, batches fail at their deadline: the
	// JSON line is still printed and the exit code is 1.
	fc.SetDown(1, true)
	fc.SetDown(2, true)
	r = runAt(t, addr, "bench", "produce", "--stream", "p", "--count", "20", "--batch", "10", "--deadline", "300ms", "-o", "json")
	var ps produceSummary
	lastJSONLine(t, r.out, &ps)
	if r.code != 1 || ps.Acked != 0 || ps.Failed != 20 || !strings.Contains(r.errOut, "20 of 20 records failed") {
		t.Fatalf("exit %d %+v stderr %q", r.code, ps, r.errOut)
	}
}

func TestSeqValues(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		size int
		want string
	}{{0, 10, "seq=0....."}, {123, 3, "seq=123"}, {42, 0, "seq=42"}} {
		v := seqValue(tc.n, tc.size)
		if string(v) != tc.want {
			t.Fatalf("seqValue(%d, %d) = %q", tc.n, tc.size, v)
		}
		if got, ok := parseSeq(v); !ok || got != tc.n {
			t.Fatalf("parseSeq(%q) = %d %v", v, got, ok)
		}
	}
	for _, bad := range []string{"", "seq=", "seq=x", "seq=12x", "seq=-1", "SEQ=1", "seq=99999999999999999999999"} {
		if _, ok := parseSeq([]byte(bad)); ok {
			t.Fatalf("parseSeq(%q) accepted", bad)
		}
	}
}

func TestVerifierAccounting(t *testing.T) {
	v := newVerifier(5, true)
	for _, s := range []string{"seq=0", "seq=1", "seq=1", "seq=9", "seq=9", "junk", "seq=4"} {
		if v.add([]byte(s)) {
			t.Fatalf("done early at %q", s)
		}
	}
	if got := v.firstMissing(10); !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("missing %v", got)
	}
	v.add([]byte("seq=2"))
	if !v.add([]byte("seq=3")) {
		t.Fatal("not done with every number seen")
	}
	s := v.summary(time.Second)
	if s != (consumeSummary{Read: 9, Missing: 0, Duplicates: 2, RecordsPerSec: 9}) || v.invalid != 1 {
		t.Fatalf("summary %+v invalid %d", s, v.invalid)
	}

	c := newVerifier(3, false)
	c.add([]byte("a"))
	c.add([]byte("a"))
	if c.done() || c.summary(0).Missing != 1 || !c.add(nil) {
		t.Fatalf("count mode %+v", c.summary(0))
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p50, p99 := percentile(d, 50), percentile(d, 99); p50 != 50 || p99 != 99 {
		t.Fatalf("p50 %v p99 %v", p50, p99)
	}
	if percentile(nil, 50) != 0 || percentile(d[:1], 99) != 1 {
		t.Fatal("edge cases")
	}
}

func TestStreamAndBenchCommandsExist(t *testing.T) {
	root := newRoot(&env{out: io.Discard, errOut: io.Discard}, DefaultPlacement)
	for _, path := range [][]string{
		{"stream", "create"}, {"stream", "describe"}, {"stream", "list"}, {"stream", "delete"},
		{"bench", "produce"}, {"bench", "consume"},
	} {
		c, _, err := root.Find(path)
		if err != nil || c.Name() != path[len(path)-1] {
			t.Fatalf("command %q not found (%v)", path, err)
		}
		if c.Flags().Lookup("tenant") == nil || strings.TrimSpace(c.Example) == "" {
			t.Fatalf("%q lacks --tenant or an example", path)
		}
	}
	produce, _, _ := root.Find([]string{"bench", "produce"})
	for _, f := range []string{"stream", "count", "size", "concurrency", "partitions", "verifiable", "batch", "window", "deadline"} {
		if produce.Flags().Lookup(f) == nil {
			t.Fatalf("bench produce has no --%s", f)
		}
	}
	consume, _, _ := root.Find([]string{"bench", "consume"})
	for _, f := range []string{"stream", "verify", "expect", "timeout"} {
		if consume.Flags().Lookup(f) == nil && consume.InheritedFlags().Lookup(f) == nil {
			t.Fatalf("bench consume has no --%s", f)
		}
	}
}
