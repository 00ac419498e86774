package mqtt

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

// `robustctl broker drain ID` sends the broker's clients to the other
// broker: an MQTT 5 client gets DISCONNECT 0x9C with the other broker's
// address as Server Reference and resumes its session there; new
// connections are refused until `robustctl broker undrain ID`.
func TestIntegrationDrainBroker(t *testing.T) {
	c := startCluster(t, 2)
	b1, b2 := c.brokers.Broker(0), c.brokers.Broker(1)
	id := brokerID(t, c, b1.GRPC)

	expiry := uint32(300)
	cp := &paho.Connect{ClientID: "drained", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	c5 := connect5(t, b1.MQTT, cp)
	if _, err := c5.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "dr/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	harness.Robustctl(t, c.placement.Addrs(), "broker", "drain", fmt.Sprint(id))
	var ref string
	select {
	case d := <-c5.disconnects:
		if d.ReasonCode != 0x9C || d.Properties == nil {
			t.Fatalf("DISCONNECT %+v", d)
		}
		ref = d.Properties.ServerReference
	case <-time.After(wait):
		t.Fatal("no DISCONNECT after the drain")
	}
	if ref != b2.MQTT {
		t.Fatalf("Server Reference %q, want broker 2 at %s", ref, b2.MQTT)
	}
	// A new client of the drained broker is sent away too.
	nc, err := net.DialTimeout("tcp", b1.MQTT, wait)
	if err != nil {
		t.Fatal(err)
	}
	refused := paho.NewClient(paho.ClientConfig{ClientID: "late", Conn: nc, PacketTimeout: wait})
	ca, err := refused.Connect(ctxT(t), &paho.Connect{ClientID: "late", CleanStart: true, KeepAlive: 30})
	if err == nil || ca == nil || ca.ReasonCode != 0x9C {
		t.Fatalf("connect to the drained broker: %+v %v", ca, err)
	}
	nc.Close()

	// The client follows the reference and finds its session.
	cp.CleanStart = false
	moved := connect5(t, ref, cp)
	if !moved.connack.SessionPresent {
		t.Fatal("session not present on the referenced broker")
	}
	pub := connect3(t, c.url(1), "dr-pub", true, nil, nil)
	tok(t, pub.Publish("dr/x", 1, false, "after the drain"))
	if m, err := moved.recv5(); err != nil || string(m.Payload) != "after the drain" {
		t.Fatalf("got %v %v", m, err)
	}

	harness.Robustctl(t, c.placement.Addrs(), "broker", "undrain", fmt.Sprint(id))
	harness.Eventually(t, wait, "broker 1 accepts clients again", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return harness.MQTTReady(ctx, b1.MQTT)
	})
}

// brokerID is the node id the broker with gRPC address grpc registered as.
func brokerID(t *testing.T, c *cluster, grpc string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := c.journal.Placement().ListNodes(ctx, &placementpb.ListNodesRequest{Kind: placementpb.NodeKind_NODE_KIND_BROKER})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range resp.GetNodes() {
		if n.GetGrpcAddr() == grpc {
			return n.GetNodeId()
		}
	}
	t.Fatalf("no broker at %s", grpc)
	return 0
}
