package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// shutdownTimeout bounds the graceful shutdown in Serve; scrapes and
// health checks are short, so anything still running after it is cut.
const shutdownTimeout = 5 * time.Second

// Server serves /metrics and /healthz.
type Server struct {
	lis    net.Listener
	http   *http.Server
	logger zerolog.Logger
}

// New listens on addr (port 0 picks a free port, see Addr). g is what
// /metrics exposes; healthy decides /healthz and may be nil (always
// healthy). It must be quick and safe for concurrent calls.
func New(addr string, g prometheus.Gatherer, healthy func() error, logger zerolog.Logger) (*Server, error) {
	if g == nil {
		return nil, errors.New("httpserver: nil gatherer")
	}
	if healthy == nil {
		healthy = func() error { return nil }
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		// A failing collector should not blank the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promLogger{logger},
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := healthy(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintln(w, err.Error())
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
	})

	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("httpserver: listen %s: %w", addr, err)
	}
	return &Server{
		lis: lis,
		http: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		logger: logger,
	}, nil
}

// Addr returns the listening address (with the real port).
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Serve serves until ctx ends, then shuts down gracefully within a few
// seconds. It returns nil after a shutdown asked for by ctx or Close.
func (s *Server) Serve(ctx context.Context) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.http.Serve(s.lis) }()
	s.logger.Info().Str("addr", s.Addr().String()).Msg("http server serving")

	select {
	case err := <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("httpserver: serve %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(shutdownCtx)
	<-serveErr
	if err != nil {
		// Connections still open after the bound: cut them.
		_ = s.http.Close()
		s.logger.Warn().Err(err).Msg("http shutdown timed out")
	}
	return nil
}

// Close stops the server at once and closes the listener, whether or not
// Serve was called.
func (s *Server) Close() error {
	err := s.http.Close()
	// http.Server closes only listeners handed to Serve; close ours in
	// case Serve never ran.
	if lerr := s.lis.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("httpserver: close: %w", err)
	}
	return nil
}

// promLogger routes promhttp's error log to zerolog.
type promLogger struct{ logger zerolog.Logger }

func (l promLogger) Println(v ...any) {
	l.logger.Error().Msg(fmt.Sprint(v...))
}
