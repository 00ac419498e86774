package grpcserver

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// panicky answers Status by panicking, and AddMember normally.
type panicky struct {
	placementpb.UnimplementedClusterServiceServer
}

func (panicky) Status(context.Context, *placementpb.StatusRequest) (*placementpb.StatusResponse, error) {
	panic("handler bug")
}

func (panicky) AddMember(_ context.Context, req *placementpb.AddMemberRequest) (*placementpb.AddMemberResponse, error) {
	return &placementpb.AddMemberResponse{Member: &placementpb.Member{Addr: req.GetAddr()}}, nil
}

type harness struct {
	srv  *Server
	conn *grpc.ClientConn
	reg  *prometheus.Registry
	logs *syncBuffer
}

// start serves a server on a free loopback port with the test service
// registered; cleanup stops it and checks Serve returned nil.
func start(t *testing.T, opts Options) *harness {
	t.Helper()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	opts.Addr = "127.0.0.1:0"
	opts.Logger = zerolog.New(logs).Level(zerolog.DebugLevel)
	opts.Registerer = reg
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	placementpb.RegisterClusterServiceServer(srv.GRPC(), panicky{})

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return &harness{srv: srv, conn: conn, reg: reg, logs: logs}
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHealthAnswersServing(t *testing.T) {
	h := start(t, Options{})
	client := healthpb.NewHealthClient(h.conn)
	resp, err := client.Check(callCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status = %v, want SERVING", resp.GetStatus())
	}

	const svc = "robustmq.placement.v1.ClusterService"
	h.srv.SetServing(svc, false)
	resp, err = client.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: svc})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Check(%s) = %v, %v; want NOT_SERVING", svc, resp, err)
	}
	h.srv.SetServing(svc, true)
	resp, err = client.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: svc})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check(%s) = %v, %v; want SERVING", svc, resp, err)
	}
}

func TestReflectionListsServices(t *testing.T) {
	h := start(t, Options{})
	stream, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(callCtx(t))
	if err != nil {
		t.Fatalf("ServerReflectionInfo: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	got := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		got[s.GetName()] = true
	}
	for _, want := range []string{
		"grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection",
		"robustmq.placement.v1.ClusterService",
	} {
		if !got[want] {
			t.Errorf("reflection does not list %s (got %v)", want, got)
		}
	}
	_ = stream.CloseSend()
}

func TestPanicBecomesInternalAndServerSurvives(t *testing.T) {
	h := start(t, Options{})
	client := placementpb.NewClusterServiceClient(h.conn)
	for i := range 3 {
		_, err := client.Status(callCtx(t), &placementpb.StatusRequest{})
		if got := status.Code(err); got != codes.Internal {
			t.Fatalf("call %d: code = %v (%v), want Internal", i, got, err)
		}
		if strings.Contains(status.Convert(err).Message(), "handler bug") {
			t.Fatalf("panic value leaked to the client: %v", err)
		}
	}
	resp, err := client.AddMember(callCtx(t), &placementpb.AddMemberRequest{Addr: "x"})
	if err != nil || resp.GetMember().GetAddr() != "x" {
		t.Fatalf("AddMember after panics = %v, %v", resp, err)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"panic":"handler bug"`) || !strings.Contains(logs, "panicky.Status") {
		t.Fatalf("panic log lacks value or stack:\n%s", logs)
	}
	if !strings.Contains(logs, `"grpc.method":"Status"`) || !strings.Contains(logs, `"grpc.code":"Internal"`) {
		t.Fatalf("call log lacks method or code:\n%s", logs)
	}
}

func TestOversizedRequestIsResourceExhausted(t *testing.T) {
	cases := []struct {
		name  string
		limit int
		size  int
		want  codes.Code
	}{
		{"default 4MiB limit, 5MiB request", 0, 5 << 20, codes.ResourceExhausted},
		{"1KiB limit, 2KiB request", 1024, 2048, codes.ResourceExhausted},
		{"1KiB limit, small request", 1024, 100, codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, Options{MaxRecvMsgBytes: tc.limit})
			client := placementpb.NewClusterServiceClient(h.conn)
			_, err := client.AddMember(callCtx(t), &placementpb.AddMemberRequest{Addr: strings.Repeat("a", tc.size)})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.want)
			}
			// The connection and server survive a refused request.
			if _, err := healthpb.NewHealthClient(h.conn).Check(callCtx(t), &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatalf("health after oversized request: %v", err)
			}
		})
	}
}

func TestMetricsRegisteredAndCounted(t *testing.T) {
	h := start(t, Options{})
	if _, err := healthpb.NewHealthClient(h.conn).Check(callCtx(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	for _, name := range []string{"grpc_server_started_total", "grpc_server_handled_total", "grpc_server_handling_seconds"} {
		if byName[name] == nil {
			t.Errorf("metric %s not registered", name)
		}
	}
	handled := 0.0
	for _, m := range byName["grpc_server_handled_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["grpc_method"] == "Check" && labels["grpc_code"] == "OK" {
			handled += m.GetCounter().GetValue()
		}
	}
	if handled != 1 {
		t.Fatalf("handled Check/OK = %v, want 1", handled)
	}
}

func TestSharedRegistererIsReused(t *testing.T) {
	reg := prometheus.NewRegistry()
	for i := range 2 {
		srv, err := New(Options{Addr: "127.0.0.1:0", Registerer: reg, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatalf("server %d: New: %v", i, err)
		}
		srv.Stop()
	}
}

func TestServeReturnsAfterStop(t *testing.T) {
	srv, err := New(Options{Addr: "127.0.0.1:0", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer conn.Close()
	// Wait until serving, then stop.
	if _, err := healthpb.NewHealthClient(conn).Check(callCtx(t), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	srv.Stop()
	srv.Stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after Stop", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after Stop")
	}
}

func TestGracefulStopIsBounded(t *testing.T) {
	srv, err := New(Options{Addr: "127.0.0.1:0", Logger: zerolog.Nop(), ShutdownTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer conn.Close()
	// A health Watch stream stays open until the server cuts it, so a
	// graceful stop alone would wait for it forever.
	watch, err := healthpb.NewHealthClient(conn).Watch(callCtx(t), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatalf("Recv: %v", err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	elapsed := time.Since(start)
	t.Logf("shutdown took %v", elapsed)
	if elapsed > 10*time.Second {
		t.Fatalf("shutdown took %v with a 200ms bound", elapsed)
	}
}

func TestNewRejectsBadAddress(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1:notaport"} {
		if _, err := New(Options{Addr: addr}); err == nil {
			t.Errorf("New(%q) succeeded", addr)
		}
	}
}
