package conf

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Bounds of what WriteDiagnostics prints, so that no file makes it print without end: a
// megabyte of garbage gives thousands of diagnostics, each on a line of a megabyte.
const (
	// MaxDiagnostics is how many diagnostics are printed; the rest are counted.
	MaxDiagnostics = 50
	// MaxEchoWidth is how many characters of a source line are echoed, around the
	// problem.
	MaxEchoWidth = 200
	// maxMessage bounds a diagnostic's summary and detail (a detail may quote a value).
	maxMessage = 500
)

// redactedText replaces the value of a secret attribute in an echoed line.
const redactedText = "<redacted>"

// WriteDiagnostics renders at most MaxDiagnostics diagnostics (then "... and N more") as
//
//	file:line:col: error: Summary: detail
//	   12 |   scheduler = "wrc"
//	      |               ^^^^^
//
// The echoed line is cut to MaxEchoWidth characters around the problem, and the value
// of an attribute named like a secret (password, auth_pass, token, ...) is shown as
// <redacted> even when it is a literal. sources maps file names to their contents; a file
// not in it is read from disk within the default Limits, and a snippet is left out when
// neither works.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, sources map[string][]byte) error {
	return WriteDiagnosticsN(w, diags, sources, MaxDiagnostics)
}

// WriteDiagnosticsN is WriteDiagnostics printing at most max diagnostics.
func WriteDiagnosticsN(w io.Writer, diags hcl.Diagnostics, sources map[string][]byte, max int) error {
	files := map[string]*echoSource{}
	source := func(name string) *echoSource {
		if f, ok := files[name]; ok {
			return f
		}
		src, ok := sources[name]
		if !ok {
			src, _ = readBounded(name, DefaultMaxBytes)
		}
		f := &echoSource{src: src}
		files[name] = f
		return f
	}
	var b strings.Builder
	for i, diag := range diags {
		if i == max {
			fmt.Fprintf(&b, "... and %s more (%s)\n", groupDigits(int64(len(diags)-max)), countText(diags[max:]))
			break
		}
		b.WriteString(diagnosticLine(diag))
		b.WriteByte('\n')
		s := diag.Subject
		if s == nil {
			continue
		}
		if text, marks, ok := source(s.Filename).echo(s); ok {
			if _, secret := diag.Extra.(secretLine); secret {
				// A diagnostic about a secret: the whole value goes, not only a literal.
				text = maskValue(text)
				if r, n := []rune(marks), utf8.RuneCountInString(text); len(r) > n && n > 0 {
					marks = string(r[:n])
				}
			}
			fmt.Fprintf(&b, "%5d | %s\n      | %s\n", s.Start.Line, text, marks)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// DiagnosticLines renders at most max diagnostics one line each, as the first line
// WriteDiagnostics prints for them (no source, so no secret), then "... and N more".
func DiagnosticLines(diags hcl.Diagnostics, max int) []string {
	var out []string
	for i, d := range diags {
		if i == max {
			out = append(out, fmt.Sprintf("... and %s more (%s)", groupDigits(int64(len(diags)-max)), countText(diags[max:])))
			break
		}
		out = append(out, diagnosticLine(d))
	}
	return out
}

// diagnosticLine is "file:line:col: error: Summary: detail", the message cut at
// maxMessage characters.
func diagnosticLine(d *hcl.Diagnostic) string {
	sev := "error"
	if d.Severity == hcl.DiagWarning {
		sev = "warning"
	}
	msg := d.Summary
	if d.Detail != "" {
		msg += ": " + d.Detail
	}
	msg = cutText(msg, maxMessage)
	if s := d.Subject; s != nil {
		return fmt.Sprintf("%s:%d:%d: %s: %s", s.Filename, s.Start.Line, s.Start.Column, sev, msg)
	}
	return sev + ": " + msg
}

// countText says what a list of diagnostics holds: "3 errors, 1 warning".
func countText(diags hcl.Diagnostics) string {
	errs := len(diags.Errs())
	var parts []string
	plural := func(n int, what string) string {
		if n == 1 {
			return "1 " + what
		}
		return groupDigits(int64(n)) + " " + what + "s"
	}
	if errs > 0 {
		parts = append(parts, plural(errs, "error"))
	}
	if n := len(diags) - errs; n > 0 {
		parts = append(parts, plural(n, "warning"))
	}
	return strings.Join(parts, ", ")
}

// cutText keeps the first max characters of s, marking a cut with "...".
func cutText(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + "..."
		}
		n++
	}
	return s
}

// echoSource is a file's contents and, found on first use, its secret values.
type echoSource struct {
	src        []byte
	secrets    []span
	secretsSet bool
}

func (f *echoSource) secret(off int) (span, bool) {
	if !f.secretsSet {
		f.secrets, f.secretsSet = secretSpans(f.src), true
	}
	// The spans are in order and do not overlap.
	j := sort.Search(len(f.secrets), func(j int) bool { return f.secrets[j].end > off })
	if j < len(f.secrets) && f.secrets[j].start <= off {
		return f.secrets[j], true
	}
	return span{}, false
}

// echo renders the line of r's start: at most MaxEchoWidth characters around it, secrets
// redacted, and the marks under r. ok is false when there is nothing useful to show.
func (f *echoSource) echo(r *hcl.Range) (text, marks string, ok bool) {
	src := f.src
	start := r.Start.Byte
	if src == nil || start < 0 || start > len(src) {
		return "", "", false
	}
	// The window starts at the line's start, or some way before the problem on a long
	// line (a cut marked with "...").
	const before = MaxEchoWidth / 4
	from, cutLeft := start, false
	for n := 0; from > 0 && src[from-1] != '\n'; n++ {
		if n == before {
			cutLeft = true
			break
		}
		_, size := utf8.DecodeLastRune(src[:from])
		from -= size
	}
	end := r.End.Byte
	if r.End.Line != r.Start.Line || end <= start {
		end = -1 // marks to the end of what is shown
	}

	var out []rune
	width := MaxEchoWidth
	if cutLeft {
		out = append(out, []rune("...")...)
		width -= 3
	}
	startCol, endCol := -1, -1
	shown, cutRight := 0, false
	for i := from; i < len(src) && src[i] != '\n' && !(src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n'); {
		if shown >= width {
			cutRight = true
			break
		}
		if sp, ok := f.secret(i); ok {
			if startCol < 0 && start < sp.end {
				startCol = len(out)
			}
			out = append(out, []rune(redactedText)...)
			shown += len(redactedText)
			if endCol < 0 && startCol >= 0 && end >= 0 && end <= sp.end {
				endCol = len(out)
			}
			// A secret may go on over lines (a heredoc): this line ends where it does.
			if nl := bytes.IndexByte(src[i:sp.end], '\n'); nl >= 0 {
				break
			}
			i = sp.end
			continue
		}
		if startCol < 0 && i >= start {
			startCol = len(out)
		}
		if endCol < 0 && end >= 0 && i >= end {
			endCol = len(out)
		}
		c, size := utf8.DecodeRune(src[i:])
		out = append(out, c)
		shown++
		i += size
	}
	if startCol < 0 {
		startCol = len(out) // the problem is at the end of the line
	}
	if endCol < 0 {
		endCol = len(out)
	}
	endCol = max(endCol, startCol+1)
	if cutRight {
		// The marker takes the place of the last characters shown.
		out = append(out[:max(len(out)-3, 0)], []rune("...")...)
		startCol, endCol = min(startCol, len(out)-3), min(endCol, len(out)-3)
		endCol = max(endCol, startCol+1)
	}
	if strings.TrimSpace(string(out)) == "" {
		return "", "", false
	}
	pad := make([]rune, startCol)
	for j := range pad {
		pad[j] = ' '
		if j < len(out) && out[j] == '\t' {
			pad[j] = '\t'
		}
	}
	return string(out), string(pad) + strings.Repeat("^", endCol-startCol), true
}

// maskValue hides what follows the "=" of an attribute line, for a diagnostic about a
// secret written in the file itself.
func maskValue(line string) string {
	if i := strings.IndexByte(line, '='); i >= 0 {
		return line[:i+1] + " <redacted>"
	}
	return "<redacted>"
}
