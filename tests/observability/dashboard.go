package observability

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Dashboard is the part of a Grafana dashboard JSON model the tests read.
type Dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel (rows hold their collapsed panels).
type Panel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target    `json:"targets"`
	Panels     []Panel     `json:"panels"`
}

// Target is one query of a panel.
type Target struct {
	Datasource *Datasource `json:"datasource"`
	Expr       string      `json:"expr"`
	RefID      string      `json:"refId"`
}

// Datasource names a panel's or target's data source.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// LoadDashboard reads and decodes a dashboard JSON file.
func LoadDashboard(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// AllPanels is every panel, those inside rows included, rows excluded.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// promqlWords are PromQL keywords and aggregation modifiers: identifiers
// that are neither functions (followed by "(") nor metric names.
var promqlWords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

// aggregations are PromQL's aggregation operators, which may take their
// by/without clause before their arguments.
var aggregations = map[string]bool{
	"sum": true, "avg": true, "min": true, "max": true, "count": true, "group": true, "stddev": true,
	"stdvar": true, "topk": true, "bottomk": true, "quantile": true, "count_values": true,
	"limitk": true, "limit_ratio": true,
}

// hasWordAt reports whether the identifier at expr[i:] is word
// (case-insensitive).
func hasWordAt(expr string, i int, word string) bool {
	j := i + len(word)
	if j > len(expr) || !strings.EqualFold(expr[i:j], word) {
		return false
	}
	if j == len(expr) {
		return true
	}
	c := expr[j]
	return !(c == '_' || c == ':' || (c|0x20) >= 'a' && (c|0x20) <= 'z' || c >= '0' && c <= '9')
}

// MetricNames returns the metric names a PromQL expression selects, sorted
// and without duplicates. It reads identifiers outside label matchers
// ({...}), range and subquery brackets ([...]), strings and the label
// lists of by/without/on/ignoring/group_left/group_right, and drops
// function names (an identifier followed by "(") and keywords. It knows
// PromQL's lexical structure, not its grammar: enough for dashboard
// expressions, which are valid PromQL.
func MetricNames(expr string) []string {
	seen := map[string]bool{}
	isStart := func(c byte) bool { return c == '_' || c == ':' || (c|0x20) >= 'a' && (c|0x20) <= 'z' }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(expr) && strings.IndexByte(" \t\r\n", expr[i]) >= 0 {
			i++
		}
		return i
	}
	skipClosing := func(i int, open, close byte) int { // i at open; returns past close
		depth := 0
		for ; i < len(expr); i++ {
			switch expr[i] {
			case '"', '\'', '`':
				q := expr[i]
				for i++; i < len(expr) && expr[i] != q; i++ {
					if expr[i] == '\\' && q != '`' {
						i++
					}
				}
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '{':
			i = skipClosing(i, '{', '}')
		case c == '[':
			i = skipClosing(i, '[', ']')
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			i = j + 1
		case c >= '0' && c <= '9':
			// A number (or a duration such as 5m): skip it whole.
			for i < len(expr) && (isPart(expr[i]) || expr[i] == '.') {
				i++
			}
		case isStart(c):
			j := i
			for j < len(expr) && isPart(expr[j]) {
				j++
			}
			word := expr[i:j]
			k := skipSpace(j)
			lower := strings.ToLower(word)
			switch {
			case lower == "by" || lower == "without" || lower == "on" || lower == "ignoring" ||
				lower == "group_left" || lower == "group_right":
				if k < len(expr) && expr[k] == '(' {
					k = skipClosing(k, '(', ')')
				}
				i = k
				continue
			case promqlWords[lower]:
			case k < len(expr) && expr[k] == '(':
				// A function or an aggregation operator.
			case aggregations[lower] && (hasWordAt(expr, k, "by") || hasWordAt(expr, k, "without")):
				// An aggregation with its modifier first: sum by (x) (...).
			default:
				seen[word] = true
			}
			i = j
		default:
			i++
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
