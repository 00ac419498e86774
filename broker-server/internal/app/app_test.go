package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/robustmq/robustmq-go/broker-server/internal/config"
	"github.com/robustmq/robustmq-go/broker-server/internal/mqtt/packets"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// fakePlacement is a one-member placement center: it assigns node ids and
// serves empty metadata.
type fakePlacement struct {
	placementpb.UnimplementedPlacementServiceServer
	mu           sync.Mutex
	registered   []*placementpb.ClusterNode // as requested
	unregistered []uint64
}

func (f *fakePlacement) RegisterNode(_ context.Context, req *placementpb.RegisterNodeRequest) (*placementpb.RegisterNodeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registered = append(f.registered, proto.Clone(req.GetNode()).(*placementpb.ClusterNode))
	n := proto.Clone(req.GetNode()).(*placementpb.ClusterNode)
	if n.NodeId == 0 {
		n.NodeId = 42
	}
	n.Incarnation, n.Status = 1, placementpb.NodeStatus_NODE_STATUS_ALIVE
	return &placementpb.RegisterNodeResponse{Node: n, LeaseMs: 3000}, nil
}

func (f *fakePlacement) Heartbeat(context.Context, *placementpb.HeartbeatRequest) (*placementpb.HeartbeatResponse, error) {
	return &placementpb.HeartbeatResponse{LeaseMs: 3000}, nil
}

func (f *fakePlacement) UnregisterNode(_ context.Context, req *placementpb.UnregisterNodeRequest) (*placementpb.UnregisterNodeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unregistered = append(f.unregistered, req.GetNodeId())
	return &placementpb.UnregisterNodeResponse{}, nil
}

func (f *fakePlacement) ListNodes(context.Context, *placementpb.ListNodesRequest) (*placementpb.ListNodesResponse, error) {
	return &placementpb.ListNodesResponse{Revision: 1}, nil
}

func (f *fakePlacement) ListShards(context.Context, *placementpb.ListShardsRequest) (*placementpb.ListShardsResponse, error) {
	return &placementpb.ListShardsResponse{Revision: 1}, nil
}

func (f *fakePlacement) Watch(_ *placementpb.WatchRequest, s grpc.ServerStreamingServer[placementpb.WatchResponse]) error {
	<-s.Context().Done()
	return nil
}

// The broker registers as BROKER with an assigned id and its listener
// addresses, closes client connections at once (no MQTT yet), reports
// healthy, and unregisters on a clean stop.
func TestRunRegistersServesAndStops(t *testing.T) {
	fake := &fakePlacement{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	placementpb.RegisterPlacementServiceServer(gs, fake)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()

	cfg := config.Default()
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Listeners.TCP.Addr, cfg.Listeners.WS.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Listeners.TLS.Addr, cfg.Listeners.WSS.Addr = "", ""
	cfg.Listeners.Kafka.Addr = "127.0.0.1:0"
	cfg.Placement = []string{lis.Addr().String()}
	cfg.ShutdownTimeout = 2 * time.Second

	started := make(chan Endpoints, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	log := zerolog.Nop()
	if testing.Verbose() {
		log = zerolog.New(zerolog.NewTestWriter(t))
	}
	go func() {
		done <- Run(ctx, cfg, log, Options{Handler: StandaloneMQTTHandler(cfg, log), Started: func(e Endpoints) { started <- e }})
	}()
	var ep Endpoints
	select {
	case ep = <-started:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not start")
	}

	fake.mu.Lock()
	n := fake.registered[0]
	fake.mu.Unlock()
	if n.GetNodeId() != 0 || n.GetKind() != placementpb.NodeKind_NODE_KIND_BROKER || n.GetGrpcAddr() != ep.GRPC {
		t.Fatalf("registered %v, endpoints %+v", n, ep)
	}
	x := n.GetExtraAddrs()
	if x[ListenerMQTT] != ep.Listeners[ListenerMQTT] || x[ListenerMQTTWS] != ep.Listeners[ListenerMQTTWS] || x["http"] != ep.HTTP ||
		x[ListenerKafka] != ep.Listeners[ListenerKafka] || len(x) != 4 {
		t.Fatalf("extra_addrs %v, endpoints %+v", x, ep)
	}

	// Both listeners speak MQTT: a CONNECT gets a CONNACK.
	connect, err := packets.Encode(&packets.Connect{Level: packets.V311, CleanStart: true, ClientID: "app-test"}, packets.V311)
	if err != nil {
		t.Fatal(err)
	}
	connack := []byte{0x20, 0x02, 0x00, 0x00}
	c, err := net.Dial("tcp", ep.Listeners[ListenerMQTT])
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(connect); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(connack) {
		t.Fatalf("tcp CONNACK % x %v, want % x", got, err, connack)
	}
	c.Close()
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}}
	ws, _, err := d.Dial("ws://"+ep.Listeners[ListenerMQTTWS]+"/mqtt", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteMessage(websocket.BinaryMessage, connect); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != string(connack) {
		t.Fatalf("websocket CONNACK % x %v, want % x", msg, err, connack)
	}
	ws.Close()

	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + ep.HTTP + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not ok: %v %v", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.unregistered) != 1 || fake.unregistered[0] != 42 {
		t.Fatalf("unregistered %v, want [42]", fake.unregistered)
	}
	if _, err := net.DialTimeout("tcp", ep.Listeners[ListenerMQTT], time.Second); err == nil {
		t.Fatal("MQTT listener open after stop")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Listeners.TLS.CertFile, cfg.Listeners.TLS.KeyFile = "/nonexistent/cert.pem", "/nonexistent/key.pem"
	if err := Run(context.Background(), cfg, zerolog.Nop(), Options{}); err == nil {
		t.Fatal("missing certificate files accepted")
	}
	cfg = config.Default()
	cfg.Placement = nil
	if err := Run(context.Background(), cfg, zerolog.Nop(), Options{}); err == nil {
		t.Fatal("invalid config accepted")
	}
}
