package metrics

import (
	"bytes"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-lb/vigil/internal/status"
)

// hostileSnapshot names everything with what the text format must escape.
func hostileSnapshot() status.Snapshot {
	s := richSnapshot()
	s.VirtualServers[0].Name = "we\"b\\1\nx"
	s.VirtualServers[0].RealServers[0].Name = `rs "one" \ é`
	s.VRRP[0].Name = "VI\n\"1\""
	s.VRRP[0].Invalid["bad\\reason"] = 3
	s.VirtualServers[0].MHFingerprint = "5b847c55446ddbb0"
	return s
}

// familiesOf renders families as name -> "TYPE help" and their series (see series).
func familiesOf(mfs []*dto.MetricFamily, keep func(string) bool) map[string][]string {
	out := map[string][]string{}
	for _, mf := range mfs {
		if keep(mf.GetName()) {
			out[mf.GetName()] = append([]string{mf.GetType().String() + " " + mf.GetHelp()}, series(mf)...)
		}
	}
	return out
}

// TestExpositionMatchesClientGolang: the directly written families are, series for series
// and value for value, those client_golang's collector produced from the same snapshot,
// hostile label values included, and the whole scrape parses as text exposition.
func TestExpositionMatchesClientGolang(t *testing.T) {
	for name, snap := range map[string]status.Snapshot{
		"rich": richSnapshot(), "hostile": hostileSnapshot(), "large": largeSnapshot(20), "empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			src := &fakeSource{s: snap}
			info := BuildInfo{Version: "1.0.0\"x", Revision: "abc"}
			m := New(src, info)

			ref := prometheus.NewRegistry()
			ref.MustRegister(newCollector(src, m.info, m))
			want, err := ref.Gather()
			if err != nil {
				t.Fatal(err)
			}

			text := scrape(t, m.Handler())
			fams := parse(t, text)
			var got []*dto.MetricFamily
			for _, mf := range fams {
				got = append(got, mf)
			}
			own := func(n string) bool { return strings.HasPrefix(n, "vigil_") && n != "vigil_check_duration_seconds" }
			if diff := cmp.Diff(familiesOf(want, own), familiesOf(got, own)); diff != "" {
				t.Errorf("families differ from client_golang's (-want +got):\n%s", diff)
			}
			if _, ok := fams["go_goroutines"]; !ok {
				t.Errorf("the Go collector's families are missing")
			}
			// Deterministic: the same state gives the same bytes (the runtime's own change).
			if again := scrape(t, m.Handler()); ownLines(again) != ownLines(text) {
				t.Errorf("two scrapes of one snapshot differ")
			}
			// Each family once, in name order.
			var names []string
			for l := range strings.Lines(text) {
				if n, ok := strings.CutPrefix(l, "# TYPE "); ok {
					names = append(names, strings.Fields(n)[0])
				}
			}
			if !sort.StringsAreSorted(names) || len(names) != len(fams) {
				t.Errorf("families not once each in name order: %v", names)
			}
		})
	}
}

// TestAppendEscaped: label values and HELP text escape as the text format defines.
func TestAppendEscaped(t *testing.T) {
	for _, tc := range []struct{ in, label, help string }{
		{"plain", "plain", "plain"},
		{`a"b`, `a\"b`, `a"b`},
		{`a\b`, `a\\b`, `a\\b`},
		{"a\nb", `a\nb`, `a\nb`},
		{"\\\"\n", `\\\"\n`, `\\"\n`},
		{"é\t", "é\t", "é\t"},
		{"", "", ""},
	} {
		if got := string(appendEscaped(nil, tc.in, true)); got != tc.label {
			t.Errorf("label %q: got %q, want %q", tc.in, got, tc.label)
		}
		if got := string(appendEscaped(nil, tc.in, false)); got != tc.help {
			t.Errorf("help %q: got %q, want %q", tc.in, got, tc.help)
		}
	}
}

// TestAppendValue: numbers as the parser reads them back, the special values spelled as
// the format wants.
func TestAppendValue(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1: "1", -3: "-3", 1 << 40: "1099511627776", 2.5: "2.5", 1e300: "1e+300",
		math.Inf(1): "+Inf", math.Inf(-1): "-Inf", 1 << 60: "1.152921504606847e+18",
	} {
		if got := string(appendValue(nil, v)); got != want {
			t.Errorf("%v: got %q, want %q", v, got, want)
		}
	}
	if got := string(appendValue(nil, math.NaN())); got != "NaN" {
		t.Errorf("NaN: got %q", got)
	}
}

// FuzzLabelValue: any label value round-trips through the writer and expfmt's parser.
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"", "web", `a"b`, `a\b`, "a\nb", "\\\"\n", "é", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !model.LabelValue(v).IsValid() {
			t.Skip() // not UTF-8: the parser refuses it, as Prometheus would
		}
		fam := &family{name: "vigil_x", help: "h\\\n" + v, typ: "gauge"}
		fam.add(1, label{"a", v}, label{"virtual_server", v})
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(fam.appendTo(nil)))
		if err != nil {
			t.Fatalf("%q: %v\n%s", v, err, fam.appendTo(nil))
		}
		m := fams["vigil_x"].GetMetric()[0]
		for _, lp := range m.GetLabel() {
			if lp.GetValue() != v {
				t.Fatalf("label %s: got %q, want %q", lp.GetName(), lp.GetValue(), v)
			}
		}
	})
}

func ownLines(text string) string {
	var b strings.Builder
	for l := range strings.Lines(text) {
		if strings.Contains(l, "vigil_") {
			b.WriteString(l)
		}
	}
	return b.String()
}
