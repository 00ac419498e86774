package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("no raft leader known\n"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/healthz"
	_ = l.Close()

	for _, tc := range []struct {
		url, wantBody, wantErr string
	}{
		{srv.URL + "/ok", "ok", ""},
		{srv.URL + "/down", "", "503 Service Unavailable: no raft leader known"},
		{srv.URL + "/missing", "", "404"},
		{closed, "", "connection refused"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := Check(ctx, srv.Client(), tc.url)
		cancel()
		if tc.wantErr == "" {
			if err != nil || body != tc.wantBody {
				t.Errorf("Check(%s) = %q, %v; want %q", tc.url, body, err, tc.wantBody)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Check(%s) error = %v; want one containing %q", tc.url, err, tc.wantErr)
		}
	}
}
