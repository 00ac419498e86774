package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/robustmq/robustmq-go/common/grpcbuf"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultMaxRecvMsgBytes = 4 << 20
	DefaultShutdownTimeout = 10 * time.Second
)

// Options configures a Server.
type Options struct {
	// Addr is the listen address, e.g. "127.0.0.1:1228"; port 0 picks a
	// free port (see Server.Addr).
	Addr   string
	Logger zerolog.Logger
	// Registerer receives the gRPC server metrics (grpc_server_*). Nil
	// disables metrics. Servers of one process may share a registerer:
	// they then share one set of metrics.
	Registerer prometheus.Registerer
	// MaxRecvMsgBytes bounds one request message; larger ones are refused
	// with codes.ResourceExhausted before any handler runs.
	MaxRecvMsgBytes int
	// MaxSendMsgBytes bounds one response message; zero keeps grpc's
	// default.
	MaxSendMsgBytes int
	// ShutdownTimeout bounds the graceful stop in Serve; calls still
	// running after it are cut.
	ShutdownTimeout time.Duration
	// ExtraUnary and ExtraStream run after the standard interceptors
	// (metrics, logging) and inside panic recovery.
	ExtraUnary  []grpc.UnaryServerInterceptor
	ExtraStream []grpc.StreamServerInterceptor
	// ServerOptions are passed to grpc.NewServer after the package's own
	// (keepalive, credentials, ...).
	ServerOptions []grpc.ServerOption
}

// Server is a listening gRPC server with the standard interceptors,
// health and reflection. Register services on GRPC() before Serve.
type Server struct {
	lis             net.Listener
	grpc            *grpc.Server
	health          *health.Server
	metrics         *grpcprom.ServerMetrics // nil when metrics are off
	logger          zerolog.Logger
	shutdownTimeout time.Duration

	stopOnce sync.Once
}

// New listens on opts.Addr and builds the server. Nothing is served until
// Serve is called; the listener is closed by Serve's return or by Stop.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		return nil, errors.New("grpcserver: empty listen address")
	}
	if opts.MaxRecvMsgBytes <= 0 {
		opts.MaxRecvMsgBytes = DefaultMaxRecvMsgBytes
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	// The caller names the component on opts.Logger (adding it here too
	// would print the field twice).
	logger := opts.Logger

	metrics, err := registerMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}

	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	// Metrics and logging are outermost so they record the code a
	// recovered panic turns into; recovery is innermost so it also covers
	// the extra interceptors.
	if metrics != nil {
		unary = append(unary, metrics.UnaryServerInterceptor())
		stream = append(stream, metrics.StreamServerInterceptor())
	}
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(codeToLevel),
	}
	unary = append(unary, logging.UnaryServerInterceptor(InterceptorLogger(logger), logOpts...))
	stream = append(stream, logging.StreamServerInterceptor(InterceptorLogger(logger), logOpts...))
	unary = append(unary, opts.ExtraUnary...)
	stream = append(stream, opts.ExtraStream...)
	recoverOpt := recovery.WithRecoveryHandlerContext(panicHandler(logger))
	unary = append(unary, recovery.UnaryServerInterceptor(recoverOpt))
	stream = append(stream, recovery.StreamServerInterceptor(recoverOpt))

	serverOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(opts.MaxRecvMsgBytes),
	}
	serverOpts = append(serverOpts, grpcbuf.ServerOptions()...)
	if opts.MaxSendMsgBytes > 0 {
		serverOpts = append(serverOpts, grpc.MaxSendMsgSize(opts.MaxSendMsgBytes))
	}
	serverOpts = append(serverOpts, opts.ServerOptions...)

	lis, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("grpcserver: listen %s: %w", opts.Addr, err)
	}
	gs := grpc.NewServer(serverOpts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	return &Server{
		lis:             lis,
		grpc:            gs,
		health:          hs,
		metrics:         metrics,
		logger:          logger,
		shutdownTimeout: opts.ShutdownTimeout,
	}, nil
}

// registerMetrics creates the server metrics on reg, or reuses the ones
// an earlier server of this process registered there.
func registerMetrics(reg prometheus.Registerer) (*grpcprom.ServerMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	if err := reg.Register(m); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			if existing, ok := dup.ExistingCollector.(*grpcprom.ServerMetrics); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("grpcserver: register metrics: %w", err)
	}
	return m, nil
}

// codeToLevel keeps successful calls (heartbeats, health checks) and
// answers that are ordinary outcomes rather than failures (a key that does
// not exist yet, a compare-and-set that lost) at debug so they do not drown
// the log, and otherwise follows the library.
func codeToLevel(code codes.Code) logging.Level {
	switch code {
	case codes.OK, codes.NotFound, codes.FailedPrecondition, codes.Aborted:
		return logging.LevelDebug
	}
	return logging.DefaultServerCodeToLevel(code)
}

// panicHandler logs a handler panic with its stack and turns it into
// codes.Internal; the panic value is not sent to the client, which may
// not be trusted with internals.
func panicHandler(logger zerolog.Logger) recovery.RecoveryHandlerFuncContext {
	return func(_ context.Context, p any) error {
		logger.Error().
			Str("panic", fmt.Sprint(p)).
			Bytes("stack", debug.Stack()).
			Msg("grpc handler panicked")
		return status.Error(codes.Internal, "internal error")
	}
}

// GRPC returns the underlying server, to register services on before
// Serve.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Health returns the health service, for per-service status.
func (s *Server) Health() *health.Server { return s.health }

// SetServing sets the health status of service ("" is the whole server).
func (s *Server) SetServing(service string, serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus(service, st)
}

// Addr returns the address the server listens on (with the real port when
// Options.Addr asked for port 0).
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Serve serves until ctx ends, then reports NOT_SERVING, stops gracefully
// within ShutdownTimeout and cuts what is left. It returns nil after a
// shutdown asked for by ctx or Stop, and the serve error otherwise.
func (s *Server) Serve(ctx context.Context) error {
	if s.metrics != nil {
		// Pre-create the per-method series so dashboards show zeros, not
		// gaps, for methods not called yet.
		s.metrics.InitializeMetrics(s.grpc)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.grpc.Serve(s.lis) }()
	s.logger.Info().Str("addr", s.Addr().String()).Msg("grpc server serving")

	select {
	case err := <-serveErr:
		// Stop was called, or the listener failed.
		s.Stop()
		if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpcserver: serve %s: %w", s.Addr(), err)
		}
		return nil
	case <-ctx.Done():
	}

	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.shutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.logger.Warn().Dur("timeout", s.shutdownTimeout).Msg("grpc graceful stop timed out; cutting remaining calls")
		s.grpc.Stop()
		<-stopped
	}
	<-serveErr
	s.logger.Info().Msg("grpc server stopped")
	return nil
}

// Stop cuts all connections and calls at once and closes the listener,
// whether or not Serve was called. It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.health.Shutdown()
		s.grpc.Stop()
		// grpc closes only listeners handed to Serve; close ours in case
		// Serve never ran.
		_ = s.lis.Close()
	})
}
