package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/robustmq/robustmq-go/tests/bench/internal/rtt"
)

// runRTT is `robustmq-bench rtt [--count N] [--size B] [--pause D]`.
func runRTT(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := rtt.ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	res, err := rtt.Run(ctx, o)
	if err == nil {
		err = rtt.Report(stdout, o, res)
	}
	if err != nil {
		fmt.Fprintln(stderr, "robustmq-bench rtt:", err)
		return 1
	}
	return 0
}
