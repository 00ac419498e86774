package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
)

func sub(client, filter string, qos byte) Subscription {
	g, tf, err := packets.ParseShared(filter)
	if err != nil {
		panic(err)
	}
	return Subscription{ClientID: client, Filter: filter, Group: g, TopicFilter: tf, QoS: qos}
}

func clients(ds []Delivery) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s:%d", d.ClientID, d.QoS))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestIndexMatch(t *testing.T) {
	x := NewIndex()
	for i, f := range []string{"#", "+", "a/#", "a/+", "a/b", "+/+/c", "$SYS/#", "+/#", "a/+/#", "/a", "+/a"} {
		x.Subscribe(sub(fmt.Sprint("c", i), f, 1))
	}
	cases := map[string]string{
		"a":       "c0:1 c1:1 c2:1 c7:1",
		"a/b":     "c0:1 c2:1 c3:1 c4:1 c7:1 c8:1",
		"x/y/c":   "c0:1 c5:1 c7:1",
		"$SYS/x":  "c6:1",
		"$SYS":    "c6:1",
		"/a":      "c0:1 c10:1 c7:1 c9:1",
		"a/b/c/d": "c0:1 c2:1 c7:1 c8:1",
	}
	for topic, want := range cases {
		if got := clients(x.Match(topic, "", nil)); got != want {
			t.Errorf("%s: %s, want %s", topic, got, want)
		}
	}
	// Overlapping subscriptions of one client merge: largest QoS, every id.
	y := NewIndex()
	s1, s2 := sub("c", "a/#", 0), sub("c", "a/b", 2)
	s1.ID, s2.ID = 1, 2
	y.Subscribe(s1)
	y.Subscribe(s2)
	ds := y.Match("a/b", "", nil)
	if len(ds) != 1 || ds[0].QoS != 2 || fmt.Sprint(ds[0].SubIDs) != "[1 2]" && fmt.Sprint(ds[0].SubIDs) != "[2 1]" {
		t.Fatalf("merged %+v", ds)
	}
	// No local.
	nl := sub("me", "n", 1)
	nl.NoLocal = true
	y.Subscribe(nl)
	if ds := y.Match("n", "me", nil); len(ds) != 0 {
		t.Fatalf("no local delivered %+v", ds)
	}
	if ds := y.Match("n", "other", nil); len(ds) != 1 {
		t.Fatalf("got %+v", ds)
	}
}

// The index agrees with packets.MatchTopic on random filters and topics,
// and unsubscribing everything leaves an empty trie.
func TestIndexAgreesWithMatchTopic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "", "$x"}
	randTopic := func() string {
		n := 1 + r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[r.IntN(len(levels))]
			if i > 0 && parts[i] == "$x" {
				parts[i] = "c"
			}
		}
		return strings.Join(parts, "/")
	}
	x := NewIndex()
	var filters []string
	for i := range 200 {
		parts := strings.Split(randTopic(), "/")
		for j := range parts {
			switch r.IntN(4) {
			case 0:
				parts[j] = "+"
			case 1:
				if j == len(parts)-1 {
					parts[j] = "#"
				}
			}
		}
		f := strings.Join(parts, "/")
		if packets.ValidateTopicFilter(f) != nil {
			continue
		}
		filters = append(filters, f)
		x.Subscribe(sub(fmt.Sprint(i), f, 0))
	}
	for range 500 {
		topic := randTopic()
		want := map[string]bool{}
		for _, f := range filters {
			if packets.MatchTopic(f, topic) {
				want[f] = true
			}
		}
		got := x.Match(topic, "", nil)
		n := 0
		for _, f := range filters {
			if want[f] {
				n++
			}
		}
		if len(got) != n {
			t.Fatalf("topic %q: %d deliveries, want %d", topic, len(got), n)
		}
	}
	// Unsubscribing everything prunes the trie.
	x2 := NewIndex()
	for i, f := range filters {
		x2.Subscribe(sub(fmt.Sprint(i), f, 0))
	}
	for i, f := range filters {
		if !x2.Unsubscribe(fmt.Sprint(i), f) {
			t.Fatalf("unsubscribe %s failed", f)
		}
	}
	if len(x2.root.children) != 0 {
		t.Fatalf("trie not pruned: %d children left", len(x2.root.children))
	}
}

