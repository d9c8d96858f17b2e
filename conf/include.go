package conf

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// MaxFiles bounds how many files one configuration may be read from (a directory's *.hcl
// and what global.include names).
const MaxFiles = 1024

// Loader reads a configuration from a file or from a directory (its *.hcl, in name order)
// with the files global.include names, and validates the whole as one. It keeps each
// file's parse and the decode of its virtual servers, so that a reload parses and decodes
// again only the files whose content changed; what crosses files (names, addresses, VRRP,
// groups, tracking) is validated on the whole every time, so the diagnostics are those of
// the files decoded together. It keeps only what the configuration that loaded last
// uses. It is safe for concurrent use; the zero value uses the default Limits.
type Loader struct {
	// Limits bound the files together: their total size, tokens and strings.
	Limits Limits

	mu      sync.Mutex
	cache   map[string]*parsedFile // by file name
	decoded map[string]*fileDecode // by file name (loader_decode.go)
}

// parsedFile is one file's parse, reused while its content stays the same.
type parsedFile struct {
	sum   [sha256.Size]byte
	src   []byte
	body  *hclsyntax.Body
	diags hcl.Diagnostics
	// guard is guardExpressions of the file's blocks.
	guard  hcl.Diagnostics
	tokens int
	text   int64
}

// Load reads and validates the configuration at path (a file or a directory). sources
// holds what was read of every file, for WriteDiagnostics; the diagnostics name the file
// each problem is in. The Config is nil when there is any error.
func (l *Loader) Load(path string) (cfg *Config, sources map[string][]byte, diags hcl.Diagnostics) {
	return l.load(path, defaultOptions())
}

func (l *Loader) load(path string, opts options) (*Config, map[string][]byte, hcl.Diagnostics) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.Limits.withDefaults()
	files, d := configFiles(path)
	if d != nil {
		return nil, nil, hcl.Diagnostics{d}
	}
	next := map[string]*parsedFile{}
	sources := map[string][]byte{}
	fs := &fileDecodes{sums: map[string][sha256.Size]byte{}, guard: map[string]hcl.Diagnostics{},
		prev: l.decoded, next: map[string]*fileDecode{}}
	var (
		bodies []*hclsyntax.Body
		diags  hcl.Diagnostics
		used   Limits // what the files read so far took of lim
		seen   = map[string]bool{}
	)
	for i := 0; i < len(files); i++ {
		name := files[i]
		if len(files) > MaxFiles {
			return nil, sources, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Too many configuration files",
				Detail: fmt.Sprintf("%s and what it includes name more than %d files.", path, MaxFiles)}}
		}
		left := Limits{MaxBytes: lim.MaxBytes - used.MaxBytes, MaxTokens: lim.MaxTokens - used.MaxTokens, MaxText: lim.MaxText - used.MaxText}
		pf, d := l.parseFile(name, left, lim)
		if d != nil {
			return nil, sources, append(diags, d)
		}
		next[name] = pf
		fs.sums[name], fs.guard[name] = pf.sum, pf.guard
		sources[name] = pf.src
		used.MaxBytes += int64(len(pf.src))
		used.MaxTokens += pf.tokens
		used.MaxText += pf.text
		diags = append(diags, pf.diags...)
		bodies = append(bodies, pf.body)
		seen[name] = true
		more, incDiags := includedFiles(pf.body, name)
		diags = append(diags, incDiags...)
		for _, f := range more {
			if !seen[f] && !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	if diags.HasErrors() {
		sortDiagnostics(diags)
		return nil, sources, diags
	}
	opts.files = fs
	cfg, diags := decodeBody(mergeBodies(bodies, &diags), diags, opts)
	// Only a configuration that loaded is kept: a rejected reload leaves the running
	// configuration's parses and decodes, and does not hold on to what it read (a hostile
	// file's parse is hundreds of MB; the daemon's RSS stays as it was, issue 14).
	if cfg != nil {
		l.cache, l.decoded = next, fs.next
	}
	return cfg, sources, diags
}

