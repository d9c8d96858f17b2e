package conf

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

func render(t *testing.T, src string) string {
	t.Helper()
	_, diags := Parse([]byte(src), "test.hcl")
	if !diags.HasErrors() {
		t.Fatalf("no errors in %q", src)
	}
	var b strings.Builder
	if err := WriteDiagnostics(&b, diags, map[string][]byte{"test.hcl": []byte(src)}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteDiagnosticsBounded(t *testing.T) {
	// 5,000 errors: 50 are printed, the rest counted.
	var b strings.Builder
	b.WriteString(valid)
	for i := range 5000 {
		fmt.Fprintf(&b, "unknown%d = 1\n", i)
	}
	out := render(t, b.String())
	if n := strings.Count(out, ": error: "); n != MaxDiagnostics {
		t.Errorf("%d diagnostics printed, want %d", n, MaxDiagnostics)
	}
	if !strings.HasSuffix(out, "... and 4,950 more (4,950 errors)\n") {
		t.Errorf("output does not end with the count of the rest:\n%s", out[max(0, len(out)-300):])
	}

	// A megabyte on one line, the error in the middle: the echo is a window around it.
	line := `x = "` + strings.Repeat("a", 500_000) + `" 2 ` + strings.Repeat("b", 500_000)
	out = render(t, valid+line+"\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if _, echo, ok := strings.Cut(l, " | "); ok && utf8.RuneCountInString(echo) > MaxEchoWidth {
			t.Errorf("echoed line of %d characters", utf8.RuneCountInString(echo))
		}
	}
	if len(out) > 4000 {
		t.Errorf("%d bytes of output for one error on a 1 MB line", len(out))
	}
}

func TestWriteDiagnosticsWindow(t *testing.T) {
	src := valid + `x = "` + strings.Repeat("a", 1000) + `" 2` + "\n"
	out := render(t, src)
	lines := strings.Split(out, "\n")
	if len(lines) < 3 {
		t.Fatalf("output:\n%s", out)
	}
	text, marks := lines[1][len("    4 | "):], lines[2][len("      | "):]
	if !strings.HasPrefix(text, "...") || !strings.HasSuffix(text, `aaa" 2`) {
		t.Errorf("echo %q, want a cut at the left and the end of the line", text)
	}
	// The marks stand under the "2" the parser complains about.
	col := strings.Index(marks, "^")
	if col < 0 || col >= len(text) || text[col] != '2' {
		t.Errorf("marks %q under %q: column %d", marks, text, col)
	}

	long := valid + "x = 1 2 " + strings.Repeat("c", 1000) + "\n"
	out = render(t, long)
	echo := strings.Split(out, "\n")[1]
	if !strings.HasSuffix(echo, "...") || utf8.RuneCountInString(echo) != MaxEchoWidth+len("    4 | ") {
		t.Errorf("echo %q, want it cut at %d characters", echo, MaxEchoWidth)
	}
}

// A secret's value is never echoed, even a literal on the line of an error.
func TestWriteDiagnosticsRedactsSecrets(t *testing.T) {
	const pw = "hunter2-in-the-file"
	for name, src := range map[string]string{
		"in the wrong check": chk("tcp", `      password = "`+pw+`"`),
		"syntax error":       chk("mysql", `      user = "m"`+"\n"+`      password = "`+pw+`" "extra"`),
		"wrong type":         chk("mysql", `      user = "m"`+"\n"+`      password = ["`+pw+`"]`),
		"misspelt":           chk("mysql", `      user = "m"`+"\n"+`      pasword = "`+pw+`"`),
		"heredoc":            chk("tcp", "      password = <<EOT\n"+pw+"\nEOT"),
		"header":             chk("http", `      headers = { Authorization = "Bearer `+pw+`", "Bad Key" = "x" }`),
		"nested too deeply":  valid + `password = "` + pw + `" ` + strings.Repeat("[", 100),
		"control character":  valid + `password = "` + pw + "\x00\"\n",
		"top level":          valid + `auth_pass = "` + pw + `"` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			out := render(t, src)
			if strings.Contains(out, pw) {
				t.Errorf("the password is in the diagnostics:\n%s", out)
			}
			if !strings.Contains(out, redactedText) && name != "control character" {
				t.Errorf("no %s in:\n%s", redactedText, out)
			}
		})
	}
}

func TestWriteDiagnosticsLongMessage(t *testing.T) {
	src := strings.Replace(valid, "fwmark = 1", "fwmark = 1\n  scheduler = \""+strings.Repeat("x", 100_000)+"\"", 1)
	out := render(t, src)
	first := strings.SplitN(out, "\n", 2)[0]
	if n := utf8.RuneCountInString(first); n > maxMessage+100 {
		t.Errorf("first line of %d characters", n)
	}
}

// Diagnostics without a source (a file that could not be read) and with a subject
// outside the source print without a snippet.
func TestWriteDiagnosticsWithoutSource(t *testing.T) {
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Cannot read configuration file", Detail: "open x: no such file or directory."},
		{Severity: hcl.DiagError, Summary: "Far away", Subject: &hcl.Range{Filename: "gone.hcl", Start: hcl.Pos{Line: 9, Column: 1, Byte: 900}}},
	}
	var b strings.Builder
	WriteDiagnostics(&b, diags, map[string][]byte{"gone.hcl": []byte("short\n")})
	want := "error: Cannot read configuration file: open x: no such file or directory.\ngone.hcl:9:1: error: Far away\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// Many unknown attributes: every one is a diagnostic, and explaining keepalived names
// walks the file once for all the printed ones (a walk for each of them took time
// quadratic in their number: 20,000 took 5 s). The bound is generous for -race on a
// loaded host (25 s seen at load 15); bench/conf/run.sh has the figures.
func TestManyUnknownAttributesFast(t *testing.T) {
	var b strings.Builder
	b.WriteString(valid)
	for i := range 50_000 {
		fmt.Fprintf(&b, "advert_int%d = 1\n", i)
	}
	start := time.Now()
	_, diags := Parse([]byte(b.String()), "test.hcl")
	if took := time.Since(start); took > 2*time.Minute {
		t.Errorf("took %s", took)
	}
	if len(diags.Errs()) < 50_000 {
		t.Errorf("%d errors, want one per attribute", len(diags.Errs()))
	}
}
