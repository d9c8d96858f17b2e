package conf

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// valid is a minimal file that defines something to run.
const valid = "virtual_server \"web\" {\n  fwmark = 1\n}\n"

// nestings are the ways a file can nest without end; n repeats each. On main, the
// parser recursed once per level: 120 KB of [ overflowed its 1 GB stack.
var nestings = []struct {
	name string
	src  func(n int) string
}{
	{"brackets", func(n int) string { return "x = " + strings.Repeat("[", n) + strings.Repeat("]", n) }},
	{"braces in an object", func(n int) string { return "x = " + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n) }},
	{"blocks", func(n int) string { return strings.Repeat("a {\n", n) + strings.Repeat("}\n", n) }},
	{"parentheses", func(n int) string { return "x = " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) }},
	{"function calls", func(n int) string { return "x = " + strings.Repeat("env(", n) + `"A"` + strings.Repeat(")", n) }},
	{"templates", func(n int) string { return "x = " + strings.Repeat(`"${`, n) + "1" + strings.Repeat(`}"`, n) }},
	{"directives", func(n int) string {
		return `x = "` + strings.Repeat("%{if true}", n) + strings.Repeat("%{endif}", n) + `"`
	}},
	{"heredocs", func(n int) string {
		var b strings.Builder
		b.WriteString("x = ")
		for i := range n {
			fmt.Fprintf(&b, "<<E%d\n${", i)
		}
		for i := n - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "}\nE%d\n", i)
		}
		return b.String()
	}},
	{"not", func(n int) string { return "x = " + strings.Repeat("!", n) + "true" }},
	{"minus", func(n int) string { return "x = " + strings.Repeat("-", n) + "1" }},
	{"conditionals", func(n int) string { return "x = " + strings.Repeat("true ? 1 : ", n) + "2" }},
	{"index", func(n int) string { return "x = a" + strings.Repeat("[a", n) + strings.Repeat("]", n) }},
	{"mixed", func(n int) string { return "x = " + strings.Repeat(`[{a=("${`, n/4) }},
}

func TestPrescanNesting(t *testing.T) {
	for _, tt := range nestings {
		t.Run(tt.name, func(t *testing.T) {
			// As deep as vigil allows: the pre-scan lets it through to the parser.
			ok := tt.src(MaxDepth/2 - 1)
			if d := prescan([]byte(ok), "test.hcl", Limits{}); d != nil {
				t.Errorf("depth %d refused: %s: %s", MaxDepth/2-1, d.Summary, d.Detail)
			}
			// Far too deep: one located error, fast, and no stack overflow.
			deep := tt.src(60_000)
			start := time.Now()
			cfg, diags := Parse([]byte(deep), "test.hcl")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
			if cfg != nil || len(diags) != 1 || diags[0].Summary != "Nested too deeply" || diags[0].Subject == nil {
				t.Fatalf("diagnostics %v, want one located \"Nested too deeply\"", diags)
			}
			if s := diags[0].Subject; s.Start.Line < 1 || s.Start.Byte > len(deep) {
				t.Errorf("subject %v outside the file", s)
			}
		})
	}
}

// What looks deep but is text (strings, comments, heredocs) is no nesting.
func TestPrescanTextIsNotNesting(t *testing.T) {
	deep := strings.Repeat("[({", 1000)
	for name, src := range map[string]string{
		"string":        "# " + deep + "\n" + `virtual_server "web" {` + "\n  fwmark = 1\n  scheduler = \"rr\" # " + deep + "\n}\n",
		"quoted":        valid + "x = \"" + deep + "\"\n",
		"escaped quote": valid + `x = "\"` + deep + `"` + "\n",
		"block comment": valid + "/* " + deep + "\n" + deep + " */\n",
		"line comment":  valid + "// " + deep + "\n",
		"heredoc":       valid + "x = <<EOT\n" + deep + "\n  EOT\n",
		"indented":      valid + "x = <<-EOT\n  " + deep + "\n  EOT\n",
		"literal ${":    valid + `x = "$${` + deep + `"` + "\n",
		"literal %{":    valid + `x = "%%{` + deep + `"` + "\n",
	} {
		if d := prescan([]byte(src), "test.hcl", Limits{}); d != nil {
			t.Errorf("%s: refused: %s: %s at %v", name, d.Summary, d.Detail, d.Subject)
		}
	}
}

// The pre-scan follows HCL's scanner where it decides what is code: an unterminated /*
// is no comment, a heredoc ends only at its marker alone on a line, and a quoted string
// goes on over a line break. Each of these hides the deep part from a careless scanner.
func TestPrescanFollowsHCLScanner(t *testing.T) {
	deep := strings.Repeat("[", 1000)
	for name, src := range map[string]string{
		"unterminated block comment":   "x = 1 /* " + deep,
		"heredoc marker with a $":      "x = <<EOT\nEOT$\n" + `"` + "\nEOT\n" + deep,
		"heredoc marker after ${}":     "x = <<EOT\n${1}EOT\n\"\nEOT\n" + deep,
		"string over a line break":     "x = \"a\n" + `" ` + deep,
		"string ends at escaped quote": `x = "\\"` + deep,
		"interpolation closes at }":    `x = "${ { } }` + `" ` + deep,
		"comment in interpolation":     "x = \"${ # }\"\n 1 }\" " + deep,
		"heredoc opener needs newline": "x = <<EOT " + deep,
		"lone carriage return":         "x = 1\r" + deep,
		"first directive word only":    `x = "%{ if true }%{ "x" endif }` + strings.Repeat("%{ if true }", 1000) + `"`,
	} {
		d := prescan([]byte(src), "test.hcl", Limits{})
		if d == nil || d.Summary != "Nested too deeply" {
			t.Errorf("%s: got %v, want Nested too deeply", name, d)
		}
	}
}

