package conf

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestEvalIsValue: the decoder's shortcut for literal strings gives what HCL's evaluation
// gives, value and diagnostics, for every kind of expression.
func TestEvalIsValue(t *testing.T) {
	for _, expr := range []string{
		`"2s"`, `""`, `"e\u0301"`, `"a\nb"`, `"$${x}"`, `"%%{x}"`, `"${"x"}"`, `"a${"b"}c"`,
		`"${env("SET")}"`, `"${env("UNSET")}"`, `env("SET")`, `"%{if true}x%{endif}"`,
		"<<EOT\nhello\nEOT\n", "<<-EOT\n  hi\n  EOT\n", `1`, `1.5`, `true`, `null`, `["a"]`, `{a = "b"}`,
		`"${null}"`, `x`, `"${x}"`,
	} {
		src := fmt.Sprintf("a = %s\n", expr)
		file, diags := hclsyntax.ParseConfig([]byte(src), "f.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", src, diags)
		}
		a := file.Body.(*hclsyntax.Body).Attributes["a"].AsHCLAttribute()
		d := newDecoder(testOptions(map[string]string{"SET": "x"}))
		got, gotDiags := d.eval(a)
		want, wantDiags := a.Expr.Value(d.ctx)
		if !got.RawEquals(want) || fmt.Sprint(gotDiags) != fmt.Sprint(wantDiags) {
			t.Errorf("%s: eval %#v %v, Value %#v %v", expr, got, gotDiags, want, wantDiags)
		}
	}
}

// TestEvalLiteralAllocatesNothing: a literal string is taken as it is, not rendered.
func TestEvalLiteralAllocatesNothing(t *testing.T) {
	file, _ := hclsyntax.ParseConfig([]byte("a = \"2s\"\n"), "f.hcl", hcl.InitialPos)
	a := file.Body.(*hclsyntax.Body).Attributes["a"].AsHCLAttribute()
	d := newDecoder(testOptions(nil))
	if n := testing.AllocsPerRun(100, func() { d.eval(a) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzGuard: guardExpressions finds what one hclsyntax.VisitAll of the body finds, in
// the same order but for the arguments of a body, which both take in a map's order.
func FuzzGuard(f *testing.F) {
	f.Add([]byte("a = 1e99999999\nb {\n  c = \"${1e99999999}\"\n  d = 2 * 3\n  e = [1, -1e-99999, \"x\"]\n  f {\n    g = {k = 1 + 2}\n    h = \"a\"\n  }\n}\n"))
	f.Add([]byte("b {\n  c = \"x%{if 1e99999 > 2}y%{endif}\"\n  d = f(1e999999, 3 % 2)\n  e = <<EOT\n${4/2}\nEOT\n}\n"))
	f.Add([]byte(strings.Repeat("b {\n  c = 1 + 2\n  d = [1e999999]\n}\n", 600)))
	f.Fuzz(func(t *testing.T, src []byte) {
		if prescan(src, "f.hcl", Limits{}) != nil {
			return
		}
		file, diags := hclsyntax.ParseConfig(src, "f.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			return
		}
		body := file.Body.(*hclsyntax.Body)
		var want hcl.Diagnostics
		hclsyntax.VisitAll(&hclsyntax.Body{Blocks: body.Blocks}, func(n hclsyntax.Node) hcl.Diagnostics {
			var g guard
			g.node(n)
			want = append(want, g.diags...)
			return nil
		})
		got := guardExpressions(&hclsyntax.Body{Blocks: body.Blocks})
		sortDiagnostics(got)
		sortDiagnostics(want)
		if g, w := summary(nil, got), summary(nil, want); g != w {
			t.Fatalf("guard:%s\nVisitAll:%s", g, w)
		}
	})
}

// TestGuardDiagnosticsInFileOrder: the expression guard's errors read like the file (its
// walk takes a body's arguments in a map's order).
func TestGuardDiagnosticsInFileOrder(t *testing.T) {
	var b strings.Builder
	b.WriteString("global {\n")
	for i := range 20 {
		fmt.Fprintf(&b, "  a%d = %d + 1\n", i, i)
	}
	b.WriteString("}\n")
	for range 5 {
		_, diags := parse([]byte(b.String()), "f.hcl", testOptions(nil))
		if len(diags) != 20 {
			t.Fatalf("%d diagnostics: %v", len(diags), diags)
		}
		for i, d := range diags {
			if d.Summary != "Arithmetic not supported" || d.Subject.Start.Line != i+2 {
				t.Fatalf("diagnostic %d: %s at %v", i, d.Summary, d.Subject)
			}
		}
	}
}

// TestBagDistanceBoundsLevenshtein: the cheap test before isSecretName's Levenshtein
// distance never turns away a name the distance would accept.
func TestBagDistanceBoundsLevenshtein(t *testing.T) {
	names := []string{"password", "passwd", "pasword", "passw0rd", "wordpass", "drowssap", "pssword", "pa", "", "a12345", "address", "passwords", "xpasswordx", "sword", "pAssword"}
	for i := range 20000 {
		names = append(names, fmt.Sprintf("a%d", i), fmt.Sprintf("p%03dsword", i%1000), fmt.Sprintf("pa%dword", i%100))
	}
	for _, n := range names {
		n = strings.ToLower(n)
		if lev := levenshtein.Distance(n, "password", nil); bagDistance(n, "password") > lev {
			t.Errorf("%q: bag distance %d > Levenshtein %d", n, bagDistance(n, "password"), lev)
		}
	}
}
