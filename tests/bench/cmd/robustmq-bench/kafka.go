package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/robustmq/robustmq-go/tests/bench/internal/kafkabench"
)

// runKafka is `robustmq-bench kafka [flags]` and `robustmq-bench kafka check
// --expect N` (validate a run's JSON lines on stdin).
func runKafka(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return suite[kafkabench.Options]{name: "kafka", parse: kafkabench.ParseFlags, run: kafkabench.Run, check: runKafkaCheck}.main(ctx, args, stdin, stdout, stderr)
}

func runKafkaCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kafka check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	expect := fs.Int("expect", 0, "number of step lines the output must hold (0: at least one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	steps, goals, err := kafkabench.ParseOutput(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "kafka check:", err)
		return 1
	}
	if (*expect == 0 && len(steps) == 0) || (*expect > 0 && len(steps) != *expect) {
		fmt.Fprintf(stderr, "kafka check: %d step lines, want %d\n", len(steps), max(*expect, 1))
		return 1
	}
	fmt.Fprintf(stdout, "kafka check: %d step lines and the goals line parsed; every system acknowledged records in each step (goals %+v)\n", len(steps), goals.Goals)
	return 0
}
