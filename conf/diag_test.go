package conf

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// wantError fails t unless parsing src reports an error containing want ("Summary:
// Detail") located at pos ("line:col").
func wantError(t *testing.T, src, want, pos string) {
	t.Helper()
	_, diags := parse([]byte(src), "test.hcl", testOptions(nil))
	var all []string
	for _, dg := range diags {
		text := dg.Summary + ": " + dg.Detail
		at := ""
		if dg.Subject != nil {
			at = fmt.Sprintf("%d:%d", dg.Subject.Start.Line, dg.Subject.Start.Column)
		}
		if dg.Severity == hcl.DiagError && strings.Contains(text, want) && at == pos {
			return
		}
		all = append(all, at+" "+text)
	}
	t.Errorf("want %q at %s, got:\n%s", want, pos, strings.Join(all, "\n"))
}
