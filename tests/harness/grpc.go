package harness

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// DialOptions are the options every harness connection uses: plaintext,
// and a reconnect backoff capped at half a second. gRPC's default grows to
// two minutes, so a connection to a member that was down for a while
// would otherwise keep failing long after the member is back.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  50 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   500 * time.Millisecond,
			},
			MinConnectTimeout: 2 * time.Second,
		}),
	}
}

// Dial returns a lazily connecting client connection to addr that is
// closed when the test ends.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, DialOptions()...)
	if err != nil {
		t.Fatalf("harness: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// HealthServing is a Spec.Ready probe: the standard gRPC health service on
// conn reports the whole server ("") SERVING.
func HealthServing(conn *grpc.ClientConn) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health: %s", resp.GetStatus())
		}
		return nil
	}
}
