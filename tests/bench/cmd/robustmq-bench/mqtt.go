package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/robustmq/robustmq-go/tests/bench/internal/mqttbench"
)

// runMQTT is `robustmq-bench mqtt [flags]` and `robustmq-bench mqtt check
// --expect N` (validate a run's JSON lines on stdin).
func runMQTT(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return suite[mqttbench.Options]{name: "mqtt", parse: mqttbench.ParseFlags, run: mqttbench.Run, check: runMQTTCheck}.main(ctx, args, stdin, stdout, stderr)
}

func runMQTTCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mqtt check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	expect := fs.Int("expect", 0, "number of step lines the output must hold (0: at least one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sum, err := mqttbench.ParseOutput(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "mqtt check:", err)
		return 1
	}
	n := len(sum.Steps)
	if (*expect == 0 && n == 0) || (*expect > 0 && n != *expect) {
		fmt.Fprintf(stderr, "mqtt check: %d step lines, want %d\n", n, max(*expect, 1))
		return 1
	}
	fmt.Fprintf(stdout, "mqtt check: %d step lines parsed (qos1 %d, qos0-fanin %d, slow-subscriber %d); both systems published and delivered in each\n",
		n, sum.Count(mqttbench.ScenarioQoS1), sum.Count(mqttbench.ScenarioQoS0), sum.Count(mqttbench.ScenarioSlow))
	return 0
}
