package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/robustmq/robustmq-go/tests/harness"
)

// TestIntegrationKafkaACL: with [auth] enabled and acl_default deny, the
// stream rules of robustctl acl decide what each SASL user may do with
// a topic, and a refusal is TOPIC_AUTHORIZATION_FAILED: alice may write and
// read orders-*, ops may create and delete any topic; alice cannot create,
// delete, write or read outside her rules, nor see other topics listed.
func TestIntegrationKafkaACL(t *testing.T) {
	c := startCluster(t, 1, "ROBUSTMQ_BROKER_AUTH_ENABLED=true", "ROBUSTMQ_BROKER_AUTH_ACL_DEFAULT=deny")
	addrs := c.pc.Addrs()
	for _, u := range []string{"alice", "ops"} {
		harness.Robustctl(t, addrs, "user", "create", u, "--password", u+"-pw")
	}
	for _, r := range [][]string{
		{"--principal", "alice", "--resource", "orders-*", "--action", "write"},
		{"--principal", "alice", "--resource", "orders-*", "--action", "read"},
		{"--principal", "ops", "--resource", "*", "--action", "admin"},
	} {
		harness.Robustctl(t, addrs, append(append([]string{"acl", "create", "--resource-type", "stream"}, r...), "--permission", "allow")...)
	}
	harness.Robustctl(t, addrs, "acl", "create", "--resource-type", "group", "--principal", "alice", "--resource", "alice-*",
		"--action", "read", "--permission", "allow")
	ctx := ctxFor(t, 90*time.Second)
	as := func(user string, opts ...kgo.Opt) *kgo.Client {
		return kgoClient(t, []string{c.kafka(0)}, append([]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: user + "-pw"}.AsMechanism())}, opts...)...)
	}
	ops, alice := kadm.NewClient(as("ops")), kadm.NewClient(as("alice"))
	orders, secret := topic("orders-eu"), topic("secret")

	// The broker learns the rules through its watch: ops retries until
	// its admin rule is there.
	for _, tp := range []string{orders, secret} {
		for {
			res, err := ops.CreateTopic(ctx, 1, 2, nil, tp)
			if err == nil && res.Err == nil {
				break
			}
			if ctx.Err() != nil || (res.Err != nil && !errors.Is(res.Err, kerr.TopicAuthorizationFailed)) {
				t.Fatalf("ops creates %s: %v %v", tp, err, res.Err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// kadm returns the topic's error as err too.
	if res, _ := alice.CreateTopic(ctx, 1, 2, nil, topic("orders-new")); !errors.Is(res.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice creates a topic: %v, want TOPIC_AUTHORIZATION_FAILED", res.Err)
	}

	prod := as("alice")
	sent := values("acl", 10)
	for _, v := range sent {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: orders, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("alice produces to %s: %v", orders, err)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := prod.ProduceSync(pctx, &kgo.Record{Topic: secret, Value: []byte("x")}).FirstErr()
	cancel()
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to %s: %v, want TOPIC_AUTHORIZATION_FAILED", secret, err)
	}

	cons := as("alice", kgo.ConsumeTopics(orders), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	checkInOrder(t, sent, pollRecords(ctx, t, cons, len(sent), "alice without a group"))

	// Consumer groups need a group rule: alice-* is hers (join, sync,
	// heartbeat, commit), other groups and deleting hers are not.
	gc := as("alice", kgo.ConsumerGroup("alice-g"), kgo.ConsumeTopics(orders), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	checkInOrder(t, sent, pollRecords(ctx, t, gc, len(sent), "alice in group alice-g"))
	if err := gc.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice commits in alice-g: %v", err)
	}
	gc.Close()
	if offs, err := alice.FetchOffsets(ctx, "alice-g"); err != nil || offs[orders][0].At != int64(len(sent)) {
		t.Fatalf("alice-g committed offsets: %v %v", offs, err)
	}
	if _, err := alice.FetchOffsets(ctx, "other-g"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("alice fetches other-g's offsets: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	if dr, err := alice.DeleteGroups(ctx, "alice-g"); err == nil && !errors.Is(dr["alice-g"].Err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("alice deletes alice-g: %v, want GROUP_AUTHORIZATION_FAILED", dr["alice-g"].Err)
	} else if err != nil && !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("alice deletes alice-g: %v", err)
	}

	// alice sees only her topics; ops sees both.
	// kadm reports a topic's authorization error as its error too.
	if md, err := alice.Metadata(ctx, secret); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(md.Topics[secret].Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice describes %s: %v %v, want TOPIC_AUTHORIZATION_FAILED", secret, err, md.Topics[secret].Err)
	}
	for who, adm := range map[string]*kadm.Client{"alice": alice, "ops": ops} {
		list, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names := list.Names()
		if !slices.Contains(names, orders) || slices.Contains(names, secret) != (who == "ops") {
			t.Fatalf("%s lists %v", who, names)
		}
	}
	if lo, err := alice.ListEndOffsets(ctx, secret); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(lo.Error(), kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice lists offsets of %s: %v %v, want TOPIC_AUTHORIZATION_FAILED", secret, err, lo.Error())
	}

	// Fetch and ListOffsets on their own (kgo and kadm ask Metadata first,
	// which already refuses): raw requests, each partition refused.
	raw := as("alice")
	lreq := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = secret
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lreq.Topics = append(lreq.Topics, lt)
	// Straight to the broker: the client's request sharding would ask
	// Metadata first.
	seed := raw.SeedBrokers()[0]
	lr, err := seed.Request(ctx, lreq)
	if err != nil {
		t.Fatal(err)
	}
	lresp := lr.(*kmsg.ListOffsetsResponse)
	if code := lresp.Topics[0].Partitions[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("ListOffsets of %s: error code %d, want %d", secret, code, kerr.TopicAuthorizationFailed.Code)
	}
	freq := kmsg.NewPtrFetchRequest()
	freq.MaxWaitMillis, freq.MaxBytes = 100, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = secret
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	freq.SetVersion(11) // topics by name
	fr, err := seed.Request(ctx, freq)
	if err != nil {
		t.Fatal(err)
	}
	fresp := fr.(*kmsg.FetchResponse)
	if code := fresp.Topics[0].Partitions[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("Fetch of %s: error code %d, want %d", secret, code, kerr.TopicAuthorizationFailed.Code)
	}

	// Deleting needs admin.
	for who, adm := range map[string]*kadm.Client{"alice": alice, "ops": ops} {
		res, err := adm.DeleteTopics(ctx, orders)
		if err != nil {
			t.Fatal(err)
		}
		want := error(nil)
		if who == "alice" {
			want = kerr.TopicAuthorizationFailed
		}
		if got := res[orders].Err; !errors.Is(got, want) && fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s deletes %s: %v, want %v", who, orders, got, want)
		}
	}
}
