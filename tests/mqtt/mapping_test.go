package mqtt

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/robustmq/robustmq-go/common/streamclient"
	"github.com/robustmq/robustmq-go/tests/harness"
)

// A mapping rule sends MQTT publishes whose topic matches its filter to a
// stream too: the record key is the MQTT topic, the value the payload, the
// MQTT 5 properties headers; one topic keeps its order.
func TestIntegrationMQTTMappedToStream(t *testing.T) {
	c := startCluster(t, 1)
	addrs := c.placement.Addrs()
	// A mapping to a stream that does not exist is refused.
	if r := harness.RunRobustctl(context.Background(), harness.BinDir(t), addrs, "mapping", "add", "sensors", "--mqtt", "sensors/#",
		"--stream", "sensors"); r.Err == nil {
		t.Fatalf("mapping to a missing stream accepted: %s", r.Stdout)
	}
	harness.Robustctl(t, addrs, "stream", "create", "sensors", "--partitions", "2")
	harness.Robustctl(t, addrs, "mapping", "add", "sensors", "--mqtt", "sensors/#", "--stream", "sensors")
	if out := harness.Robustctl(t, addrs, "mapping", "list"); !strings.Contains(out, "sensors/#") {
		t.Fatalf("mapping list:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	pub := connect5(t, c.brokers.Broker(0).MQTT, &paho.Connect{ClientID: "map-pub", CleanStart: true, KeepAlive: 30})
	// The broker learns the mapping through its watch: publish until a
	// record shows up, then the real messages.
	sc := streamclient.New(c.placement.Client(), streamclient.Options{})
	defer sc.Close()
	const n = 20
	for i := range n {
		if _, err := pub.Publish(ctxT(t), &paho.Publish{Topic: "sensors/t1", QoS: 1, Payload: []byte(fmt.Sprint("v", i)),
			Properties: &paho.PublishProperties{ContentType: "text/plain", User: paho.UserProperties{{Key: "unit", Value: "C"}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := pub.Publish(ctxT(t), &paho.Publish{Topic: "other/t1", QoS: 1, Payload: []byte("not mapped")}); err != nil {
			t.Fatal(err)
		}
	}
	// Every record of the topic, in order, in one partition.
	var recs []streamclient.Message
	for p := range 2 {
		r, err := sc.NewReader("sensors", p, streamclient.ReaderOptions{Start: streamclient.Earliest()})
		if err != nil {
			t.Fatal(err)
		}
		for {
			ms, err := r.Next(ctx)
			if err != nil {
				break // caught up
			}
			recs = append(recs, ms...)
		}
		r.Close()
	}
	if len(recs) == 0 {
		t.Fatal("no records in the mapped stream")
	}
	// The first publishes may have gone before the broker saw the mapping;
	// from the first record on, the sequence is complete and ordered.
	var first int
	if _, err := fmt.Sscanf(string(recs[0].Value), "v%d", &first); err != nil {
		t.Fatalf("record %q", recs[0].Value)
	}
	if len(recs) != n-first {
		t.Fatalf("%d records from v%d on, want %d", len(recs), first, n-first)
	}
	for i, r := range recs {
		if string(r.Key) != "sensors/t1" || string(r.Value) != fmt.Sprint("v", first+i) {
			t.Fatalf("record %d: key %q value %q", i, r.Key, r.Value)
		}
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["unit"] != "C" || h["mqtt-content-type"] != "text/plain" || h["mqtt-qos"] != "1" {
			t.Fatalf("record %d headers %v", i, h)
		}
	}
	t.Logf("%d records, from v%d on", len(recs), first)
}
