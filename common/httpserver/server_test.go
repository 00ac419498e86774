package httpserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// serve starts a server on a free loopback port and stops it at cleanup,
// checking Serve returns nil.
func serve(t *testing.T, g prometheus.Gatherer, healthy func() error) *Server {
	t.Helper()
	srv, err := New("127.0.0.1:0", g, healthy, zerolog.Nop())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve = %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return srv
}

func get(t *testing.T, srv *Server, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + srv.Addr().String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func TestMetricsExposesGatherer(t *testing.T) {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "robustmq_test_requests_total", Help: "test"})
	reg.MustRegister(requests)
	requests.Add(3)
	srv := serve(t, reg, nil)

	code, body := get(t, srv, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics status %d", code)
	}
	if !strings.Contains(body, "robustmq_test_requests_total 3") {
		t.Fatalf("/metrics lacks the counter:\n%s", body)
	}
}

func TestHealthzFollowsCheck(t *testing.T) {
	var failing atomic.Bool
	srv := serve(t, prometheus.NewRegistry(), func() error {
		if failing.Load() {
			return errors.New("raft: no leader")
		}
		return nil
	})
	cases := []struct {
		name     string
		failing  bool
		wantCode int
		wantBody string
	}{
		{"healthy", false, http.StatusOK, "ok"},
		{"unhealthy", true, http.StatusServiceUnavailable, "raft: no leader"},
		{"healthy again", false, http.StatusOK, "ok"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			failing.Store(tc.failing)
			code, body := get(t, srv, "/healthz")
			if code != tc.wantCode || strings.TrimSpace(body) != tc.wantBody {
				t.Fatalf("/healthz = %d %q, want %d %q", code, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

func TestUnknownPathIs404(t *testing.T) {
	srv := serve(t, prometheus.NewRegistry(), nil)
	if code, _ := get(t, srv, "/debug"); code != http.StatusNotFound {
		t.Fatalf("/debug status %d, want 404", code)
	}
}

func TestCloseWithoutServeReleasesPort(t *testing.T) {
	srv, err := New("127.0.0.1:0", prometheus.NewRegistry(), nil, zerolog.Nop())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	addr := srv.Addr().String()
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	again, err := New(addr, prometheus.NewRegistry(), nil, zerolog.Nop())
	if err != nil {
		t.Fatalf("port %s still held after Close: %v", addr, err)
	}
	_ = again.Close()
}

func TestNewRejectsBadInput(t *testing.T) {
	if _, err := New("127.0.0.1:0", nil, nil, zerolog.Nop()); err == nil {
		t.Error("nil gatherer accepted")
	}
	if _, err := New("127.0.0.1:notaport", prometheus.NewRegistry(), nil, zerolog.Nop()); err == nil {
		t.Error("bad address accepted")
	}
}
