package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIntegrationKafkaFranz: kadm creates a topic; an idempotent kgo
// producer writes through broker 0 with each compression codec; a kgo
// consumer reads through broker 1 and gets every record once, in order.
func TestIntegrationKafkaFranz(t *testing.T) {
	c := startCluster(t, 2)
	ctx := ctxFor(t, 90*time.Second)
	tp := topic("franz")
	adm := kadm.NewClient(kgoClient(t, []string{c.kafka(0)}))
	resp, err := adm.CreateTopics(ctx, 3, 1, nil, tp)
	if err != nil || resp[tp].Err != nil {
		t.Fatalf("create topic: %v %v", err, resp[tp].Err)
	}
	md, err := adm.Metadata(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 2 || len(md.Topics[tp].Partitions) != 3 {
		t.Fatalf("metadata: %d brokers, topic %+v", len(md.Brokers), md.Topics[tp])
	}

	var sent []string
	for i, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		prod := kgoClient(t, []string{c.kafka(0)}, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(tp),
			kgo.RequiredAcks(kgo.AllISRAcks()))
		for j := 0; j < 40; j++ {
			v := fmt.Sprintf("codec%d-%03d", i, j)
			sent = append(sent, v)
			prod.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(j % 7)), Value: []byte(v),
				Headers: []kgo.RecordHeader{{Key: "codec", Value: []byte(fmt.Sprint(i))}}}, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce %s: %v", r.Value, err)
				}
			})
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	cons := kgoClient(t, []string{c.kafka(1)}, kgo.ConsumeTopics(tp), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []record
	for len(got) < len(sent) && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		for _, e := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Headers) != 1 || r.Headers[0].Key != "codec" {
				t.Errorf("headers %v", r.Headers)
			}
			got = append(got, record{partition: r.Partition, offset: r.Offset, key: string(r.Key), value: string(r.Value)})
		})
	}
	checkInOrder(t, sent, got)

	// ListOffsets: earliest 0, latest = the records of the partition.
	ends, err := adm.ListEndOffsets(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	starts, err := adm.ListStartOffsets(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset %d: %v", o.Partition, o.Err)
		}
		total += o.Offset
	})
	starts.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset != 0 {
			t.Fatalf("start offset %d: %d %v", o.Partition, o.Offset, o.Err)
		}
	})
	if total != int64(len(sent)) {
		t.Fatalf("end offsets add up to %d, sent %d", total, len(sent))
	}
}
