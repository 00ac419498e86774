package rtt

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"
)

// ParseFlags reads `robustmq-bench rtt` flags.
func ParseFlags(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("rtt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.IntVar(&o.Count, "count", 5000, "round trips per transport")
	fs.IntVar(&o.Size, "size", 1100, "request bytes (a 1 KiB record's batch)")
	fs.DurationVar(&o.Pause, "pause", 200*time.Microsecond, "idle time between round trips (as between appends at C = 1)")
	return o, fs.Parse(args)
}

// Report prints res as a table, the gRPC / TCP ratios and one JSON line.
func Report(w io.Writer, o Options, res []Result) error {
	fmt.Fprintf(w, "loopback round trip, %d-byte request, %v between round trips, %d each\n", o.Size, o.Pause, o.Count)
	fmt.Fprintf(w, "%12s  %8s  %8s  %8s\n", "transport", "p50 ms", "p90 ms", "mean ms")
	for _, r := range res {
		fmt.Fprintf(w, "%12s  %8.3f  %8.3f  %8.3f\n", r.Transport, r.P50Ms, r.P90Ms, r.MeanMs)
	}
	if len(res) == 2 && res[1].P50Ms > 0 && res[1].MeanMs > 0 {
		fmt.Fprintf(w, "%s / %s: p50 %.2fx, mean %.2fx\n", res[0].Transport, res[1].Transport, res[0].P50Ms/res[1].P50Ms, res[0].MeanMs/res[1].MeanMs)
	}
	line, err := json.Marshal(struct {
		Bench   string   `json:"bench"`
		Size    int      `json:"size"`
		PauseUs int64    `json:"pause_us"`
		Results []Result `json:"results"`
	}{"rtt", o.Size, o.Pause.Microseconds(), res})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(line))
	return err
}
