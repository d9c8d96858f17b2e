package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestGrafanaDashboard: every series contrib/grafana/vigil.json queries is one vigil
// serves, so the dashboard cannot silently go blank after a metric is renamed.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../../contrib/grafana/vigil.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	m := New(&fakeSource{s: richSnapshot()}, BuildInfo{})
	m.ObserveCheck("web", "rs1", "http", time.Millisecond, true)
	served := map[string]bool{}
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		served[mf.GetName()] = true
		if mf.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				served[mf.GetName()+s] = true
			}
		}
	}
	name := regexp.MustCompile(`vigil_[a-z_]+`)
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, metric := range name.FindAllString(tg.Expr, -1) {
				n++
				if !served[metric] {
					t.Errorf("panel %q queries %s, which vigil does not serve", p.Title, metric)
				}
			}
		}
	}
	if n == 0 || !strings.Contains(string(b), "vigil_real_server_admin_state") {
		t.Errorf("the dashboard queries %d vigil series and no admin state", n)
	}
}
