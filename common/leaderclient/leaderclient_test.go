package leaderclient

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/rpcerr"
	"github.com/robustmq/robustmq-go/proto/gen/placementpb"
)

// member is one test server: a ClusterService whose Status answers with
// a fixed function, plus the health service for stream tests.
type member struct {
	addr  string
	calls atomic.Int64
}

type stubCluster struct {
	placementpb.UnimplementedClusterServiceServer
	m      *member
	answer func(ctx context.Context) (*placementpb.StatusResponse, error)
}

func (s *stubCluster) Status(ctx context.Context, _ *placementpb.StatusRequest) (*placementpb.StatusResponse, error) {
	s.m.calls.Add(1)
	return s.answer(ctx)
}

// listen reserves a loopback port so members can name each other before
// they serve.
func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return lis
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis := listen(t)
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

func serve(t *testing.T, lis net.Listener, answer func(ctx context.Context) (*placementpb.StatusResponse, error)) *member {
	t.Helper()
	m := &member{addr: lis.Addr().String()}
	srv := grpc.NewServer()
	placementpb.RegisterClusterServiceServer(srv, &stubCluster{m: m, answer: answer})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return m
}

func notLeader(id uint64, addr string) func(context.Context) (*placementpb.StatusResponse, error) {
	return func(context.Context) (*placementpb.StatusResponse, error) { return nil, rpcerr.NotLeader(id, addr) }
}

func leaderAnswer(id uint64) func(context.Context) (*placementpb.StatusResponse, error) {
	return func(context.Context) (*placementpb.StatusResponse, error) {
		return &placementpb.StatusResponse{MemberId: id, LeaderId: id, RaftState: "leader"}, nil
	}
}

func failWith(err error) func(context.Context) (*placementpb.StatusResponse, error) {
	return func(context.Context) (*placementpb.StatusResponse, error) { return nil, err }
}

func hang(ctx context.Context) (*placementpb.StatusResponse, error) {
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}

