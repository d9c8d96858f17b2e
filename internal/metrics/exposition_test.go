package metrics

import (
	"bytes"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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

// TestExpositionParses: the directly written exposition parses as text format 0.0.4, each
// family once and in name order, the same bytes for the same state, and hostile names
// come back as the label values they were.
func TestExpositionParses(t *testing.T) {
	for name, snap := range map[string]status.Snapshot{
		"rich": richSnapshot(), "hostile": hostileSnapshot(), "large": largeSnapshot(20), "empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			m := New(&fakeSource{s: snap}, BuildInfo{Version: "1.0.0\"x", Revision: "abc"})
			text := scrape(t, m.Handler())
			fams := parse(t, text)
			if _, ok := fams["go_goroutines"]; !ok {
				t.Errorf("the Go collector's families are missing")
			}
			if got := fams["vigil_build_info"].GetMetric()[0].GetLabel(); len(got) != 3 || got[2].GetValue() != "1.0.0\"x" {
				t.Errorf("vigil_build_info labels: %v", got)
			}
			// Every real server and virtual server name comes back as it was.
			want := map[string]bool{}
			for _, vs := range snap.VirtualServers {
				for _, rs := range vs.RealServers {
					want[vs.Name+"/"+rs.Name] = true
				}
			}
			got := map[string]bool{}
			for _, mt := range fams["vigil_real_server_healthy"].GetMetric() {
				var vs, rs string
				for _, lp := range mt.GetLabel() {
					switch lp.GetName() {
					case "virtual_server":
						vs = lp.GetValue()
					case "real_server":
						rs = lp.GetValue()
					}
				}
				got[vs+"/"+rs] = true
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("real servers (-want +got):\n%s", diff)
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

// TestEmptyLabelLeftOut: a label with an empty value is not written (Prometheus stores
// local_mark="" as no label), the others are.
func TestEmptyLabelLeftOut(t *testing.T) {
	f := &family{name: "vigil_x", typ: "gauge"}
	f.add(1, label{"a", ""}, label{"b", "x"}, label{"c", ""})
	f.add(2, label{"a", ""})
	if got, want := string(f.buf), "vigil_x{b=\"x\"} 1\nvigil_x 2\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
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
