package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/robustmq/robustmq-go/tests/bench/internal/journalbench"
)

// runJournal is `robustmq-bench journal [flags]` (the journal vs JetStream
// benchmark) and `robustmq-bench journal check --expect N` (validate a
// run's JSON lines on stdin).
func runJournal(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return runJournalCheck(args[1:], stdin, stdout, stderr)
	}
	binDir := "."
	if exe, err := os.Executable(); err == nil {
		binDir = filepath.Dir(exe)
	}
	opts, err := journalbench.ParseFlags(args, binDir, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "robustmq-bench journal:", err)
		return 2
	}
	if err := journalbench.Run(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "robustmq-bench journal: FAILED:", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	return 0
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