func dial(t *testing.T, addrs []string, opts Options) *Client {
	t.Helper()
	c, err := Dial(addrs, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func status3(t *testing.T, c *Client, timeout time.Duration) (*placementpb.StatusResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return placementpb.NewClusterServiceClient(c).Status(ctx, &placementpb.StatusRequest{})
}

// threeMembers starts members 1 and 2 as followers pointing at member 3,
// the leader.
func threeMembers(t *testing.T) (m1, m2, m3 *member) {
	t.Helper()
	l1, l2, l3 := listen(t), listen(t), listen(t)
	leaderAddr := l3.Addr().String()
	m1 = serve(t, l1, notLeader(3, leaderAddr))
	m2 = serve(t, l2, notLeader(3, leaderAddr))
	m3 = serve(t, l3, leaderAnswer(3))
	return m1, m2, m3
}

func TestFollowsHintAndCachesLeader(t *testing.T) {
	m1, m2, m3 := threeMembers(t)
	c := dial(t, []string{m1.addr, m2.addr, m3.addr}, Options{})
	if got := c.Leader(); got != m1.addr {
		t.Fatalf("initial Leader() = %s, want first address %s", got, m1.addr)
	}

	resp, err := status3(t, c, 10*time.Second)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if resp.GetMemberId() != 3 {
		t.Fatalf("answered by member %d, want 3", resp.GetMemberId())
	}
	if got := c.Leader(); got != m3.addr {
		t.Fatalf("Leader() = %s, want %s", got, m3.addr)
	}
	if n1, n2, n3 := m1.calls.Load(), m2.calls.Load(), m3.calls.Load(); n1 != 1 || n2 != 0 || n3 != 1 {
		t.Fatalf("calls after first = %d/%d/%d, want 1/0/1 (follower once, then the hinted leader)", n1, n2, n3)
	}

	if _, err := status3(t, c, 10*time.Second); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if n1, n2, n3 := m1.calls.Load(), m2.calls.Load(), m3.calls.Load(); n1 != 1 || n2 != 0 || n3 != 2 {
		t.Fatalf("calls after second = %d/%d/%d, want 1/0/2 (straight to the cached leader)", n1, n2, n3)
	}
}

func TestFollowsHintToUnconfiguredAddress(t *testing.T) {
	l1, l3 := listen(t), listen(t)
	m1 := serve(t, l1, notLeader(3, l3.Addr().String()))
	m3 := serve(t, l3, leaderAnswer(3))
	c := dial(t, []string{m1.addr}, Options{})

	if _, err := status3(t, c, 10*time.Second); err != nil {
		t.Fatalf("call: %v", err)
	}
	if got := c.Leader(); got != m3.addr {
		t.Fatalf("Leader() = %s, want hinted %s", got, m3.addr)
	}
	if m3.calls.Load() != 1 {
		t.Fatalf("hinted leader got %d calls, want 1", m3.calls.Load())
	}
}

func TestSweepsPastUnusableMember(t *testing.T) {
	cases := []struct {
		name  string
		first func(t *testing.T) string
	}{
		{"closed listener", deadAddr},
		{"unavailable without hint", func(t *testing.T) string {
			return serve(t, listen(t), notLeader(0, "")).addr
		}},
		{"shutting down", func(t *testing.T) string {
			return serve(t, listen(t), failWith(status.Error(codes.Unavailable, "draining"))).addr
		}},
		{"hanging member", func(t *testing.T) string {
			return serve(t, listen(t), hang).addr
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := tc.first(t)
			leader := serve(t, listen(t), leaderAnswer(7))
			c := dial(t, []string{first, leader.addr}, Options{AttemptTimeout: 300 * time.Millisecond})
			resp, err := status3(t, c, 10*time.Second)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if resp.GetMemberId() != 7 {
				t.Fatalf("answered by %d, want 7", resp.GetMemberId())
			}
			if got := c.Leader(); got != leader.addr {
				t.Fatalf("Leader() = %s, want %s", got, leader.addr)
			}
		})
	}
}

func TestNeverRetriesServerAnswers(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code codes.Code
	}{
		{"not found", rpcerr.NotFound("node", "n1"), codes.NotFound},
		{"version mismatch", rpcerr.VersionMismatch("kv", "k", 1, 2), codes.FailedPrecondition},
		{"invalid argument", rpcerr.InvalidArgument("name", "empty"), codes.InvalidArgument},
		{"permission denied", status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied},
		{"internal", status.Error(codes.Internal, "boom"), codes.Internal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m1 := serve(t, listen(t), failWith(tc.err))
			m2 := serve(t, listen(t), leaderAnswer(2))
			c := dial(t, []string{m1.addr, m2.addr}, Options{})
			_, err := status3(t, c, 10*time.Second)
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.code)
			}
			if n1, n2 := m1.calls.Load(), m2.calls.Load(); n1 != 1 || n2 != 0 {
				t.Fatalf("calls = %d/%d, want 1/0: an answer must not be retried elsewhere", n1, n2)
			}
		})
	}
}

func TestGivesUpAtDeadlineWithLastError(t *testing.T) {
	m1 := serve(t, listen(t), notLeader(0, ""))
	m2 := serve(t, listen(t), notLeader(0, ""))
	c := dial(t, []string{m1.addr, m2.addr, deadAddr(t)}, Options{
		InitialBackoff: 20 * time.Millisecond,
		MaxBackoff:     80 * time.Millisecond,
	})

	const deadline = 500 * time.Millisecond
	start := time.Now()
	_, err := status3(t, c, deadline)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("call succeeded with no leader anywhere")
	}
	if elapsed < deadline-50*time.Millisecond || elapsed > deadline+5*time.Second {
		t.Fatalf("gave up after %v, want about %v", elapsed, deadline)
	}
	if got := status.Code(err); got != codes.Unavailable {
		t.Fatalf("code = %v (%v), want Unavailable from the last completed attempt", got, err)
	}
	total := m1.calls.Load() + m2.calls.Load()
	if total < 2 {
		t.Fatalf("only %d calls reached live members; the client did not sweep", total)
	}
	// Rounds of four attempts are separated by pauses of at least 15ms,
	// so 500ms allows well under 200 attempts; more means no backoff.
	if total > 200 {
		t.Fatalf("%d calls in %v: backoff is not pacing the sweep", total, deadline)
	}
}

