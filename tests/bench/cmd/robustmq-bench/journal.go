package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/robustmq/robustmq-go/tests/bench/internal/journalbench"
)

// runJournal is `robustmq-bench journal [flags]` and `robustmq-bench journal check
// --expect N` (validate a run's JSON lines on stdin).
func runJournal(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return suite[journalbench.Options]{name: "journal", parse: journalbench.ParseFlags, run: journalbench.Run, check: runJournalCheck}.main(ctx, args, stdin, stdout, stderr)
}

func runJournalCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("journal check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	expect := fs.Int("expect", 0, "number of step lines the output must hold (0: at least one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	steps, goals, err := journalbench.ParseOutput(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "journal check:", err)
		return 1
	}
	if (*expect == 0 && len(steps) == 0) || (*expect > 0 && len(steps) != *expect) {
		fmt.Fprintf(stderr, "journal check: %d step lines, want %d\n", len(steps), max(*expect, 1))
		return 1
	}
	fmt.Fprintf(stdout, "journal check: %d step lines and the goals line parsed; every system acknowledged records in each step (goals %+v)\n", len(steps), goals.Goals)
	return 0
}