// parseFile reads and parses name within left (what the files before it left of lim),
// or returns its cached parse when its content is what it was.
func (l *Loader) parseFile(name string, left, lim Limits) (*parsedFile, *hcl.Diagnostic) {
	src, d := readBounded(name, max(left.MaxBytes, 0))
	if d != nil {
		if d.Summary == "Configuration file too large" && left.MaxBytes < lim.MaxBytes {
			d.Detail = fmt.Sprintf("%s would take the configuration's files past %s together (raise it with --max-config-size if they are meant to be that large).", name, sizeText(lim.MaxBytes))
		}
		return nil, d
	}
	sum := sha256.Sum256(src)
	if pf, ok := l.cache[name]; ok && pf.sum == sum && pf.tokens <= left.MaxTokens && pf.text <= left.MaxText {
		return pf, nil
	}
	p := newPrescanner(src, name, Limits{MaxBytes: left.MaxBytes, MaxTokens: max(left.MaxTokens, 1), MaxText: max(left.MaxText, 1)}, false)
	if d := checkText(src, name); d != nil {
		return nil, d
	}
	p.run()
	if p.err != nil {
		return nil, p.err
	}
	body, diags := parseChunks(src, name, p.splits)
	return &parsedFile{sum: sum, src: src, body: body, diags: diags, guard: blockGuard(body), tokens: p.tokens, text: p.text}, nil
}

// configFiles are the files path names: itself, or a directory's *.hcl in name order.
func configFiles(path string) ([]string, *hcl.Diagnostic) {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return []string{path}, nil // readBounded says what is wrong with it
	}
	files, err := filepath.Glob(filepath.Join(globEscape(path), "*.hcl"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("%s holds no *.hcl file", path)
	}
	if err != nil {
		return nil, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read configuration directory", Detail: err.Error() + "."}
	}
	return files, nil
}

// includedFiles expands the global.include patterns of body (a file named name), relative
// to name's directory, each pattern's matches in name order.
func includedFiles(body *hclsyntax.Body, name string) ([]string, hcl.Diagnostics) {
	var out []string
	var diags hcl.Diagnostics
	for _, b := range body.Blocks {
		if b.Type != "global" {
			continue
		}
		a, ok := b.Body.Attributes["include"]
		if !ok {
			continue
		}
		v, d := a.Expr.Value(nil)
		if d.HasErrors() || !v.Type().IsTupleType() && !v.Type().IsListType() {
			continue // the decoder reports it
		}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() || !e.IsKnown() || e.Type() != cty.String {
				continue
			}
			pat := e.AsString()
			if !filepath.IsAbs(pat) {
				pat = filepath.Join(globEscape(filepath.Dir(name)), pat)
			}
			matches, err := filepath.Glob(pat)
			if err != nil {
				rng := a.Expr.Range()
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid include pattern",
					Detail: fmt.Sprintf("%q: %v.", e.AsString(), err), Subject: &rng})
				continue
			}
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
					out = append(out, m)
				}
			}
		}
	}
	return out, diags
}

// globEscape quotes the glob metacharacters of a literal directory name.
func globEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// mergeBodies puts the files' bodies together as one, in order (a single file's is
// itself).
func mergeBodies(bodies []*hclsyntax.Body, diags *hcl.Diagnostics) *hclsyntax.Body {
	if len(bodies) == 1 {
		return bodies[0]
	}
	out := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: bodies[0].SrcRange, EndRange: bodies[0].EndRange}
	for _, b := range bodies {
		out.Blocks = append(out.Blocks, b.Blocks...)
		for name, a := range b.Attributes {
			if first, ok := out.Attributes[name]; ok {
				*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Attribute redefined",
					Detail:  fmt.Sprintf("The argument %q was already set at %s. Each argument may be set only once.", name, first.NameRange),
					Subject: &a.NameRange})
				continue
			}
			out.Attributes[name] = a
		}
	}
	return out
}

// includePatterns decodes global.include: glob patterns (filepath.Match syntax).
func (d *decoder) includePatterns(a *hcl.Attribute) []string {
	pats, ok := d.strList(a)
	if !ok {
		return nil
	}
	for _, p := range pats {
		if _, err := filepath.Match(p, ""); err != nil || p == "" {
			d.errorf(a.Expr.Range(), "Invalid include pattern", "%q is not a glob pattern (such as \"conf.d/*.hcl\").", p)
		}
	}
	return pats
}
