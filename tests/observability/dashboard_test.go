package observability

import (
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// dashboardPath is deploy/grafana/robustmq.json of this checkout.
func dashboardPath(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "grafana", "robustmq.json")
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`rate(robustmq_x_total[1m])`: {"robustmq_x_total"},
		`histogram_quantile(0.99, sum by (le, instance) (rate(robustmq_h_seconds_bucket{job="j", le!="x"}[5m])))`: {"robustmq_h_seconds_bucket"},
		`sum without (instance) (a) / on (job) group_left (x) b + count(c offset 5m) > bool 2`:                    {"a", "b", "c"},
		`max(robustmq_a) or vector(0)`:                      {"robustmq_a"},
		`{__name__="ignored"} + "str(ing" + d`:              {"d"},
		`sum(rate(x:recorded:rate5m[1m])) * 1e3`:            {"x:recorded:rate5m"},
		`topk(3, robustmq_b) unless robustmq_c`:             {"robustmq_b", "robustmq_c"},
		`sum by (state) (e) + max without(x)(f) + sum(bye)`: {"bye", "e", "f"},
	} {
		if got := MetricNames(expr); !slices.Equal(got, want) {
			t.Errorf("MetricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

// TestDashboardShape: the dashboard decodes, every query goes to the data
// source chosen by the "datasource" template variable, and every query
// selects at least one metric named by the project's conventions.
func TestDashboardShape(t *testing.T) {
	d, err := LoadDashboard(dashboardPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Fatalf("dashboard uid %q title %q", d.UID, d.Title)
	}
	hasVar := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasVar = true
		}
	}
	if !hasVar {
		t.Fatal(`no "datasource" template variable of type datasource (prometheus)`)
	}
	const ds = "${datasource}"
	queries := 0
	for _, p := range d.AllPanels() {
		if p.Datasource == nil || p.Datasource.UID != ds {
			t.Errorf("panel %q: datasource %+v, want uid %s", p.Title, p.Datasource, ds)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if q.Datasource != nil && q.Datasource.UID != ds {
				t.Errorf("panel %q query %s: datasource %+v, want uid %s", p.Title, q.RefID, q.Datasource, ds)
			}
			names := MetricNames(q.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q query %s selects no metric: %s", p.Title, q.RefID, q.Expr)
			}
			for _, n := range names {
				if !strings.HasPrefix(n, "robustmq_") && !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
					t.Errorf("panel %q query %s: %q is not a metric the services expose", p.Title, q.RefID, n)
				}
			}
		}
	}
	if queries < 30 {
		t.Fatalf("the dashboard has %d queries; expected the three services' panels", queries)
	}
}

func TestParseExposition(t *testing.T) {
	e, err := ParseExposition(strings.NewReader(`# HELP h A histogram.
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="+Inf"} 2
h_sum 0.3
h_count 2
# TYPE c counter
c_total{a="x",b="y"} 3
c_total{a="z",b="y"} 4 1700000000000
# TYPE empty_vec counter
g 5
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"h": true, "h_bucket": true, "h_sum": true, "h_count": true, "c_total": true, "g": true,
		"c": false, "empty_vec": false, "g_count": false, "h_total": false,
	} {
		if got := e.Has(name); got != want {
			t.Errorf("Has(%q) = %v, want %v", name, got, want)
		}
	}
	if got := e.Sum("c_total"); got != 7 {
		t.Errorf("Sum(c_total) = %v, want 7", got)
	}
	if got := e.Sum("c_total", `a="z"`, `b="y"`); got != 4 {
		t.Errorf(`Sum(c_total, a="z", b="y") = %v, want 4`, got)
	}
	if got := e.Sum("c_total", `a="q"`); got != 0 {
		t.Errorf(`Sum(c_total, a="q") = %v, want 0`, got)
	}
}