// hclDepth is the nesting the parser would see, computed from HCL's own tokens with the
// pre-scan's model of what recurses: brackets of every kind, template directives, and
// the unary and conditional operators of an item.
func hclDepth(src []byte) int {
	toks, _ := hclsyntax.LexConfig(src, "x.hcl", hcl.InitialPos)
	type level struct {
		open       hclsyntax.TokenType
		ops, dirs  int
		newlineEnd bool
	}
	stack := []level{{newlineEnd: true}}
	extra, maxDepth := 0, 0
	closes := map[hclsyntax.TokenType]hclsyntax.TokenType{
		hclsyntax.TokenCBrace: hclsyntax.TokenOBrace, hclsyntax.TokenCBrack: hclsyntax.TokenOBrack,
		hclsyntax.TokenCParen: hclsyntax.TokenOParen, hclsyntax.TokenCQuote: hclsyntax.TokenOQuote,
		hclsyntax.TokenCHeredoc: hclsyntax.TokenOHeredoc,
	}
	pop := func(match func(hclsyntax.TokenType) bool) {
		for i := len(stack) - 1; i > 0; i-- {
			if match(stack[i].open) {
				for _, l := range stack[i:] {
					extra -= l.ops + l.dirs
				}
				stack = stack[:i]
				return
			}
		}
	}
	for i, tok := range toks {
		top := &stack[len(stack)-1]
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			stack = append(stack, level{open: tok.Type, newlineEnd: tok.Type == hclsyntax.TokenOBrace})
			if tok.Type == hclsyntax.TokenTemplateControl && i+1 < len(toks) && toks[i+1].Type == hclsyntax.TokenIdent {
				switch string(toks[i+1].Bytes) {
				case "if", "for":
					top.dirs++
					extra++
				case "endif", "endfor":
					if top.dirs > 0 {
						top.dirs--
						extra--
					}
				}
			}
		case hclsyntax.TokenTemplateSeqEnd:
			pop(func(t hclsyntax.TokenType) bool {
				return t == hclsyntax.TokenTemplateInterp || t == hclsyntax.TokenTemplateControl
			})
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
			want := closes[tok.Type]
			pop(func(t hclsyntax.TokenType) bool { return t == want })
		case hclsyntax.TokenBang, hclsyntax.TokenMinus, hclsyntax.TokenQuestion:
			top.ops++
			extra++
		case hclsyntax.TokenComma:
			extra -= top.ops
			top.ops = 0
		case hclsyntax.TokenNewline, hclsyntax.TokenComment:
			if top.newlineEnd {
				extra -= top.ops
				top.ops = 0
			}
		}
		maxDepth = max(maxDepth, len(stack)-1+extra)
	}
	return maxDepth
}

// FuzzPrescanDepth checks the pre-scan against HCL's own scanner: whatever it lets
// through at a depth limit of 8 never nests deeper than 8 in HCL's tokens.
func FuzzPrescanDepth(f *testing.F) {
	for _, tt := range nestings {
		f.Add([]byte(tt.src(5)))
	}
	for _, s := range []string{
		"x = \"${\"${\"${1}\"}\"}\"", "x = <<EOT\n${<<EOF\n${[[[]]]}\nEOF\n}\nEOT\n",
		"x = \"%{for a in b}%{if c}${d}%{endif}%{endfor}\"", "x = \"\\\"${[}]\"", "/* [[[ */ x = [[[]]]",
		"x = <<-EOT\n  a\n  EOT\n", "x = {a = !!!-b ? c : d}", "x = \"a\n[[[[\"", "a { b { c = [1, -2, !3] } }",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p := newPrescanner(src, "fuzz.hcl", Limits{}, false)
		p.maxDepth = 8
		if checkText(src, "fuzz.hcl") != nil {
			return
		}
		if p.run(); p.err != nil {
			return
		}
		if got := hclDepth(src); got > 8 {
			t.Fatalf("the pre-scan passed %q, which nests %d deep in HCL's tokens", src, got)
		}
	})
}

