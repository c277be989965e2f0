package web_test

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/projections"
)

// grafanaDashboard is deploy/grafana/purepool.json, as far as the test
// reads it.
type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name string `json:"name"`
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

type grafanaPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

var metricName = regexp.MustCompile(`\bpurepool_[a-z0-9_]+`)

// describedMetrics are the names of every metric of a pool in one
// process: the website's (pool counters included), the projector's and the
// backend's, gathered, or described when a vector has no series yet.
func describedMetrics(t *testing.T, f *fixture) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	projector, err := projections.NewPrometheus(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, g := range []prometheus.Gatherer{f.web.Registry(), reg} {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			names[mf.GetName()] = true
		}
	}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range append(backend.Collectors(), projector) {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fq.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
	}
	return names
}

// The Grafana dashboard is valid dashboard JSON, and every metric it
// queries is one the pool serves.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/purepool.json")
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("purepool.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Fatalf("not a dashboard: title %q uid %q schemaVersion %d, %d panels", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["network"] {
		t.Errorf("variables %v, want datasource and network", vars)
	}

	f := newFixture(t)
	f.get(t, "/main/statistics") // a request: the web histograms have a series
	served := describedMetrics(t, f)
	queried := map[string]bool{}
	exprs := map[string]string{} // expression → where
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			exprs[v.Definition] = "variable " + v.Name
		}
	}
	for _, a := range d.Annotations.List {
		exprs[a.Expr] = "annotation " + a.Name
	}
	ids := map[int]bool{}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
			}
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
					t.Errorf("panel %q: no data source variable or no query", p.Title)
				}
			}
			for _, tg := range p.Targets {
				if tg.Expr == "" || tg.RefID == "" {
					t.Errorf("panel %q: empty query", p.Title)
				}
				exprs[tg.Expr] = "panel " + p.Title
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for expr, where := range exprs {
		if !balanced(expr) {
			t.Errorf("%s: unbalanced brackets in %s", where, expr)
		}
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s queries no purepool metric: %s", where, expr)
		}
		for _, n := range names {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if s, ok := strings.CutSuffix(n, suffix); ok && served[s] {
					base = s
				}
			}
			if !served[base] {
				t.Errorf("%s queries %s, which the pool does not serve", where, n)
			}
			queried[base] = true
		}
	}
	// Every pool counter is on the dashboard.
	var missing []string
	for n := range served {
		if strings.HasPrefix(n, "purepool_pool_") && !queried[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("pool metrics not on the dashboard: %v", missing)
	}
}

func balanced(s string) bool {
	var stack []rune
	pair := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, r := range s {
		switch r {
		case '(', '[', '{':
			stack = append(stack, r)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pair[r] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0
}
