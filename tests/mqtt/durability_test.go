package mqtt

import (
	"context"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

// QoS 1 messages acknowledged to the publisher survive kill -9 of the
// journal node leading their log partition: a persistent subscriber on the
// other broker receives every one of them.
func TestIntegrationMQTTKillJournalLeader(t *testing.T) {
	pc := harness.StartPlacement(t, harness.PlacementOptions{Members: 1})
	jc := harness.StartJournal(t, harness.JournalOptions{Nodes: 3, Placement: pc.Addrs()})
	bc := harness.StartBroker(t, harness.BrokerOptions{Brokers: 2, Placement: pc.Addrs()})
	const topic, n, killAt = "dur/x", 300, 100

	s := newSink()
	sub := connect3(t, "tcp://"+bc.Broker(1).MQTT, "dur-sub", false, s, nil)
	tok(t, sub.Subscribe("dur/#", 1, nil))
	pub := connect3(t, "tcp://"+bc.Broker(0).MQTT, "dur-pub", true, nil, nil)

	// The partition of the topic (FNV-1a of the topic, as the broker's
	// partitioner) and the leader of its active segment.
	h := fnv.New32a()
	h.Write([]byte(topic))
	part := h.Sum32() % 4
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := jc.Placement().GetShard(ctx, &placementpb.GetShardRequest{Tenant: "default", Name: fmt.Sprintf("mqtt-messages/%d", part)})
	if err != nil {
		t.Fatal(err)
	}
	var leader uint64
	for _, seg := range resp.GetSegments() {
		if seg.GetSeq() == resp.GetShard().GetActiveSegment() {
			leader = seg.GetLeader()
		}
	}
	if jc.Node(leader) == nil {
		t.Fatalf("no leader for partition %d: %v", part, resp)
	}

	var stall time.Duration
	for i := range n {
		if i == killAt {
			jc.Node(leader).Kill9()
		}
		start := time.Now()
		tok(t, pub.Publish(topic, 1, false, fmt.Sprintf("d-%d", i)))
		stall = max(stall, time.Since(start))
	}
	got := s.collect(n, 30*time.Second)
	if miss := missing(got, "d", n); len(miss) > 0 {
		t.Fatalf("lost %d of %d acknowledged messages: %v", len(miss), n, miss)
	}
	dups := 0
	for _, k := range got {
		dups += k - 1
	}
	t.Logf("killed journal node %d (leader of partition %d) after %d publishes; longest PUBACK wait %v; %d of %d received, %d twice",
		leader, part, killAt, stall.Round(time.Millisecond), len(got), n, dups)
}
