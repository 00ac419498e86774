package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// suite is one benchmark package as the command drives it.
type suite[O any] struct {
	name  string
	parse func(args []string, binDir string, stderr io.Writer) (O, error)
	run   func(ctx context.Context, opts O, stdout, stderr io.Writer) error
	// check validates a run's JSON lines on stdin (`NAME check ...`).
	check func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// main is `robustmq-bench NAME [flags]` (binaries are looked up next to
// this executable) and `robustmq-bench NAME check ...`. Exit codes: 0 ok,
// 1 the benchmark failed, 2 bad flags, 130 interrupted.
func (s suite[O]) main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return s.check(args[1:], stdin, stdout, stderr)
	}
	binDir := "."
	if exe, err := os.Executable(); err == nil {
		binDir = filepath.Dir(exe)
	}
	opts, err := s.parse(args, binDir, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "robustmq-bench %s: %v\n", s.name, err)
		return 2
	}
	if err := s.run(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "robustmq-bench %s: FAILED: %v\n", s.name, err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	return 0
}
