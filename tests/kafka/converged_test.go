package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// One stream, many protocols (issue 5): with `robustctl mapping add sensors
// --mqtt 'sensors/#' --stream sensors`, mosquitto_pub to sensors/a/temp on
// one broker is a record of the Kafka topic sensors (key: the MQTT topic,
// headers: the MQTT properties) for a franz-go consumer on the other broker,
// and a franz-go producer's record to sensors (key sensors/b/hum) reaches a
// Paho subscriber of sensors/#.
func TestIntegrationKafkaMQTTConverged(t *testing.T) {
	if _, err := exec.LookPath("mosquitto_pub"); err != nil {
		t.Fatal("mosquitto_pub not installed (apt-get install mosquitto-clients; .ci/run does)")
	}
	c := startCluster(t, 2)
	addrs := c.pc.Addrs()
	harness.Robustctl(t, addrs, "stream", "create", "sensors", "--partitions", "2", "--replicas", "2")
	harness.Robustctl(t, addrs, "mapping", "add", "sensors", "--mqtt", "sensors/#", "--stream", "sensors")
	b1, b2 := c.bc.Broker(0), c.bc.Broker(1)

	// MQTT → Kafka. The brokers learn the mapping through their watch: publish
	// until a record shows up (the first publishes may precede it).
	cons := kgoClient(t, []string{c.kafka(1)}, kgo.ConsumeTopics("sensors"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	host, port, _ := net.SplitHostPort(b1.MQTT)
	ctx := ctxFor(t, 60*time.Second)
	var got *kgo.Record
	for i := 0; got == nil; i++ {
		out, err := exec.CommandContext(ctx, "mosquitto_pub", "-h", host, "-p", port, "-V", "mqttv5", "-q", "1",
			"-t", "sensors/a/temp", "-m", fmt.Sprint("21.5 #", i), "-D", "publish", "user-property", "unit", "C").CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cons.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if got == nil {
				got = r
			}
		})
		if ctx.Err() != nil {
			t.Fatal("no record of the mapped MQTT publishes reached the Kafka consumer")
		}
	}
	h := map[string]string{}
	for _, x := range got.Headers {
		h[x.Key] = string(x.Value)
	}
	if string(got.Key) != "sensors/a/temp" || h["unit"] != "C" || h["mqtt-qos"] != "1" {
		t.Fatalf("record key %q value %q headers %v", got.Key, got.Value, h)
	}
	t.Logf("Kafka consumer got key %q value %q headers %v", got.Key, got.Value, h)

	// Kafka → MQTT.
	s := make(chan mqtt3.Message, 10)
	o := mqtt3.NewClientOptions().AddBroker("tcp://" + b2.MQTT).SetClientID("conv-sub").SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	sub := mqtt3.NewClient(o)
	if k := sub.Connect(); !k.WaitTimeout(10*time.Second) || k.Error() != nil {
		t.Fatalf("paho connect: %v", k.Error())
	}
	defer sub.Disconnect(0)
	if k := sub.Subscribe("sensors/#", 1, func(_ mqtt3.Client, m mqtt3.Message) { s <- m }); !k.WaitTimeout(10*time.Second) || k.Error() != nil {
		t.Fatalf("paho subscribe: %v", k.Error())
	}
	prod := kgoClient(t, []string{c.kafka(0)})
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "sensors", Key: []byte("sensors/b/hum"), Value: []byte("40%"),
		Headers: []kgo.RecordHeader{{Key: "site", Value: []byte("b")}}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-s:
		if m.Topic() != "sensors/b/hum" || string(m.Payload()) != "40%" {
			t.Fatalf("MQTT subscriber got %s %q", m.Topic(), m.Payload())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the Kafka record never reached the MQTT subscriber")
	}

	// The MQTT message log is an internal topic for Kafka clients: listed
	// as internal, readable, but neither writable nor deletable (Kafka's
	// INVALID_TOPIC_EXCEPTION, as for its own internal topics).
	adm := kadm.NewClient(kgoClient(t, []string{c.kafka(0)}))
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	td, ok := md.Topics["mqtt-messages"]
	if !ok || !td.IsInternal || td.Err != nil {
		t.Fatalf("metadata of mqtt-messages: present %v internal %v err %v", ok, td.IsInternal, td.Err)
	}
	if s, ok := md.Topics["sensors"]; !ok || s.IsInternal {
		t.Fatalf("sensors: present %v internal %v", ok, s.IsInternal)
	}
	err = prod.ProduceSync(ctx, &kgo.Record{Topic: "mqtt-messages", Value: []byte("not an MQTT message")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to mqtt-messages: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	dr, err := adm.DeleteTopics(ctx, "mqtt-messages")
	if err != nil {
		t.Fatal(err)
	}
	if r := dr["mqtt-messages"]; !errors.Is(r.Err, kerr.InvalidTopicException) {
		t.Fatalf("delete mqtt-messages: %v, want INVALID_TOPIC_EXCEPTION", r.Err)
	}
	// robustctl fails the test if the stream is gone.
	harness.Robustctl(t, addrs, "stream", "describe", "mqtt-messages")
}
