package director

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/vigil-lb/vigil/conf"
)

// maxLoggedDiagnostics is how many of a rejected file's diagnostics the log gets, one
// line each: the log is a summary, /status and `vigil reload` have the rest.
const maxLoggedDiagnostics = 5

// ErrRejected wraps the error ReloadFile returns for a file that did not load.
var ErrRejected = errors.New("configuration rejected")

// ReloadFile is a reload as SIGHUP makes it: it reads and validates the file at path
// within lim (through Options.Loader when set: path may then be a directory, and the lim
// are the Loader's) and applies it as Reload does. A file that does not load (unreadable, too
// large, not text, invalid, or defining nothing to run) changes nothing: everything keeps
// running, /status holds its diagnostics as `vigil check` prints them (bounded as
// conf.WriteDiagnostics bounds them, secrets redacted) and the log a summary of at most
// maxLoggedDiagnostics lines.
//
// It returns the configuration that now runs when the file was applied, with Reload's
// error when the table refused some of it (applied with errors); and nil with an error
// wrapping ErrRejected when the file was rejected.
func (d *Director) ReloadFile(ctx context.Context, path string, lim conf.Limits) (*conf.Config, error) {
	var cfg *conf.Config
	var sources map[string][]byte
	var diags hcl.Diagnostics
	if l := d.o.Loader; l != nil {
		// A conf.d directory or includes: only the files whose content changed are parsed.
		cfg, sources, diags = l.Load(path)
	} else {
		var src []byte
		cfg, src, diags = conf.LoadLimited(path, lim)
		sources = map[string][]byte{path: src}
	}
	if diags.HasErrors() {
		var report strings.Builder
		conf.WriteDiagnostics(&report, diags, sources)
		n := len(diags.Errs())
		fmt.Fprintf(&report, "%s: %d error(s)\n", path, n)
		d.log.Error("reload rejected: the configuration has errors; everything keeps running as it was",
			"config", path, "errors", n, "diagnostics", conf.DiagnosticLines(diags, maxLoggedDiagnostics))
		d.ReloadFailed(errors.New(report.String()))
		return nil, fmt.Errorf("%w: %s: %d error(s)", ErrRejected, path, n)
	}
	return cfg, d.Reload(ctx, cfg)
}
