package cluster

import (
	"reflect"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/common/recordbatch"
)

func fullMessage() *core.Message {
	return &core.Message{Topic: "a/b", Payload: []byte("p"), QoS: 2, Retain: true, From: "c1",
		Expires: time.UnixMilli(1_900_000_000_000), PayloadFormat: 1, HasPayloadFormat: true, ContentType: "text/plain",
		ResponseTopic: "r/t", CorrelationData: []byte{1, 2}, User: []core.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}}
}

// Every field of a message survives the cluster's encoding (log records,
// forwards, retained messages, wills).
func TestMessageProtoRoundTrip(t *testing.T) {
	m := fullMessage()
	if got := fromProto(toProto(m)); !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, m)
	}
	bare := &core.Message{Topic: "t", Payload: []byte{}}
	got := fromProto(toProto(bare))
	if got.HasPayloadFormat || !got.Expires.IsZero() || got.User != nil {
		t.Fatalf("bare message gained fields: %+v", got)
	}
	if fromProto(nil) != nil || toProto(nil) != nil {
		t.Fatal("nil")
	}
}

func TestSubscriptionProtoRoundTrip(t *testing.T) {
	for _, s := range []core.Subscription{
		{Filter: "a/+/#", TopicFilter: "a/+/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, ID: 7},
		{Filter: "$share/g/x/#", Group: "g", TopicFilter: "x/#", QoS: 1},
	} {
		got, ok := subFromProto(subToProto(s))
		if !ok || !reflect.DeepEqual(got, s) {
			t.Fatalf("round trip %+v → %+v %v", s, got, ok)
		}
	}
	if _, ok := subFromProto(subToProto(core.Subscription{Filter: "$share/g"})); ok {
		t.Fatal("a filter that does not parse was accepted")
	}
}

// A message written to a mapped stream and read back by a Kafka front end
// keeps its MQTT 5 properties; the retain flag does not come back (a
// record replayed into MQTT is live traffic).
func TestMappedRecordRoundTrip(t *testing.T) {
	m := fullMessage()
	got, ok := RecordMessage(MessageRecord(m), 1)
	if !ok {
		t.Fatal("not a message")
	}
	want := *m
	want.Retain, want.From = false, ""
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, &want)
	}
	// A plain Kafka record: the key is the topic, QoS the default, other
	// headers user properties.
	r := recordbatch.Record{Key: []byte("s/1"), Value: []byte("v"), Headers: []recordbatch.RecordHeader{{Key: "h", Value: []byte("x")}}}
	got, ok = RecordMessage(r, 1)
	if !ok || got.Topic != "s/1" || got.QoS != 1 || len(got.User) != 1 || got.User[0] != (core.UserProperty{Key: "h", Value: "x"}) {
		t.Fatalf("plain record → %+v %v", got, ok)
	}
	for _, key := range []string{"", "a/+", "a/#", "x\x00y", "\xff"} {
		if _, ok := RecordMessage(recordbatch.Record{Key: []byte(key)}, 1); ok {
			t.Errorf("key %q accepted as a topic", key)
		}
	}
}

func TestParseRoute(t *testing.T) {
	for in, want := range map[string]struct {
		b  uint64
		f  string
		ok bool
	}{
		"3/a/b":         {3, "a/b", true},
		"12/$share/g/#": {12, "$share/g/#", true},
		"0/a":           {0, "", false},
		"x/a":           {0, "", false},
		"5/":            {0, "", false},
		"5":             {0, "", false},
	} {
		b, f, ok := parseRoute(in)
		if ok != want.ok || (ok && (b != want.b || f != want.f)) {
			t.Errorf("parseRoute(%q) = %d %q %v, want %+v", in, b, f, ok, want)
		}
	}
}

// The route table answers per broker: merged non-shared routes, and one
// broker per share group, round robin among those alive.
func TestRouteTableMatch(t *testing.T) {
	rt := newRouteTable()
	rt.put(1, "a/#")
	rt.put(2, "a/b")
	rt.put(2, "$share/g/a/+")
	rt.put(3, "$share/g/a/+")
	all := func(string) bool { return true }
	picked := map[string]int{}
	for range 4 {
		nonShared := map[string]bool{}
		for _, d := range rt.match("a/b", all) {
			if d.Share == "" {
				nonShared[d.ClientID] = true
			} else {
				picked[d.ClientID]++
			}
		}
		if !nonShared["1"] || !nonShared["2"] || len(nonShared) != 2 {
			t.Fatalf("non-shared %v", nonShared)
		}
	}
	if picked["2"] != 2 || picked["3"] != 2 {
		t.Fatalf("share group picks %v, want 2 each", picked)
	}
	rt.del(2, "a/b")
	rt.del(2, "$share/g/a/+")
	for _, d := range rt.match("a/b", all) {
		if d.ClientID == "2" {
			t.Fatalf("deleted routes still match: %+v", d)
		}
	}
}