func TestSharedRoundRobinPrefersOnline(t *testing.T) {
	x := NewIndex()
	for _, c := range []string{"a", "b", "c"} {
		x.Subscribe(sub(c, "$share/g/t/+", 1))
	}
	x.Subscribe(sub("a", "$share/h/t/#", 1))
	count := map[string]int{}
	for range 30 {
		for _, d := range x.Match("t/1", "", nil) {
			count[d.ClientID]++
		}
	}
	if count["a"] != 40 || count["b"] != 10 || count["c"] != 10 {
		t.Fatalf("spread %v", count)
	}
	online := func(id string) bool { return id != "b" }
	count = map[string]int{}
	for range 30 {
		for _, d := range x.Match("t/1", "", online) {
			count[d.ClientID]++
		}
	}
	if count["b"] != 0 || count["a"]+count["c"] != 60 {
		t.Fatalf("offline member picked: %v", count)
	}
	x.Unsubscribe("a", "$share/g/t/+")
	x.Unsubscribe("a", "$share/h/t/#")
	for range 4 {
		for _, d := range x.Match("t/1", "", nil) {
			if d.ClientID == "a" {
				t.Fatal("unsubscribed member picked")
			}
		}
	}
}

func TestRetainStore(t *testing.T) {
	r := NewMemRetainStore()
	now := time.Now()
	r.Set(&Message{Topic: "a/b", Payload: []byte("1")})
	r.Set(&Message{Topic: "a/b", Payload: []byte("2")})
	r.Set(&Message{Topic: "a/c", Payload: []byte("x"), Expires: now.Add(-time.Second)})
	r.Set(&Message{Topic: "$SYS/x", Payload: []byte("s")})
	if ms := r.Match("a/#", now); len(ms) != 1 || string(ms[0].Payload) != "2" {
		t.Fatalf("match %v", ms)
	}
	if ms := r.Match("#", now); len(ms) != 1 {
		t.Fatalf("# matched %d (a $-topic or an expired message?)", len(ms))
	}
	r.Set(&Message{Topic: "a/b"})
	if ms := r.Match("a/#", now); len(ms) != 0 || r.Len() != 2 {
		t.Fatalf("after delete: %v, %d topics", ms, r.Len())
	}
}

func connect(t *testing.T, b *Broker, id string, clean bool, c Client) (*Session, bool) {
	t.Helper()
	s, present, err := b.Connect(context.Background(), Claim{ClientID: id, Clean: clean}, c)
	if err != nil {
		t.Fatal(err)
	}
	return s, present
}

func publish(t *testing.T, b *Broker, m *Message) int {
	t.Helper()
	n, err := b.Publish(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type fakeClient struct{ notified, kicked int }

func (f *fakeClient) Notify() { f.notified++ }
func (f *fakeClient) Kick()   { f.kicked++ }

func TestSessionQueueBoundAndWindow(t *testing.T) {
	b := New(Options{MaxQueued: 3})
	c := &fakeClient{}
	s, present := connect(t, b, "c", true, c)
	if present {
		t.Fatal("present")
	}
	b.Subscribe(s, sub("", "t", 1))
	for i := range 5 {
		publish(t, b, &Message{Topic: "t", QoS: 1, Payload: []byte{byte(i)}})
	}
	if s.Queued() != 3 || s.Dropped() != 2 {
		t.Fatalf("queued %d dropped %d", s.Queued(), s.Dropped())
	}
	out := s.Pull(c, 2, time.Now())
	if len(out) != 2 || s.Inflight() != 2 || out[0].PacketID == out[1].PacketID {
		t.Fatalf("pull %+v", out)
	}
	if len(s.Pull(c, 2, time.Now())) != 0 {
		t.Fatal("window exceeded")
	}
	if !s.Acked(out[0].PacketID, false) || s.Acked(out[0].PacketID, false) {
		t.Fatal("ack")
	}
	if o := s.Pull(c, 2, time.Now()); len(o) != 1 || o[0].Msg.Payload[0] != 2 {
		t.Fatalf("pull after ack %+v", o)
	}
	// Takeover kicks the old client; the resumed session resends with DUP.
	c2 := &fakeClient{}
	s2, present := connect(t, b, "c", false, c2)
	if !present || s2 != s || c.kicked != 1 {
		t.Fatalf("present %v same %v kicked %d", present, s2 == s, c.kicked)
	}
	if len(s.Pull(c, 10, time.Now())) != 0 {
		t.Fatal("old client pulled")
	}
	o := s.Pull(c2, 10, time.Now())
	if len(o) != 2 || !o[0].Dup || !o[1].Dup {
		t.Fatalf("resend %+v", o)
	}
	// A clean start discards the session.
	c3 := &fakeClient{}
	s3, present := connect(t, b, "c", true, c3)
	if present || s3 == s || s3.Inflight() != 0 || len(s3.Subscriptions()) != 0 {
		t.Fatal("clean start kept state")
	}
	if n := publish(t, b, &Message{Topic: "t", QoS: 1}); n != 0 {
		t.Fatalf("old subscription still routed: %d", n)
	}
}
