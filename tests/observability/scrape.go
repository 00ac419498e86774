package observability

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Exposition is one scrape of a /metrics endpoint in the Prometheus text
// format: the metric families it declares and its samples.
type Exposition struct {
	// Types maps each family declared by a "# TYPE" line to its type
	// (counter, gauge, histogram, summary, untyped).
	Types map[string]string
	// Samples maps each sample's series (name{labels} as written) to its
	// value.
	Samples map[string]float64
	// Names holds the name of every sample (histogram samples under their
	// _bucket, _sum and _count names).
	Names map[string]bool
}

// Scrape reads http://addr/metrics.
func Scrape(ctx context.Context, addr string) (*Exposition, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", addr, resp.Status)
	}
	return ParseExposition(resp.Body)
}

// ParseExposition parses the Prometheus text format.
func ParseExposition(r io.Reader) (*Exposition, error) {
	e := &Exposition{Types: map[string]string{}, Samples: map[string]float64{}, Names: map[string]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) == 2 {
				e.Types[f[0]] = f[1]
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value := line, ""
		if i := strings.LastIndex(line, "} "); i >= 0 {
			series, value = line[:i+1], strings.TrimSpace(line[i+2:])
		} else if f := strings.Fields(line); len(f) >= 2 {
			series, value = f[0], f[1]
		}
		if f := strings.Fields(value); len(f) > 0 {
			value = f[0] // a timestamp may follow
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("sample %q: %w", line, err)
		}
		e.Samples[series] = v
		name := series
		if i := strings.IndexByte(series, '{'); i >= 0 {
			name = series[:i]
		}
		e.Names[name] = true
	}
	return e, sc.Err()
}

// Has reports whether the exposition has samples of metric name. A
// histogram's or summary's _bucket, _sum and _count names resolve to its
// family, so both the family name and the suffixed names are found.
func (e *Exposition) Has(name string) bool {
	if e.Names[name] {
		return true
	}
	switch e.Types[name] {
	case "histogram", "summary":
		return e.Names[name+"_count"]
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if t := e.Types[base]; t == "histogram" || (t == "summary" && suf != "_bucket") {
				return e.Names[base+"_count"]
			}
		}
	}
	return false
}

// Sum adds the values of the samples of name whose label set contains
// every given label pair (written name="value"; none: all samples).
func (e *Exposition) Sum(name string, labels ...string) float64 {
	total := 0.0
	for series, v := range e.Samples {
		n, ls := series, ""
		if i := strings.IndexByte(series, '{'); i >= 0 {
			n, ls = series[:i], series[i:]
		}
		if n != name {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(ls, "{"+l+",") && !strings.Contains(ls, ","+l+",") &&
				!strings.Contains(ls, ","+l+"}") && !strings.Contains(ls, "{"+l+"}") {
				match = false
			}
		}
		if match {
			total += v
		}
	}
	return total
}
