package logging

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Formats accepted by New.
const (
	FormatAuto    = "auto"
	FormatJSON    = "json"
	FormatConsole = "console"
)

// New returns a logger writing to w at the given level ("debug", "info",
// "warn", "error", ...; empty means info) in the given format: "json",
// "console", or "auto" (console when w is a terminal, JSON otherwise;
// empty means auto). Every event carries a timestamp.
func New(w io.Writer, level string, format string) (zerolog.Logger, error) {
	lvl := zerolog.InfoLevel
	if level != "" {
		parsed, err := zerolog.ParseLevel(strings.ToLower(level))
		if err != nil {
			return zerolog.Nop(), fmt.Errorf("logging: level %q: %w", level, err)
		}
		lvl = parsed
	}

	switch strings.ToLower(format) {
	case FormatJSON:
	case FormatConsole:
		w = consoleWriter(w)
	case FormatAuto, "":
		if isTerminal(w) {
			w = consoleWriter(w)
		}
	default:
		return zerolog.Nop(), fmt.Errorf("logging: format %q: want %s, %s or %s", format, FormatAuto, FormatJSON, FormatConsole)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func consoleWriter(w io.Writer) io.Writer {
	return zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
}

// isTerminal reports whether w is a file descriptor attached to a
// terminal (os.Stdout on an interactive shell, for example).
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	fd := f.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}
