// Package kafka holds the end-to-end tests of the broker's Kafka listener:
// real placement center, journal nodes and brokers, driven by real Kafka
// clients (franz-go, segmentio/kafka-go, IBM/sarama, kcat).
package kafka

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// cluster is one placement member, two journal nodes and brokers.
type cluster struct {
	pc *harness.PlacementCluster
	jc *harness.JournalCluster
	bc *harness.BrokerCluster
}

func startCluster(t *testing.T, brokers int, env ...string) *cluster {
	t.Helper()
	began := time.Now()
	pc := harness.StartPlacement(t, harness.PlacementOptions{Members: 1})
	jc := harness.StartJournal(t, harness.JournalOptions{Placement: pc.Addrs(), Nodes: 2})
	env = append([]string{"ROBUSTMQ_BROKER_KAFKA_GROUP_INITIAL_REBALANCE_DELAY=300ms"}, env...)
	bc := harness.StartBroker(t, harness.BrokerOptions{Placement: pc.Addrs(), Brokers: brokers, Env: env})
	t.Logf("cluster: 1 placement member, 2 journal nodes, %d brokers (start %s)", brokers, time.Since(began).Round(time.Millisecond))
	return &cluster{pc: pc, jc: jc, bc: bc}
}

func (c *cluster) kafka(i int) string { return c.bc.Broker(i).Kafka }

var topicSeq atomic.Int64

// topic names a fresh topic for one test.
func topic(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", strings.ToLower(prefix), time.Now().UnixNano()%1e6, topicSeq.Add(1))
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// kgoClient is a franz-go client with the test's defaults.
func kgoClient(t *testing.T, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RetryTimeout(30 * time.Second)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// want is the expected records: value per partition, in order.
type record struct {
	partition int32
	offset    int64
	key       string
	value     string
}

// checkInOrder: every value of sent arrives exactly once and, within a
// partition, in the order sent (offsets increasing).
func checkInOrder(t *testing.T, sent []string, got []record) {
	t.Helper()
	seen := map[string]int{}
	last := map[int32]int64{}
	lastIdx := map[int32]int{}
	index := map[string]int{}
	for i, v := range sent {
		index[v] = i
	}
	for _, r := range got {
		seen[r.value]++
		if o, ok := last[r.partition]; ok && r.offset <= o {
			t.Fatalf("partition %d: offset %d after %d", r.partition, r.offset, o)
		}
		last[r.partition] = r.offset
		if i, ok := lastIdx[r.partition]; ok && index[r.value] < i {
			t.Fatalf("partition %d: %q arrived after a later record", r.partition, r.value)
		}
		lastIdx[r.partition] = index[r.value]
	}
	for _, v := range sent {
		if seen[v] != 1 {
			t.Fatalf("value %q arrived %d times", v, seen[v])
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("got %d records, sent %d", len(got), len(sent))
	}
}

// pollRecords polls cl until it returned n records or ctx ended; a fetch
// error fails the test with what.
func pollRecords(ctx context.Context, t *testing.T, cl *kgo.Client, n int, what string) []record {
	t.Helper()
	var got []record
	for len(got) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for _, e := range fs.Errors() {
			t.Fatalf("%s: fetch %s/%d: %v", what, e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, record{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
		})
	}
	return got
}