func TestLastErrorKeepsDetail(t *testing.T) {
	m1 := serve(t, listen(t), notLeader(0, ""))
	c := dial(t, []string{m1.addr}, Options{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	_, err := status3(t, c, 300*time.Millisecond)
	if _, ok := rpcerr.AsNotLeader(err); !ok {
		t.Fatalf("AsNotLeader(%v) found no detail", err)
	}
}

func TestCallTimeoutAppliesWithoutDeadline(t *testing.T) {
	c := dial(t, []string{deadAddr(t), deadAddr(t)}, Options{
		CallTimeout:    400 * time.Millisecond,
		InitialBackoff: 10 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
	})
	start := time.Now()
	_, err := placementpb.NewClusterServiceClient(c).Status(context.Background(), &placementpb.StatusRequest{})
	elapsed := time.Since(start)
	if got := status.Code(err); got != codes.Unavailable {
		t.Fatalf("code = %v (%v), want Unavailable", got, err)
	}
	if elapsed < 350*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("returned after %v, want about the 400ms CallTimeout", elapsed)
	}
}

func TestCallerCancelStopsRetries(t *testing.T) {
	m1 := serve(t, listen(t), notLeader(0, ""))
	c := dial(t, []string{m1.addr}, Options{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := placementpb.NewClusterServiceClient(c).Status(ctx, &placementpb.StatusRequest{})
	if err == nil {
		t.Fatal("call succeeded")
	}
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Fatalf("returned %v after cancel; retries ignored the caller", elapsed)
	}
}

func TestNewStreamSweepsOnOpenFailure(t *testing.T) {
	live := serve(t, listen(t), leaderAnswer(1))
	c := dial(t, []string{deadAddr(t), live.addr}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	stream, err := healthpb.NewHealthClient(c).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status = %v, want SERVING", resp.GetStatus())
	}
	if got := c.Leader(); got != live.addr {
		t.Fatalf("Leader() = %s, want %s", got, live.addr)
	}
}

func TestClosedClientRefusesCalls(t *testing.T) {
	_, _, m3 := threeMembers(t)
	c := dial(t, []string{m3.addr}, Options{})
	if _, err := status3(t, c, 10*time.Second); err != nil {
		t.Fatalf("call before close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := status3(t, c, 10*time.Second)
	if got := status.Code(err); got != codes.Canceled {
		t.Fatalf("code after close = %v (%v), want Canceled", got, err)
	}
}

func TestConcurrentCallsConverge(t *testing.T) {
	m1, m2, m3 := threeMembers(t)
	c := dial(t, []string{m1.addr, m2.addr, m3.addr}, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16*5)
	for range 16 {
		wg.Go(func() {
			for range 5 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := placementpb.NewClusterServiceClient(c).Status(ctx, &placementpb.StatusRequest{})
				cancel()
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call: %v", err)
	}
	if m3.calls.Load() != 80 {
		t.Fatalf("leader answered %d calls, want 80", m3.calls.Load())
	}
	if c.Leader() != m3.addr {
		t.Fatalf("Leader() = %s, want %s", c.Leader(), m3.addr)
	}
}

func TestDialValidates(t *testing.T) {
	cases := []struct {
		name  string
		addrs []string
	}{
		{"no addresses", nil},
		{"empty address", []string{"127.0.0.1:1", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Dial(tc.addrs, Options{}); err == nil {
				t.Fatal("Dial accepted invalid addresses")
			}
		})
	}
	c, err := Dial([]string{"127.0.0.1:1", "127.0.0.1:1"}, Options{})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if len(c.addrs) != 1 {
		t.Fatalf("duplicates kept: %v", c.addrs)
	}
}
