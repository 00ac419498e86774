package server_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robustmq/robustmq-go/broker-server/internal/core"
	pk "github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
)

// slowCluster is an in-memory core.Cluster below the front end whose log
// appends complete after random delays (so out of order), and fail for
// topics under "fail/".
type slowCluster struct {
	mu   sync.Mutex
	next uint64
}

func (c *slowCluster) AppendAsync(_ context.Context, m *core.Message, done func(core.Position, error)) error {
	c.mu.Lock()
	off := c.next
	c.next++
	c.mu.Unlock()
	delay := time.Duration(rand.IntN(20)) * time.Millisecond
	time.AfterFunc(delay, func() {
		if strings.HasPrefix(m.Topic, "fail/") {
			done(core.Position{}, errors.New("journal unavailable"))
			return
		}
		done(core.Position{Offset: off, Valid: true}, nil)
	})
	return nil
}

func (c *slowCluster) Claim(context.Context, core.Claim) (*core.SessionState, error) { return nil, nil }
func (c *slowCluster) Save(context.Context, *core.SessionState) error                { return nil }
func (c *slowCluster) Release(context.Context, string) error                         { return nil }
func (c *slowCluster) AppendMapped(context.Context, *core.Message) error             { return nil }
func (c *slowCluster) Retain(context.Context, *core.Message) error                   { return nil }
func (c *slowCluster) ForwardShare(*core.Message, string) bool                       { return false }
func (c *slowCluster) LogEnds(context.Context) (map[uint32]uint64, error)            { return nil, nil }
func (c *slowCluster) OpenLog(uint32, uint64) (core.LogReader, error) {
	return nil, errors.New("no log reads in this test")
}
func (c *slowCluster) UpdateRoute(string, bool) <-chan error {
	ch := make(chan error, 1)
	ch <- nil
	return ch
}
func (c *slowCluster) Forward(_ *core.Message, _ core.Position, shares []string) map[string]bool {
	serve := map[string]bool{}
	for _, s := range shares {
		serve[s] = true
	}
	return serve
}

// 4.6 Message ordering: a client's QoS 1 publishes are stored concurrently
// (the appends finish out of order) but acknowledged in the order sent,
// and a subscriber receives them in that order.
func TestSpec4_6_PipelinedPublishesKeepTheirOrder(t *testing.T) {
	b := startBrokerCore(t, nil, core.Options{MaxQueued: 1000, Cluster: &slowCluster{}})
	sub := dialRaw(t, b, pk.V311)
	sub.mustConnect(&pk.Connect{Level: pk.V311, ClientID: "order-sub", CleanStart: true, KeepAlive: 30})
	sub.subscribe(1, pk.Subscription{Filter: "o/#", QoS: 1})

	pub := dialRaw(t, b, pk.V311)
	pub.mustConnect(&pk.Connect{Level: pk.V311, ClientID: "order-pub", CleanStart: true, KeepAlive: 30})
	const n = 60
	for i := 1; i <= n; i++ {
		pub.send(&pk.Publish{Topic: "o/t", QoS: 1, PacketID: uint16(i), Payload: []byte{byte(i)}})
	}
	for i := 1; i <= n; i++ {
		p := pub.recv()
		a, ok := p.(*pk.Puback)
		if !ok || a.PacketID != uint16(i) {
			t.Fatalf("acknowledgement %d is %T %+v", i, p, p)
		}
	}
	for i := 1; i <= n; i++ {
		m := sub.publish()
		if m.Payload[0] != byte(i) {
			t.Fatalf("message %d carries %d", i, m.Payload[0])
		}
		sub.send(&pk.Puback{PacketID: m.PacketID})
	}
}

// A publish the cluster cannot store is never acknowledged positively:
// MQTT 5 gets PUBACK 0x80 (and the connection stays), MQTT 3.1.1, which
// has no negative acknowledgement, loses the connection.
func TestSpec4_3_PublishNotStored(t *testing.T) {
	b := startBrokerCore(t, nil, core.Options{MaxQueued: 1000, Cluster: &slowCluster{}})
	c5 := dialRaw(t, b, pk.V5)
	c5.mustConnect(&pk.Connect{Level: pk.V5, ClientID: "ns5", CleanStart: true, KeepAlive: 30})
	c5.send(&pk.Publish{Topic: "fail/x", QoS: 1, PacketID: 1, Payload: []byte("x")},
		&pk.Publish{Topic: "ok/x", QoS: 1, PacketID: 2, Payload: []byte("y")})
	if a, ok := c5.recv().(*pk.Puback); !ok || a.PacketID != 1 || a.ReasonCode != pk.ReasonUnspecifiedError {
		t.Fatalf("first ack %+v", a)
	}
	if a, ok := c5.recv().(*pk.Puback); !ok || a.PacketID != 2 || a.ReasonCode != 0 {
		t.Fatalf("second ack %+v", a)
	}
	c3 := dialRaw(t, b, pk.V311)
	c3.mustConnect(&pk.Connect{Level: pk.V311, ClientID: "ns3", CleanStart: true, KeepAlive: 30})
	c3.send(&pk.Publish{Topic: "fail/x", QoS: 1, PacketID: 1, Payload: []byte("x")})
	c3.closed(nil)
}