func TestPrescanRefusesNonText(t *testing.T) {
	tests := []struct {
		name, src, want, pos string
	}{
		{"NUL", valid + "x = \"a\x00b\"\n", "Control character in the file", "4:7"},
		{"escape", "\x1b[31m" + valid, "Control character in the file", "1:1"},
		{"DEL", valid + "\x7f", "Control character in the file", "4:1"},
		{"C1", valid + "# \u009b\n", "Control character in the file", "4:3"},
		{"invalid UTF-8", valid + "# caf\xe9\n", "Invalid UTF-8", "4:6"},
		{"truncated UTF-8", valid + "\xe2\x82", "Invalid UTF-8", "4:1"},
		{"binary", "\x7fELF\x02\x01\x01\x00", "Control character in the file", "1:1"},
		{"non-ASCII name", valid + "caf\u00e9 = 1\n", "Non-ASCII character outside a string", "4:4"},
		{"non-breaking space", valid + "x\u00a0= 1\n", "Non-ASCII character outside a string", "4:2"},
		{"long name", valid + strings.Repeat("a", MaxNameLength+1) + " = 1\n", "Name too long", "4:1"},
		{"long number", valid + "x = " + strings.Repeat("1", MaxNumberLength+1) + "\n", "Number too long", "4:5"},
		{"a million digits", valid + "x = " + strings.Repeat("9", 1_000_000) + "\n", "Number too long", "4:5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := Parse([]byte(tt.src), "test.hcl")
			if cfg != nil || len(diags) != 1 {
				t.Fatalf("got %d diagnostics %v, want 1", len(diags), diags)
			}
			d := diags[0]
			if d.Summary != tt.want || d.Subject == nil || fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column) != tt.pos {
				t.Errorf("got %q at %v, want %q at %s", d.Summary, d.Subject, tt.want, tt.pos)
			}
		})
	}
	// What is text passes: UTF-8 in strings and comments, tabs, CRLF, a byte-order mark.
	for _, src := range []string{
		"\ufeff" + valid,
		strings.ReplaceAll(valid, "\n", "\r\n"),
		"# café, naïve, 日本\n" + strings.ReplaceAll(valid, "  ", "\t") + "x = \"ü\"\n",
	} {
		if d := prescan([]byte(src), "test.hcl", Limits{}); d != nil {
			t.Errorf("%q refused: %s: %s", src, d.Summary, d.Detail)
		}
	}
}

func TestPrescanTokens(t *testing.T) {
	src := []byte("x = [" + strings.Repeat("1,", 1000) + "]\n")
	if d := prescan(src, "test.hcl", Limits{MaxTokens: 3000}); d != nil {
		t.Errorf("2,000 tokens refused at a limit of 3,000: %s", d.Detail)
	}
	d := prescan(src, "test.hcl", Limits{MaxTokens: 1000})
	if d == nil || d.Summary != "Too many tokens" || d.Subject == nil || d.Subject.Start.Line != 1 {
		t.Fatalf("got %v, want a located Too many tokens", d)
	}
	if !strings.Contains(d.Detail, "1,000 names") || !strings.Contains(d.Detail, "--max-config-size") {
		t.Errorf("detail %q does not say the limit and how to raise it", d.Detail)
	}
	// Strings are bounded in all: HCL spends about 0.25 us on each of their bytes.
	text := []byte(valid + "x = \"" + strings.Repeat("a", 3<<20) + "\"\ny = <<EOT\n" + strings.Repeat(strings.Repeat("b", 1023)+"\n", 2048) + "EOT\n")
	if d := prescan(text, "test.hcl", Limits{}); d == nil || d.Summary != "Too much text" || d.Subject.Start.Line < 5 {
		t.Errorf("5 MiB of strings: %v, want Too much text in the heredoc", d)
	}
	// LimitsForSize raises the token limit with the size.
	if l := LimitsForSize(64 << 20); l.MaxBytes != 64<<20 || l.MaxTokens != 4*DefaultMaxTokens || l.MaxText != 4*DefaultMaxText {
		t.Errorf("LimitsForSize(64 MiB) = %+v", l)
	}
	if l := LimitsForSize(1 << 20); l.MaxBytes != 1<<20 || l.MaxTokens != DefaultMaxTokens {
		t.Errorf("LimitsForSize(1 MiB) = %+v", l)
	}
}

func TestSecretSpans(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"literal", `password = "hunter2" # x` + "\nuser = \"u\"\n", []string{`"hunter2" # x`}},
		{"env", "password = env(\"P\")\n", []string{`env("P")`}},
		{"heredoc", "password = <<EOT\nhunter2\nEOT\nuser = 1\n", []string{"<<EOT\nhunter2\nEOT"}},
		{"in a block", "a {\n  auth_pass = \"x\"}\n", []string{`"x"`}},
		{"header key", `headers = { Authorization = "Bearer t", Accept = "x" }`, []string{`"Bearer t"`}},
		{"quoted key", `headers = { "X-Api-Token": "t" }`, []string{`"t" `}},
		{"misspelt", "pasword = \"x\"\n", []string{`"x"`}},
		{"not a secret", "user = \"x\"\nkey_count = 1\n", nil},
		{"broken", "password = \"unterminated\n[[[", []string{"\"unterminated\n[[["}},
	}
	for _, tt := range tests {
		var got []string
		for _, s := range secretSpans([]byte(tt.src)) {
			got = append(got, tt.src[s.start:s.end])
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: secret spans %q, want %q", tt.name, got, tt.want)
		}
	}
}
