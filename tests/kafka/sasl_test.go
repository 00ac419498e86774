package kafka

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// TestIntegrationKafkaSASL: with kafka.sasl on, a user created with
// robustctl produces with SASL PLAIN and consumes with SCRAM-SHA-256
// (franz-go), kcat authenticates with both; a wrong password is refused
// and a request before authentication closes the connection.
func TestIntegrationKafkaSASL(t *testing.T) {
	c := startCluster(t, 1, "ROBUSTMQ_BROKER_KAFKA_SASL=true")
	harness.Robustctl(t, c.pc.Addrs(), "user", "create", "alice", "--password", "s3cret-pw")
	ctx := ctxFor(t, 60*time.Second)
	tp := topic("sasl")

	prod := kgoClient(t, []string{c.kafka(0)}, kgo.SASL(plain.Auth{User: "alice", Pass: "s3cret-pw"}.AsMechanism()),
		kgo.DefaultProduceTopic(tp), kgo.AllowAutoTopicCreation())
	sent := values("sasl", 20)
	for _, v := range sent {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce with PLAIN: %v", err)
		}
	}
	cons := kgoClient(t, []string{c.kafka(0)}, kgo.SASL(scram.Auth{User: "alice", Pass: "s3cret-pw"}.AsSha256Mechanism()),
		kgo.ConsumeTopics(tp), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	checkInOrder(t, sent, pollRecords(ctx, t, cons, len(sent), "SCRAM consumer"))

	for _, mech := range []kgo.Opt{kgo.SASL(plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism()),
		kgo.SASL(scram.Auth{User: "alice", Pass: "wrong"}.AsSha256Mechanism()),
		kgo.SASL(plain.Auth{User: "nobody", Pass: "s3cret-pw"}.AsMechanism())} {
		bad := kgoClient(t, []string{c.kafka(0)}, mech, kgo.RetryTimeout(time.Second))
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := kmsg.NewPtrMetadataRequest().RequestWith(bctx, bad)
		cancel()
		if err == nil || !strings.Contains(strings.ToUpper(err.Error()), "SASL") {
			t.Fatalf("bad credentials: %v", err)
		}
	}

	// No authentication at all: the first request ends the connection.
	conn := dial(t, c.kafka(0))
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(1)
	if _, err := roundTrip(t, conn, kmsg.NewRequestFormatter().AppendRequest(nil, md, 1)); err == nil {
		t.Fatal("metadata before authentication answered")
	}

	// sarama with SaslHandshake v0: the PLAIN token goes unframed.
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Version = sarama.SASLHandshakeV0
	cfg.ApiVersionsRequest = false // sarama's rule for handshake v0
	cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	cfg.Net.SASL.User, cfg.Net.SASL.Password = "alice", "s3cret-pw"
	sp, err := sarama.NewSyncProducer([]string{c.kafka(0)}, cfg)
	if err != nil {
		t.Fatalf("sarama with SASL handshake v0: %v", err)
	}
	if _, off, err := sp.SendMessage(&sarama.ProducerMessage{Topic: tp, Value: sarama.StringEncoder("v0")}); err != nil || off != int64(len(sent)) {
		t.Fatalf("sarama send: offset %d, %v", off, err)
	}
	_ = sp.Close()

	if _, err := exec.LookPath("kcat"); err == nil {
		for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
			out := kcat(t, "", 30*time.Second, "-b", c.kafka(0), "-L", "-t", tp, "-X", "security.protocol=SASL_PLAINTEXT",
				"-X", "sasl.mechanisms="+mech, "-X", "sasl.username=alice", "-X", "sasl.password=s3cret-pw")
			if !strings.Contains(out, `topic "`+tp+`" with 1 partitions`) {
				t.Fatalf("kcat with %s:\n%s", mech, out)
			}
		}
	}
}
