package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

var (
	// A vigil series and its matchers: vigil_x{a=~"..",b!="ready"}.
	dashSelector = regexp.MustCompile(`(vigil_[a-z_]+)(\{([^}]*)\})?`)
	dashMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	// by (..), without (..), on (..), ignoring (..), group_left (..), group_right (..).
	dashGrouping = regexp.MustCompile(`\b(?:by|on|without|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	dashLegend   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	dashLabelOf  = regexp.MustCompile(`label_values\(\s*(vigil_[a-z_]+)\s*,\s*([a-z_]+)\s*\)`)
)

// servedLabels is every series name /metrics serves for a snapshot that has every family
// (a histogram's or summary's _bucket, _sum and _count included), with the labels its
// series carry.
func servedLabels(t *testing.T) map[string]map[string]bool {
	m := New(&fakeSource{s: richSnapshot()}, BuildInfo{})
	m.ObserveCheck("web", "rs1", "http", time.Millisecond, true)
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]map[string]bool{}
	for _, mf := range mfs {
		names := []string{mf.GetName()}
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			names = append(names, mf.GetName()+"_bucket", mf.GetName()+"_sum", mf.GetName()+"_count")
		case dto.MetricType_SUMMARY:
			names = append(names, mf.GetName()+"_sum", mf.GetName()+"_count")
		}
		labels := map[string]bool{}
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		for _, n := range names {
			served[n] = labels
		}
	}
	return served
}

// TestGrafanaDashboard: every series contrib/grafana/vigil.json queries is one vigil
// serves, and every label it selects, groups, joins or shows on a legend is one those
// series carry, so the dashboard cannot silently go blank after a metric or label changes.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../../contrib/grafana/vigil.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct {
				Name       string
				Definition string
			}
		}
		Panels []struct {
			Title   string
			Targets []struct{ Expr, LegendFormat string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	served := servedLabels(t)
	n := 0
	check := func(where, expr, legend string) {
		// The labels of every vigil series the expression names.
		of := map[string]bool{}
		for _, sel := range dashSelector.FindAllStringSubmatch(expr, -1) {
			n++
			labels, ok := served[sel[1]]
			if !ok {
				t.Errorf("%s queries %s, which vigil does not serve", where, sel[1])
				continue
			}
			for l := range labels {
				of[l] = true
			}
			for _, mt := range dashMatcher.FindAllStringSubmatch(sel[3], -1) {
				if !labels[mt[1]] {
					t.Errorf("%s selects %s on %s, which has no such label", where, mt[1], sel[1])
				}
			}
		}
		var used []string
		for _, g := range dashGrouping.FindAllStringSubmatch(expr, -1) {
			for l := range strings.SplitSeq(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && l != "le" {
					used = append(used, l)
				}
			}
		}
		for _, lg := range dashLegend.FindAllStringSubmatch(legend, -1) {
			used = append(used, lg[1])
		}
		for _, l := range used {
			if len(of) > 0 && !of[l] {
				t.Errorf("%s uses label %s, which none of its vigil series carries", where, l)
			}
		}
	}
	for _, v := range d.Templating.List {
		for _, lv := range dashLabelOf.FindAllStringSubmatch(v.Definition, -1) {
			if !served[lv[1]][lv[2]] {
				t.Errorf("variable %s: %s has no label %s", v.Name, lv[1], lv[2])
			}
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			check("panel "+`"`+p.Title+`"`, tg.Expr, tg.LegendFormat)
		}
	}
	if n == 0 || !strings.Contains(string(b), "vigil_real_server_admin_state") || !strings.Contains(string(b), "vigil_real_server_info") {
		t.Errorf("the dashboard queries %d vigil series, and not the admin state or the info series", n)
	}
}

// TestGrafanaDashboardCheckCatches: the checks above fail on a renamed metric and on a
// label the series lost (a test that would fail without them).
func TestGrafanaDashboardCheckCatches(t *testing.T) {
	served := servedLabels(t)
	if served["vigil_real_server_applied_weight"] != nil || served["vigil_check_duration_seconds_bucket"] != nil {
		t.Errorf("metrics removed by issue 18 are still served")
	}
	if served["vigil_ipvs_backend_weight"]["local_address"] || !served["vigil_real_server_info"]["remote_address"] {
		t.Errorf("the backend series should carry only the join keys, the info series node_exporter's labels")
	}
	sel := dashSelector.FindStringSubmatch(`rate(vigil_check_failures_total{real_server=~"x"}[5m])`)
	if sel[1] != "vigil_check_failures_total" || dashMatcher.FindStringSubmatch(sel[3])[1] != "real_server" || served[sel[1]]["real_server"] {
		t.Errorf("a selector on a label the family lacks is not caught: %q", sel)
	}
}
