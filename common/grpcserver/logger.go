package grpcserver

import (
	"context"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/rs/zerolog"
)

// InterceptorLogger adapts a zerolog.Logger to the logger interface of
// go-grpc-middleware's logging interceptors (server or client side). The
// interceptor's fields arrive as alternating keys and values, which is the
// form zerolog's Fields accepts for a slice.
func InterceptorLogger(l zerolog.Logger) logging.Logger {
	return logging.LoggerFunc(func(_ context.Context, lvl logging.Level, msg string, fields ...any) {
		l.WithLevel(zerologLevel(lvl)).Fields(fields).Msg(msg)
	})
}

func zerologLevel(lvl logging.Level) zerolog.Level {
	switch {
	case lvl < logging.LevelInfo:
		return zerolog.DebugLevel
	case lvl < logging.LevelWarn:
		return zerolog.InfoLevel
	case lvl < logging.LevelError:
		return zerolog.WarnLevel
	default:
		return zerolog.ErrorLevel
	}
}
