package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmeMetrics reads the metric names of the README's metrics table (the operator's
// contract): `a`, `b` in a row's first cell, `x_{p,q}_total` for x_p_total and x_q_total,
// `..._y` for the previous name with its last word replaced.
func readmeMetrics(t *testing.T) map[string]bool {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cell := regexp.MustCompile("`([^`]+)`")
	braces := regexp.MustCompile(`^(.*)\{([^}]*)\}(.*)$`)
	out := map[string]bool{}
	for l := range strings.Lines(string(b)) {
		if !strings.HasPrefix(l, "| `vigil_") {
			continue
		}
		prev := ""
		for _, m := range cell.FindAllStringSubmatch(strings.Split(l, "|")[1], -1) {
			name := m[1]
			if rest, ok := strings.CutPrefix(name, "..."); ok {
				name = prev[:strings.LastIndex(prev, "_")] + rest
			}
			prev = name
			if bm := braces.FindStringSubmatch(name); bm != nil {
				for alt := range strings.SplitSeq(bm[2], ",") {
					out[bm[1]+alt+bm[3]] = true
				}
				continue
			}
			out[name] = true
		}
	}
	return out
}

// TestREADMEMetrics: the README's table names every vigil_* family /metrics serves, and
// nothing it does not serve.
func TestREADMEMetrics(t *testing.T) {
	documented := readmeMetrics(t)
	s := richSnapshot()
	s.VirtualServers[0].MHFingerprint = "5b847c55446ddbb0"
	m := New(&fakeSource{s: s}, BuildInfo{})
	m.ObserveCheck("web", "rs1", "http", 1e6, true)
	served := map[string]bool{}
	for name := range parse(t, scrape(t, m.Handler())) {
		if strings.HasPrefix(name, "vigil_") {
			served[name] = true
		}
	}
	for name := range served {
		if !documented[name] {
			t.Errorf("/metrics serves %s, which the README's table does not name", name)
		}
	}
	for name := range documented {
		if !served[name] {
			t.Errorf("the README's table names %s, which /metrics does not serve", name)
		}
	}
	if len(documented) < 30 {
		t.Errorf("read %d metrics from the README's table: %v", len(documented), documented)
	}
}
