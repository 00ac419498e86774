package journalbench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// PprofEnv is the environment variable that makes a journal-server built
// with testdata/journal_pprof_overlay.go (scripts/bench-journal.sh
// --profile) serve net/http/pprof and write its address into that
// directory.
const PprofEnv = "RMQ_BENCH_PPROF_DIR"

// profiler collects profiles of the journal nodes during the measured
// runs; a nil *profiler does nothing.
type profiler struct {
	dir    string
	stderr io.Writer
}

// addrs maps node id -> pprof address, from the files the nodes wrote.
func (p *profiler) addrs() map[string]string {
	out := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(p.dir, "node-*.addr"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "node-"), ".addr")
		out[id] = strings.TrimSpace(string(b))
	}
	return out
}

func (p *profiler) fetch(ctx context.Context, url, file string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(p.stderr, "profile: %s: %v\n", url, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, io.LimitReader(resp.Body, 256<<20))
}

// during starts collecting for a measured run of length d at concurrency
// conc: a CPU profile over most of the run and a goroutine dump half way
// on every node; the returned func waits for them and then takes the
// cumulative block and mutex profiles and the nodes' metrics.
func (p *profiler) during(ctx context.Context, conc int, d time.Duration, metricsAddrs []string) func() {
	if p == nil {
		return func() {}
	}
	secs := max(1, int((d-time.Second)/time.Second))
	secs = min(secs, 20)
	var wg sync.WaitGroup
	addrs := p.addrs()
	for id, a := range addrs {
		base := filepath.Join(p.dir, fmt.Sprintf("c%d-node%s", conc, id))
		wg.Go(func() {
			p.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", a, secs), base+"-cpu.pprof")
		})
		wg.Go(func() {
			select {
			case <-time.After(d / 2):
			case <-ctx.Done():
				return
			}
			p.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", a), base+"-goroutine.txt")
		})
	}
	for i, m := range metricsAddrs {
		p.fetch(ctx, "http://"+m+"/metrics", filepath.Join(p.dir, fmt.Sprintf("c%d-node%d-metrics-before.txt", conc, i+1)))
	}
	return func() {
		wg.Wait()
		for id, a := range addrs {
			base := filepath.Join(p.dir, fmt.Sprintf("c%d-node%s", conc, id))
			p.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/block", a), base+"-block.pprof")
			p.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/mutex", a), base+"-mutex.pprof")
		}
		for i, m := range metricsAddrs {
			p.fetch(ctx, "http://"+m+"/metrics", filepath.Join(p.dir, fmt.Sprintf("c%d-node%d-metrics-after.txt", conc, i+1)))
		}
		fmt.Fprintf(p.stderr, "profiles of concurrency %d in %s\n", conc, p.dir)
	}
}
