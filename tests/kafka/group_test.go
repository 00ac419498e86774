package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/robustmq/robustmq-go/tests/harness"
)

func produceKgo(t *testing.T, ctx context.Context, seed, tp string, values []string) {
	t.Helper()
	prod := kgoClient(t, []string{seed}, kgo.DefaultProduceTopic(tp))
	for i, v := range values {
		prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 11)), Value: []byte(v)}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

// waitGroupStable waits until the group is Stable with n members that
// all have partitions.
func waitGroupStable(t *testing.T, ctx context.Context, adm *kadm.Client, grp string, n int) {
	t.Helper()
	for ctx.Err() == nil {
		ds, err := adm.DescribeGroups(ctx, grp)
		if err == nil {
			d := ds[grp]
			assigned := 0
			for _, m := range d.Members {
				if ca, ok := m.Assigned.AsConsumer(); ok && len(ca.Topics) > 0 {
					assigned++
				}
			}
			if d.Err == nil && d.State == "Stable" && len(d.Members) == n && assigned == n {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s never became stable with %d members", grp, n)
}

// TestIntegrationKafkaGroups: two kgo group members (one per broker) with
// the cooperative-sticky and the range balancer share a 4-partition topic;
// every record arrives exactly once, in order per partition; kadm lists
// and describes the group and its committed offsets.
func TestIntegrationKafkaGroups(t *testing.T) {
	c := startCluster(t, 2)
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{{"cooperative-sticky", kgo.CooperativeStickyBalancer()}, {"range", kgo.RangeBalancer()}} {
		t.Run(bal.name, func(t *testing.T) {
			ctx := ctxFor(t, 60*time.Second)
			tp := topic("grp-" + bal.name)
			adm := kadm.NewClient(kgoClient(t, c.bc.KafkaAddrs()))
			if r, err := adm.CreateTopics(ctx, 4, -1, nil, tp); err != nil || r[tp].Err != nil {
				t.Fatalf("create: %v %v", err, r[tp].Err)
			}
			grp := "g-" + tp
			var mu sync.Mutex
			var got []record
			var wg sync.WaitGroup
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			sent := values(bal.name, 200)
			for i := 0; i < 2; i++ {
				cl := kgoClient(t, []string{c.kafka(i)}, kgo.ConsumerGroup(grp), kgo.ConsumeTopics(tp), kgo.Balancers(bal.b),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(200*time.Millisecond))
				wg.Add(1)
				go func() {
					defer wg.Done()
					for cctx.Err() == nil {
						fs := cl.PollFetches(cctx)
						fs.EachRecord(func(r *kgo.Record) {
							mu.Lock()
							got = append(got, record{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
							mu.Unlock()
						})
					}
				}()
			}
			waitGroupStable(t, ctx, adm, grp, 2)
			produceKgo(t, ctx, c.kafka(1), tp, sent)
			for ctx.Err() == nil {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n >= len(sent) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // a duplicate would show up here
			mu.Lock()
			checkInOrder(t, sent, got)
			mu.Unlock()

			// The group's commits reach the end of every partition.
			var total int64
			for ctx.Err() == nil {
				total = 0
				offs, err := adm.FetchOffsets(ctx, grp)
				if err == nil {
					offs.Each(func(o kadm.OffsetResponse) { total += o.At })
				}
				if total == int64(len(sent)) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if total != int64(len(sent)) {
				t.Fatalf("committed offsets add up to %d, want %d", total, len(sent))
			}
			ls, err := adm.ListGroups(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := ls[grp]; !ok {
				t.Fatalf("ListGroups misses %s: %v", grp, ls.Groups())
			}
			cancel()
			wg.Wait()
		})
	}
}

// TestIntegrationKafkaCommitSurvivesRestart: a group commits part of a
// topic, every broker restarts, and a new member of the group resumes
// from the committed offsets (nothing before them, nothing lost).
func TestIntegrationKafkaCommitSurvivesRestart(t *testing.T) {
	c := startCluster(t, 2)
	ctx := ctxFor(t, 90*time.Second)
	tp := topic("restart")
	adm := kadm.NewClient(kgoClient(t, c.bc.KafkaAddrs()))
	if r, err := adm.CreateTopics(ctx, 2, -1, nil, tp); err != nil || r[tp].Err != nil {
		t.Fatalf("create: %v %v", err, r[tp].Err)
	}
	sent := values("r", 100)
	produceKgo(t, ctx, c.kafka(0), tp, sent)
	grp := "g-" + tp

	// First member: read 60 records, commit exactly those, leave.
	first := kgoClient(t, []string{c.kafka(0)}, kgo.ConsumerGroup(grp), kgo.ConsumeTopics(tp),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	var read []*kgo.Record
	for len(read) < 60 && ctx.Err() == nil {
		fs := first.PollRecords(ctx, 60-len(read))
		read = append(read, fs.Records()...)
	}
	if err := first.CommitRecords(ctx, read...); err != nil {
		t.Fatalf("commit: %v", err)
	}
	first.Close()
	done := map[string]bool{}
	for _, r := range read {
		done[string(r.Value)] = true
	}

	for _, n := range c.bc.Brokers() {
		if err := n.Stop(); err != nil {
			t.Fatalf("stop broker %d: %v", n.Index, err)
		}
	}
	for _, n := range c.bc.Brokers() {
		n.Restart()
	}

	second := kgoClient(t, []string{c.kafka(1)}, kgo.ConsumerGroup(grp), kgo.ConsumeTopics(tp),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	var rest []record
	var want []string
	for _, v := range sent {
		if !done[v] {
			want = append(want, v)
		}
	}
	for len(rest) < len(want) && ctx.Err() == nil {
		fs := second.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if done[string(r.Value)] {
				t.Fatalf("record %s was committed before the restart but delivered again", r.Value)
			}
			rest = append(rest, record{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
		})
	}
	checkInOrder(t, want, rest)
}

// TestIntegrationKafkaListOffsetsByTime: earliest, latest and by
// timestamp (the first record at or after it; -1 past the last one).
func TestIntegrationKafkaListOffsetsByTime(t *testing.T) {
	c := startCluster(t, 1)
	ctx := ctxFor(t, 60*time.Second)
	tp := topic("ts")
	cl := kgoClient(t, []string{c.kafka(0)}, kgo.DefaultProduceTopic(tp), kgo.AllowAutoTopicCreation())
	base := time.Now().Add(-time.Hour).UnixMilli()
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: time.UnixMilli(base + int64(i)*1000)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	check := func(what string, l kadm.ListedOffsets, err error, want int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		o, ok := l.Lookup(tp, 0)
		if !ok || o.Err != nil || o.Offset != want {
			t.Fatalf("%s: %+v, want offset %d", what, o, want)
		}
	}
	l, err := adm.ListStartOffsets(ctx, tp)
	check("earliest", l, err, 0)
	l, err = adm.ListEndOffsets(ctx, tp)
	check("latest", l, err, 10)
	l, err = adm.ListOffsetsAfterMilli(ctx, base+3500, tp)
	check("after 3.5s", l, err, 4)
	l, err = adm.ListOffsetsAfterMilli(ctx, base, tp)
	check("at the first", l, err, 0)
	// Past the last record: Kafka answers -1, which kadm reports as the
	// end offset.
	l, err = adm.ListOffsetsAfterMilli(ctx, base+60_000, tp)
	check("past the last", l, err, 10)
}

// TestIntegrationKafkaBrokerKilledDuringGroup: two group members consume
// a 4-partition topic through two brokers; one broker is killed -9 half
// way. Its partitions and the group move to the survivor (after the
// placement lease drops the dead broker), the members rejoin there, and
// every record is consumed (at least once: records after the last commit
// of the dead generation may come twice, none is lost).
func TestIntegrationKafkaBrokerKilledDuringGroup(t *testing.T) {
	pc := harness.StartPlacement(t, harness.PlacementOptions{Members: 1, Lease: 2 * time.Second})
	harness.StartJournal(t, harness.JournalOptions{Placement: pc.Addrs(), Nodes: 2})
	bc := harness.StartBroker(t, harness.BrokerOptions{Placement: pc.Addrs(), Brokers: 2,
		Env: []string{"ROBUSTMQ_BROKER_KAFKA_GROUP_INITIAL_REBALANCE_DELAY=300ms"}})
	ctx := ctxFor(t, 120*time.Second)
	tp := topic("kill")
	adm := kadm.NewClient(kgoClient(t, []string{bc.Broker(0).Kafka}))
	if r, err := adm.CreateTopics(ctx, 4, -1, nil, tp); err != nil || r[tp].Err != nil {
		t.Fatalf("create: %v %v", err, r[tp].Err)
	}
	sent := values("k", 400)
	produceKgo(t, ctx, bc.Broker(0).Kafka, tp, sent)

	grp := "g-" + tp
	var mu sync.Mutex
	seen := map[string]int{}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		cl := kgoClient(t, bc.KafkaAddrs(), kgo.ConsumerGroup(grp), kgo.ConsumeTopics(tp),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100*time.Millisecond),
			kgo.FetchMaxPartitionBytes(2000), kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cctx.Err() == nil {
				fs := cl.PollRecords(cctx, 20)
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)]++
					mu.Unlock()
				})
				time.Sleep(20 * time.Millisecond) // consume slowly so the kill lands half way
			}
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	for count() < len(sent)/4 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	bc.Broker(1).Kill9()
	t.Logf("broker 1 killed after %d of %d records", count(), len(sent))
	for count() < len(sent) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, v := range sent {
		if seen[v] == 0 {
			t.Fatalf("record %s never consumed (%d of %d seen)", v, len(seen), len(sent))
		}
	}
}
