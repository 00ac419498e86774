package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/proto/gen/brokerpb"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
	"github.com/robustmq/robustmq-go/tests/harness"
)

// wait bounds one MQTT client operation and every wait for state to show.
const wait = 20 * time.Second

// protoList decodes robustctl's JSON array output as T messages.
func protoList[T proto.Message](t *testing.T, out string, newT func() T) []T {
	t.Helper()
	var raws []json.RawMessage
	if err := json.Unmarshal([]byte(out), &raws); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	msgs := make([]T, 0, len(raws))
	for _, r := range raws {
		m := newT()
		if err := protojson.Unmarshal(r, m); err != nil {
			t.Fatalf("element %s: %v", r, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// eventually runs check until it returns nil or wait passes (then the test
// fails with the last error); polls are 200 ms apart.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, wait, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// client5 is an MQTT 5 client (paho.golang) whose server DISCONNECTs are
// collected.
type client5 struct {
	*paho.Client
	disconnects chan *paho.Disconnect
}

func connect5(t *testing.T, addr, id string) *client5 {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	c := &client5{disconnects: make(chan *paho.Disconnect, 4)}
	c.Client = paho.NewClient(paho.ClientConfig{ClientID: id, Conn: nc, PacketTimeout: wait,
		OnServerDisconnect: func(d *paho.Disconnect) { c.disconnects <- d },
		OnClientError:      func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		nc.Close()
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		nc.Close()
	})
	return c
}

// TestIntegrationRobustctlAdmin runs bin/robustctl against one placement
// member, one journal node and two brokers: broker list shows both brokers
// with the listeners they registered; an MQTT 3.1.1 client's persistent
// session and subscription show in session list and session show, its
// retained message in retained list; broker drain turns a broker DRAINING
// and it stays so while it heartbeats, its MQTT 5 clients get DISCONNECT
// 0x9C with a server reference to the other broker, its 3.1.1 clients are
// disconnected and new ones refused; undrain turns it back, and a
// draining broker killed with SIGKILL is shown dead. On the way, every
// process's API is checked through server reflection (checkReflection).
func TestIntegrationRobustctlAdmin(t *testing.T) {
	pc := harness.StartPlacement(t, harness.PlacementOptions{Members: 1})
	jc := harness.StartJournal(t, harness.JournalOptions{Nodes: 1, Placement: pc.Addrs()})
	bc := harness.StartBroker(t, harness.BrokerOptions{Brokers: 2, Placement: pc.Addrs(),
		Env: []string{"ROBUSTMQ_BROKER_CLUSTER_COMMIT_INTERVAL=100ms"}})
	ctl := func(args ...string) string {
		t.Helper()
		return harness.Robustctl(t, pc.Addrs(), args...)
	}

	// broker list: both brokers, found by the MQTT address they serve.
	ids := map[int]uint64{} // broker index -> node id
	brokers := func() map[uint64]*placementpb.ClusterNode {
		t.Helper()
		out := map[uint64]*placementpb.ClusterNode{}
		for _, n := range protoList(t, ctl("broker", "list", "-o", "json"), func() *placementpb.ClusterNode { return &placementpb.ClusterNode{} }) {
			if n.GetKind() != placementpb.NodeKind_NODE_KIND_BROKER {
				t.Fatalf("broker list shows a %v node: %v", n.GetKind(), n)
			}
			out[n.GetNodeId()] = n
		}
		return out
	}
	listed := brokers()
	if len(listed) != 2 {
		t.Fatalf("broker list shows %d brokers, want 2: %v", len(listed), listed)
	}
	for _, b := range bc.Brokers() {
		for id, n := range listed {
			if n.GetExtraAddrs()["mqtt"] == b.MQTT {
				ids[b.Index] = id
				if n.GetExtraAddrs()["mqtt-ws"] != b.WS || n.GetGrpcAddr() != b.GRPC || n.GetStatus() != placementpb.NodeStatus_NODE_STATUS_ALIVE {
					t.Errorf("broker %d listed as %v (want grpc %s, mqtt-ws %s, alive)", b.Index, n, b.GRPC, b.WS)
				}
			}
		}
		if ids[b.Index] == 0 {
			t.Fatalf("broker %d (mqtt %s) not in broker list: %v", b.Index, b.MQTT, listed)
		}
	}
	table := ctl("broker", "list")
	for _, b := range bc.Brokers() {
		if !strings.Contains(table, "mqtt="+b.MQTT) {
			t.Errorf("broker list table lacks mqtt=%s:\n%s", b.MQTT, table)
		}
	}

	// A persistent MQTT session on broker 0 with one subscription, and a
	// retained message.
	o := mqtt3.NewClientOptions().AddBroker("tcp://" + bc.Broker(0).MQTT).SetClientID("admin-e2e").SetProtocolVersion(4).
		SetCleanSession(false).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).SetWriteTimeout(wait)
	client := mqtt3.NewClient(o)
	harness.WaitToken(t, "connect", client.Connect())
	t.Cleanup(func() { client.Disconnect(0) })
	harness.WaitToken(t, "subscribe", client.Subscribe("admin/+/x", 1, func(mqtt3.Client, mqtt3.Message) {}))
	harness.WaitToken(t, "publish", client.Publish("admin/retained", 1, true, "kept"))

	eventually(t, "the session in session list", func() error {
		for _, s := range protoList(t, ctl("session", "list", "-o", "json"), func() *brokerpb.MqttSession { return &brokerpb.MqttSession{} }) {
			if s.GetClientId() != "admin-e2e" {
				continue
			}
			subs := s.GetSubscriptions()
			if s.GetOwner() != ids[0] || !s.GetConnected() || len(subs) != 1 || subs[0].GetFilter() != "admin/+/x" || subs[0].GetQos() != 1 {
				return fmt.Errorf("session listed as %v (want owner %d, connected, one subscription admin/+/x qos 1)", s, ids[0])
			}
			return nil
		}
		return fmt.Errorf("no session admin-e2e")
	})
	show := ctl("session", "show", "admin-e2e")
	for _, want := range []string{fmt.Sprintf("owner:           broker %d", ids[0]), "connected:       true", "admin/+/x"} {
		if !strings.Contains(show, want) {
			t.Errorf("session show lacks %q:\n%s", want, show)
		}
	}
	eventually(t, "the retained message in retained list", func() error {
		msgs := protoList(t, ctl("retained", "list", "-o", "json"), func() *brokerpb.MqttMessage { return &brokerpb.MqttMessage{} })
		if !slices.ContainsFunc(msgs, func(m *brokerpb.MqttMessage) bool {
			return m.GetTopic() == "admin/retained" && string(m.GetPayload()) == "kept"
		}) {
			return fmt.Errorf("retained list: %v", msgs)
		}
		return nil
	})

	// Drain broker 1 with an MQTT 5 and an MQTT 3.1.1 client on it: the
	// broker is DRAINING at once and still after heartbeats; the MQTT 5
	// client gets DISCONNECT 0x9C naming broker 0's MQTT listener, the
	// 3.1.1 client is disconnected, new clients are refused; undrain
	// brings it back.
	b1 := ids[1]
	v5 := connect5(t, bc.Broker(1).MQTT, "drain-v5")
	lost := make(chan error, 1)
	o3 := mqtt3.NewClientOptions().AddBroker("tcp://" + bc.Broker(1).MQTT).SetClientID("drain-v3").SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).
		SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err })
	v3 := mqtt3.NewClient(o3)
	harness.WaitToken(t, "connect drain-v3", v3.Connect())
	t.Cleanup(func() { v3.Disconnect(0) })

	out := ctl("broker", "drain", fmt.Sprint(b1))
	if !strings.Contains(out, "draining") {
		t.Fatalf("broker drain printed:\n%s", out)
	}
	select {
	case d := <-v5.disconnects:
		ref := ""
		if d.Properties != nil {
			ref = d.Properties.ServerReference
		}
		if d.ReasonCode != 0x9C || ref != bc.Broker(0).MQTT {
			t.Errorf("MQTT 5 client got DISCONNECT 0x%02X with server reference %q, want 0x9C and %q", d.ReasonCode, ref, bc.Broker(0).MQTT)
		}
	case <-time.After(wait):
		t.Fatal("the MQTT 5 client on the drained broker got no DISCONNECT")
	}
	select {
	case err := <-lost:
		t.Logf("MQTT 3.1.1 client on the drained broker disconnected: %v", err)
	case <-time.After(wait):
		t.Fatal("the MQTT 3.1.1 client on the drained broker stayed connected")
	}
	{
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := harness.MQTTReady(ctx, bc.Broker(1).MQTT)
		cancel()
		if err == nil {
			t.Error("the drained broker accepted a new client")
		}
	}
	statusOf := func(id uint64) placementpb.NodeStatus {
		t.Helper()
		return brokers()[id].GetStatus()
	}
	if st := statusOf(b1); st != placementpb.NodeStatus_NODE_STATUS_DRAINING {
		t.Fatalf("after drain broker %d is %v", b1, st)
	}
	time.Sleep(3 * time.Second) // several heartbeats and probes
	if st, st0 := statusOf(b1), statusOf(ids[0]); st != placementpb.NodeStatus_NODE_STATUS_DRAINING || st0 != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("3s after the drain: broker %d is %v, broker %d is %v", b1, st, ids[0], st0)
	}
	ctl("broker", "undrain", fmt.Sprint(b1))
	if st := statusOf(b1); st != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("after undrain broker %d is %v", b1, st)
	}
	eventually(t, "the undrained broker accepting clients", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return harness.MQTTReady(ctx, bc.Broker(1).MQTT)
	})

	// A draining broker that dies is declared dead (by the leader's
	// probes, well before its lease).
	ctl("broker", "drain", fmt.Sprint(b1))
	bc.Broker(1).Kill9()
	eventually(t, "the killed draining broker shown dead", func() error {
		if st := statusOf(b1); st != placementpb.NodeStatus_NODE_STATUS_DEAD {
			return fmt.Errorf("broker %d is %v", b1, st)
		}
		return nil
	})
	if st := statusOf(ids[0]); st != placementpb.NodeStatus_NODE_STATUS_ALIVE {
		t.Fatalf("the other broker is %v", st)
	}

	// Last, as its examples change state (a drain, a tenant): the API as
	// docs/admin-api.md shows it, called the way grpcurl calls it.
	t.Run("reflection", func(t *testing.T) {
		checkReflection(t, map[string]string{"placement-center": pc.Addrs()[0], "journal-server": jc.Nodes()[0].Addr,
			"broker-server": bc.Broker(0).GRPC}, bc.Broker(0).MQTT)
	})
}
