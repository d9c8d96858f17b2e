package conf

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics renders each diagnostic as
//
//	file:line:col: error: Summary: detail
//	   12 |   scheduler = "wrc"
//	      |               ^^^^^
//
// sources maps file names to their contents; a file not in it is read from disk, and a
// snippet is left out when neither works.
func WriteDiagnostics(w io.Writer, diags hcl.Diagnostics, sources map[string][]byte) error {
	cache := map[string][][]byte{}
	lines := func(name string) [][]byte {
		if l, ok := cache[name]; ok {
			return l
		}
		src, ok := sources[name]
		if !ok {
			b, err := os.ReadFile(name)
			if err == nil {
				src = b
			}
		}
		l := bytes.Split(src, []byte("\n"))
		cache[name] = l
		return l
	}
	var b strings.Builder
	for _, diag := range diags {
		sev := "error"
		if diag.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		msg := diag.Summary
		if diag.Detail != "" {
			msg += ": " + diag.Detail
		}
		if diag.Subject == nil {
			fmt.Fprintf(&b, "%s: %s\n", sev, msg)
			continue
		}
		s := diag.Subject
		fmt.Fprintf(&b, "%s:%d:%d: %s: %s\n", s.Filename, s.Start.Line, s.Start.Column, sev, msg)
		src := lines(s.Filename)
		if s.Start.Line < 1 || s.Start.Line > len(src) {
			continue
		}
		line := strings.TrimRight(string(src[s.Start.Line-1]), "\r")
		if _, ok := diag.Extra.(secretLine); ok {
			line = maskValue(line)
		}
		fmt.Fprintf(&b, "%5d | %s\n", s.Start.Line, line)
		// Underline the subject on its first line; columns count characters, and tabs are
		// kept so the caret lines up.
		runes := []rune(line)
		startCol := min(max(s.Start.Column-1, 0), len(runes))
		endCol := len(runes)
		if s.End.Line == s.Start.Line {
			endCol = min(max(s.End.Column-1, startCol+1), len(runes))
		}
		pad := make([]rune, startCol)
		for i := range pad {
			pad[i] = ' '
			if runes[i] == '\t' {
				pad[i] = '\t'
			}
		}
		fmt.Fprintf(&b, "      | %s%s\n", string(pad), strings.Repeat("^", max(endCol-startCol, 1)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// maskValue hides what follows the "=" of an attribute line, for a diagnostic about a
// secret written in the file itself.
func maskValue(line string) string {
	if i := strings.IndexByte(line, '='); i >= 0 {
		return line[:i+1] + " <redacted>"
	}
	return "<redacted>"
}
