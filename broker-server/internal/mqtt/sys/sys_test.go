package sys_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/sys"
)

// The Source and Publisher below are the reporter's inputs and outputs;
// the MQTT test TestSpec4_7_2_SysTopics runs it against the real front end
// and broker core with real clients.

type fixed struct{ st sys.Stats }

func (f fixed) Stats() sys.Stats { return f.st }

type recorder struct {
	mu   sync.Mutex
	msgs []*core.Message
}

func (r *recorder) Publish(_ context.Context, m *core.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	return nil
}

func (r *recorder) take() []*core.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

func TestReading(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	rec := &recorder{}
	src := fixed{sys.Stats{Clients: 3, Sessions: 5, Subscriptions: 7, MessagesReceived: 11, MessagesSent: 13,
		BytesReceived: 17, BytesSent: 19}}
	r := sys.New(src, rec, sys.Options{Interval: 2 * time.Second, Version: "v9", Now: clock})
	ctx := context.Background()
	if ok, err := r.PublishNow(ctx); ok || err != nil || len(rec.take()) != 0 {
		t.Fatal("published without a node name")
	}
	r.SetNode("7")
	now = now.Add(90 * time.Second)
	if ok, err := r.PublishNow(ctx); !ok || err != nil {
		t.Fatalf("nothing published: %v", err)
	}
	want := map[string]string{"version": "v9", "uptime": "90", "clients/connected": "3", "sessions/count": "5",
		"subscriptions/count": "7", "messages/received": "11", "messages/sent": "13", "bytes/received": "17",
		"bytes/sent": "19"}
	got := rec.take()
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for _, m := range got {
		key := m.Topic[len(sys.Prefix+"7/"):]
		if m.Topic[:len(sys.Prefix+"7/")] != "$SYS/brokers/7/" || want[key] != string(m.Payload) {
			t.Fatalf("%s = %q, want %q", m.Topic, m.Payload, want[key])
		}
		if !m.Retain || m.QoS != 0 || m.From != "" || !m.Expires.Equal(now.Add(6*time.Second)) {
			t.Fatalf("%s: retain %v qos %d from %q expires %v", m.Topic, m.Retain, m.QoS, m.From, m.Expires)
		}
		delete(want, key)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	rec := &recorder{}
	r := sys.New(fixed{}, rec, sys.Options{Interval: 10 * time.Millisecond, Node: "n"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; n < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("%d readings in 5s", n)
		}
		n += len(rec.take()) / 9
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}
