package conf

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
)

// The pre-scan walks a file through the same contexts as HCL's scanner
// (hclsyntax/scan_tokens.rl: code, quoted strings, heredocs, interpolations, comments)
// without building tokens, and refuses, with one located error, what would make the
// parser recurse too deeply or allocate too much: text that is not UTF-8 or holds control
// characters, nesting deeper than MaxDepth, more than Limits.MaxTokens tokens, overlong
// names and numbers. It follows the scanner exactly where that decides what is code (a
// bracket inside a string or a comment is no bracket) and counts conservatively
// elsewhere (every '-' as if it were unary), so no file the parser would overflow on
// passes. It also finds the values of secret attributes, which diagnostics never echo.

// span is a byte range [start, end) of the source.
type span struct{ start, end int }

type frameKind uint8

const (
	frameBase    frameKind = iota // the file's top level
	frameBrace                    // { in code: a block body or an object
	frameBrack                    // [
	frameParen                    // (
	frameInterp                   // ${ or %{ in a template: code up to its }
	frameString                   // "...": a quoted template
	frameHeredoc                  // <<EOT ... EOT
)

func (k frameKind) code() bool { return k <= frameInterp }

type frame struct {
	kind frameKind
	// ops counts the unary (!, -) and conditional (?) operators of the current item of
	// a code frame: the parser recurses once for each, with no bracket to count.
	ops int
	// directives counts the open %{if} and %{for} of a template: the template parser
	// recurses once for each.
	directives int
	// A heredoc's end marker, and whether its scanner is at the start of a line.
	marker      []byte
	startOfLine bool
	// An interpolation opened by %{: its first name opens or closes a directive.
	control, named bool
	// A quoted string without interpolation can be an object key ("Authorization" = ...).
	simple       bool
	contentStart int
}

type prescanner struct {
	src      []byte
	filename string
	lim      Limits
	lenient  bool // keep going after an error (to find secrets for diagnostics)
	maxDepth int  // MaxDepth, smaller in tests

	stack  []frame
	extra  int // the sum of ops and directives over the stack
	tokens int
	text   int64 // bytes of string and heredoc literals
	// noCommentEnd is an offset from which no "*/" follows, or -1: an unterminated /* is
	// no comment for HCL's scanner, just '/' and '*'.
	noCommentEnd int

	splits []int // where a top-level item begins, about splitEvery apart

	key []byte // the name just read, when an = or : may follow
	// secretNames remembers isSecretName of the names seen: a file repeats a few dozen
	// names, and the test took half of the pre-scan's time.
	secretNames map[string]bool
	secrets     []span
	secretOpen  bool
	secretStart int
	secretDepth int

	err *hcl.Diagnostic
}

// prescan checks src against lim before HCL parses it; nil means the parser may run.
func prescan(src []byte, filename string, lim Limits) *hcl.Diagnostic {
	_, d := prescanSplits(src, filename, lim)
	return d
}

// prescanSplits is prescan that also returns offsets, about splitEvery apart, where a
// top-level item begins (parseChunks may cut the file there).
func prescanSplits(src []byte, filename string, lim Limits) ([]int, *hcl.Diagnostic) {
	if d := checkText(src, filename); d != nil {
		return nil, d
	}
	p := newPrescanner(src, filename, lim, false)
	p.run()
	return p.splits, p.err
}

// splitEvery is how far apart the pre-scan notes where the file could be cut: pieces of
// a few hundred tokens (parseChunks).
const splitEvery = 2 << 10

// secretSpans returns the byte ranges of secret attribute values in src, however broken
// src is.
func secretSpans(src []byte) []span {
	p := newPrescanner(src, "", Limits{MaxTokens: 1 << 62, MaxText: 1 << 62}, true)
	p.run()
	return p.secrets
}

func newPrescanner(src []byte, filename string, lim Limits, lenient bool) *prescanner {
	return &prescanner{src: src, filename: filename, lim: lim.withDefaults(), lenient: lenient,
		maxDepth: MaxDepth, stack: []frame{{kind: frameBase}}, noCommentEnd: -1}
}

// checkText refuses what is not text: invalid UTF-8, and control characters other than
// tab, line feed and carriage return (C0, DEL and C1: none belongs in a configuration,
// and echoed to a terminal they could drive it).
func checkText(src []byte, filename string) *hcl.Diagnostic {
	for i := 0; i < len(src); {
		b := src[i]
		if b < utf8.RuneSelf {
			if (b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7f {
				return posError(src, filename, i, "Control character in the file",
					fmt.Sprintf("Byte 0x%02x is a control character; a configuration is text (is this the right file?).", b))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			return posError(src, filename, i, "Invalid UTF-8",
				fmt.Sprintf("Byte 0x%02x is not valid UTF-8; a configuration is UTF-8 text (is this the right file?).", b))
		}
		if r >= 0x80 && r <= 0x9f {
			return posError(src, filename, i, "Control character in the file",
				fmt.Sprintf("U+%04X is a control character; a configuration is text (is this the right file?).", r))
		}
		i += size
	}
	return nil
}

// posError is a diagnostic at byte offset off of src, with HCL's line and column
// (columns count characters).
func posError(src []byte, filename string, off int, summary, detail string) *hcl.Diagnostic {
	pos := offsetPos(src, off)
	end := pos
	if off < len(src) {
		_, size := utf8.DecodeRune(src[off:])
		end = hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: off + size}
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail,
		Subject: &hcl.Range{Filename: filename, Start: pos, End: end}}
}

func offsetPos(src []byte, off int) hcl.Pos {
	off = min(off, len(src))
	line := 1 + bytes.Count(src[:off], []byte("\n"))
	lineStart := bytes.LastIndexByte(src[:off], '\n') + 1
	return hcl.Pos{Line: line, Column: 1 + utf8.RuneCount(src[lineStart:off]), Byte: off}
}

func (p *prescanner) fail(off int, summary, detail string) {
	if p.err == nil {
		p.err = posError(p.src, p.filename, off, summary, detail)
	}
}

// stopped: the strict scan stops at its first error; the lenient one goes on, but not
// deeper than a little past the limit, so its stack stays small.
func (p *prescanner) stopped() bool {
	return p.err != nil && (!p.lenient || p.depth() > p.maxDepth+8)
}

func (p *prescanner) top() *frame { return &p.stack[len(p.stack)-1] }

func (p *prescanner) depth() int { return len(p.stack) - 1 + p.extra }

func (p *prescanner) checkDepth(off int) {
	if p.depth() > p.maxDepth {
		p.fail(off, "Nested too deeply",
			fmt.Sprintf("More than %d levels of blocks, brackets, strings and interpolations (or of !, - and ? in one expression) at this point; a vigil configuration needs about 12.", p.maxDepth))
	}
}

func (p *prescanner) token(off int) {
	p.tokens++
	if p.tokens > p.lim.MaxTokens {
		p.fail(off, "Too many tokens",
			fmt.Sprintf("The file holds more than %s names, numbers, strings and symbols (1,000 virtual servers of 4 real servers take about 200,000); raise --max-config-size if it is meant to be that large.", groupDigits(int64(p.lim.MaxTokens))))
	}
}

// literal counts n bytes of string or heredoc text at off.
func (p *prescanner) literal(off, n int) {
	p.text += int64(n)
	if p.text > p.lim.MaxText {
		p.fail(off, "Too much text",
			fmt.Sprintf("The file's strings and heredocs hold more than %s; raise --max-config-size if it is meant to be that large.", sizeText(p.lim.MaxText)))
	}
}

func (p *prescanner) push(f frame, off int) {
	p.stack = append(p.stack, f)
	p.checkDepth(off)
}

// popTo removes the frames above index i and frame i itself.
func (p *prescanner) popTo(i, off int) {
	for len(p.stack) > i {
		f := p.top()
		p.extra -= f.ops + f.directives
		p.stack = p.stack[:len(p.stack)-1]
	}
	if p.secretOpen && len(p.stack) < p.secretDepth {
		p.endSecret(off)
	}
}

func (p *prescanner) addOp(off int) {
	p.top().ops++
	p.extra++
	p.checkDepth(off)
}

// endItem: a comma, or a newline in a body or an object, ends an item, and with it the
// recursion of its operators and the value of a secret attribute.
func (p *prescanner) endItem(off int, newline bool) {
	f := p.top()
	if newline && f.kind != frameBase && f.kind != frameBrace {
		return // newlines inside (), [] and ${} do not end anything
	}
	p.extra -= f.ops
	f.ops = 0
	if p.secretOpen && len(p.stack) == p.secretDepth {
		p.endSecret(off)
	}
}

// lineStart notes off, the start of a line, as a split point when nothing is open there.
func (p *prescanner) lineStart(off int) {
	if len(p.stack) != 1 || p.lenient {
		return
	}
	if n := len(p.splits); n == 0 && off >= splitEvery || n > 0 && off-p.splits[n-1] >= splitEvery {
		p.splits = append(p.splits, off)
	}
}

func (p *prescanner) endSecret(off int) {
	p.secrets = append(p.secrets, span{p.secretStart, off})
	p.secretOpen = false
}

func (p *prescanner) run() {
	src := p.src
	i := 0
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		i = 3 // HCL's scanner skips a byte-order mark
	}
	for i < len(src) && !p.stopped() {
		switch p.top().kind {
		case frameString:
			i = p.inString(i)
		case frameHeredoc:
			i = p.inHeredoc(i)
		default:
			i = p.inCode(i)
		}
	}
	if p.secretOpen {
		p.endSecret(len(src))
	}
}

func isIdentStart(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_'
}

func isIdentByte(b byte) bool {
	return isIdentStart(b) || b >= '0' && b <= '9' || b == '-'
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func (p *prescanner) at(i int) byte {
	if i < len(p.src) {
		return p.src[i]
	}
	return 0
}

// inCode handles one token of code (the top level, a block, brackets, an interpolation)
// at i and returns the offset after it.
func (p *prescanner) inCode(i int) int {
	src := p.src
	b := src[i]
	key := p.key
	p.key = nil
	// The first token of a %{ directive, spaces, newlines and comments aside, is its
	// keyword: only an endif or endfor there closes a directive.
	keyword := false
	if f := p.top(); f.control && !f.named && b != ' ' && b != '\t' && b != '\n' && b != '\r' && b != '#' && b != '/' {
		f.named, keyword = true, true
	}
	switch {
	case b == ' ' || b == '\t':
		p.key = key // spaces do not separate a key from its =
		for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
			i++
		}
		return i
	case b == '\n' || b == '\r' && p.at(i+1) == '\n':
		p.token(i)
		p.endItem(i, true)
		next := i + 1
		if b == '\r' {
			next = i + 2
		}
		p.lineStart(next)
		return next
	case b == '#' || b == '/' && p.at(i+1) == '/':
		// A line comment takes its newline with it, and the parser reads it as one.
		p.token(i)
		end := bytes.IndexByte(src[i:], '\n')
		if end < 0 {
			return len(src)
		}
		p.endItem(i+end, true)
		p.lineStart(i + end + 1)
		return i + end + 1
	case b == '/' && p.at(i+1) == '*' && p.blockCommentEnd(i+2) >= 0:
		p.token(i)
		return p.blockCommentEnd(i+2) + 2
	case b == '"':
		p.token(i)
		p.push(frame{kind: frameString, simple: true, contentStart: i + 1}, i)
		return i + 1
	case b == '<' && p.at(i+1) == '<':
		if marker, next := p.heredocOpener(i); marker != nil {
			p.token(i)
			p.push(frame{kind: frameHeredoc, marker: marker, startOfLine: true}, i)
			return next
		}
		p.token(i)
		return i + 1
	case b == '{':
		p.token(i)
		p.push(frame{kind: frameBrace}, i)
		return i + 1
	case b == '}' || b == '~' && p.at(i+1) == '}':
		p.token(i)
		p.closeBrace(i)
		if b == '~' {
			return i + 2
		}
		return i + 1
	case b == '[':
		p.token(i)
		p.push(frame{kind: frameBrack}, i)
		return i + 1
	case b == '(':
		p.token(i)
		p.push(frame{kind: frameParen}, i)
		return i + 1
	case b == ']' || b == ')':
		p.token(i)
		want := frameBrack
		if b == ')' {
			want = frameParen
		}
		p.closeBracket(want, i)
		return i + 1
	case isIdentStart(b):
		start := i
		for i < len(src) && isIdentByte(src[i]) {
			i++
		}
		p.token(start)
		if i-start > MaxNameLength {
			p.fail(start, "Name too long",
				fmt.Sprintf("A name of %d characters; names are at most %d (vigil's longest is under 30).", i-start, MaxNameLength))
		}
		p.name(src[start:i], keyword, start)
		return i
	case isDigit(b):
		start := i
		i = numberEnd(src, i)
		p.token(start)
		if i-start > MaxNumberLength {
			p.fail(start, "Number too long",
				fmt.Sprintf("A number of %d characters; numbers are at most %d (no vigil value needs more than 20 digits).", i-start, MaxNumberLength))
		}
		return i
	case b == '!' || b == '=' || b == '<' || b == '>':
		p.token(i)
		if p.at(i+1) == '=' || b == '=' && p.at(i+1) == '>' {
			return i + 2 // != == <= >= =>
		}
		switch b {
		case '!':
			p.addOp(i)
		case '=':
			p.assign(key, i)
		}
		return i + 1
	case b == ':':
		p.token(i)
		if p.at(i+1) == ':' {
			return i + 2
		}
		p.assign(key, i) // an object key's separator, or a conditional's
		return i + 1
	case b == '-' || b == '?':
		p.token(i)
		p.addOp(i)
		return i + 1
	case b == ',':
		p.token(i)
		p.endItem(i, false)
		return i + 1
	case b >= utf8.RuneSelf:
		_, size := utf8.DecodeRune(src[i:])
		p.fail(i, "Non-ASCII character outside a string",
			"Names and keywords are ASCII; text belongs in quotes, and comments start with #.")
		return i + size
	default:
		p.token(i) // the other symbols, and a lone carriage return (an invalid token)
		return i + 1
	}
}

// numberEnd is where HCL's NumberLit starting at i ends: digits, '.', and exponents
// (e, E, optionally signed), not ending in '.'.
func numberEnd(src []byte, i int) int {
	i++
	for i < len(src) {
		switch c := src[i]; {
		case isDigit(c) || c == '.':
			i++
		case (c == 'e' || c == 'E') && i+1 < len(src) && isDigit(src[i+1]):
			i += 2
		case (c == 'e' || c == 'E') && i+2 < len(src) && (src[i+1] == '+' || src[i+1] == '-') && isDigit(src[i+2]):
			i += 3
		default:
			if src[i-1] == '.' {
				i--
			}
			return i
		}
	}
	if src[i-1] == '.' {
		i--
	}
	return i
}

// blockCommentEnd returns the offset of the first "*/" at or after from, or -1.
func (p *prescanner) blockCommentEnd(from int) int {
	if p.noCommentEnd >= 0 && from >= p.noCommentEnd {
		return -1
	}
	if j := bytes.Index(p.src[from:], []byte("*/")); j >= 0 {
		return from + j
	}
	p.noCommentEnd = from
	return -1
}

// heredocOpener matches "<<" "-"? Ident Newline at i; marker is nil when there is none.
func (p *prescanner) heredocOpener(i int) (marker []byte, next int) {
	src := p.src
	j := i + 2
	if j < len(src) && src[j] == '-' {
		j++
	}
	if j >= len(src) || !isIdentStart(src[j]) {
		return nil, 0
	}
	start := j
	for j < len(src) && isIdentByte(src[j]) {
		j++
	}
	end := j
	if j < len(src) && src[j] == '\r' {
		j++
	}
	if j >= len(src) || src[j] != '\n' {
		return nil, 0
	}
	return src[start:end], j + 1
}

// closeBrace is HCL's closeBrace: a } ends the innermost interpolation when no brace was
// opened inside it since, and closes that brace otherwise.
func (p *prescanner) closeBrace(off int) {
	for i := len(p.stack) - 1; i > 0; i-- {
		switch p.stack[i].kind {
		case frameInterp, frameBrace:
			p.popTo(i, off)
			return
		case frameString, frameHeredoc:
			return
		}
	}
}

// closeBracket closes the innermost open ( or [ of the current code, if there is one.
func (p *prescanner) closeBracket(want frameKind, off int) {
	for i := len(p.stack) - 1; i > 0; i-- {
		switch k := p.stack[i].kind; {
		case k == want:
			p.popTo(i, off)
			return
		case !k.code() || k == frameInterp || k == frameBrace:
			return // an unmatched closer: the parser reports it
		}
	}
}

// name handles an identifier: in a %{ directive "if" and "for" open one (counted
// wherever they appear, which can only overstate the depth) and "endif" and "endfor"
// as its keyword close one; elsewhere it may be a key.
func (p *prescanner) name(n []byte, keyword bool, off int) {
	f := p.top()
	if f.kind == frameInterp && f.control {
		tmpl := &p.stack[len(p.stack)-2]
		switch string(n) {
		case "if", "for":
			tmpl.directives++
			p.extra++
			p.checkDepth(off)
		case "endif", "endfor":
			if keyword && tmpl.directives > 0 {
				tmpl.directives--
				p.extra--
			}
		}
		return
	}
	p.key = n
}

// assign starts the value of a secret attribute or object key.
func (p *prescanner) assign(key []byte, off int) {
	if key != nil && !p.secretOpen && p.isSecret(key) {
		start := off + 1
		for start < len(p.src) && (p.src[start] == ' ' || p.src[start] == '\t') {
			start++
		}
		p.secretOpen, p.secretStart, p.secretDepth = true, start, len(p.stack)
	}
}

// maxSecretNames bounds secretNames: a file of 100,000 different names is no
// configuration, and need not be checked faster.
const maxSecretNames = 4096

func (p *prescanner) isSecret(key []byte) bool {
	secret, ok := p.secretNames[string(key)]
	if !ok {
		if p.secretNames == nil {
			p.secretNames = map[string]bool{}
		}
		secret = isSecretName(string(key))
		if len(p.secretNames) < maxSecretNames {
			p.secretNames[string(key)] = secret
		}
	}
	return secret
}

// isSecretName reports whether an attribute or key is named like a secret. It errs on
// the side of hiding: a hidden path costs nothing, a shown password a great deal.
func isSecretName(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"pass", "pwd", "secret", "token", "auth", "cred", "private"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return len(n) <= 12 && bagDistance(n, "password") <= 2 && levenshtein.Distance(n, "password", nil) <= 2
}

// bagDistance is a lower bound of the Levenshtein distance of a and b, cheap to take:
// the larger of how many bytes of a are not matched by one of b and the other way round
// (each edit mends at most one of each).
func bagDistance(a, b string) int {
	var count [256]int
	for i := 0; i < len(b); i++ {
		count[b[i]]++
	}
	extra := 0 // bytes of a that b lacks
	for i := 0; i < len(a); i++ {
		if count[a[i]] > 0 {
			count[a[i]]--
		} else {
			extra++
		}
	}
	missing := len(b) - (len(a) - extra) // bytes of b that a lacks
	return max(extra, missing)
}

// templateOpener handles $ or % at i in a template: ${ and %{ open an interpolation,
// $${ and %%{ are literal. It returns the offset after what it consumed.
func (p *prescanner) templateOpener(i int) int {
	b := p.src[i]
	switch {
	case p.at(i+1) == '{':
		p.token(i)
		p.top().simple = false
		p.push(frame{kind: frameInterp, control: b == '%'}, i)
		i += 2
		if p.at(i) == '~' {
			i++
		}
		return i
	case p.at(i+1) == b && p.at(i+2) == '{':
		p.token(i)
		i += 3
		if p.at(i) == '~' {
			i++
		}
		return i
	}
	p.token(i)
	return i + 1
}

// inString handles one piece of a quoted template at i.
func (p *prescanner) inString(i int) int {
	src := p.src
	switch b := src[i]; b {
	case '"':
		p.token(i)
		f := p.top()
		var key []byte
		if f.simple {
			key = src[f.contentStart:i]
		}
		p.popTo(len(p.stack)-1, i)
		p.key = key
		return i + 1
	case '$', '%':
		return p.templateOpener(i)
	case '\n', '\r':
		p.token(i) // HCL reports the line break; the string goes on to the next quote
		return i + 1
	case '\\':
		p.token(i)
		if c := p.at(i + 1); i+1 < len(src) && c != '\n' && c != '\r' {
			_, size := utf8.DecodeRune(src[i+1:])
			return i + 1 + size
		}
		return i + 1
	}
	p.token(i)
	j := bytes.IndexAny(src[i:], "\"$%\n\r\\")
	if j < 0 {
		j = len(src) - i
	}
	p.literal(i, j)
	return i + j
}

// inHeredoc handles one piece of a heredoc at i. A line whose text, spaces trimmed, is
// the marker ends it, unless an interpolation came first on that line or the line holds
// a $ or a %.
func (p *prescanner) inHeredoc(i int) int {
	src := p.src
	f := p.top()
	if f.startOfLine {
		f.startOfLine = false
		if eol := bytes.IndexByte(src[i:], '\n'); eol >= 0 {
			line := src[i : i+eol]
			if !bytes.ContainsAny(line, "$%") && bytes.Equal(bytes.TrimSpace(line), f.marker) {
				p.token(i)
				p.popTo(len(p.stack)-1, i)
				// The newline after the marker is a newline of the code around the heredoc.
				end := i + eol
				if end > i && src[end-1] == '\r' {
					end--
				}
				return end
			}
		}
	}
	switch src[i] {
	case '$', '%':
		return p.templateOpener(i)
	case '\n':
		p.token(i)
		f.startOfLine = true
		return i + 1
	}
	p.token(i)
	j := bytes.IndexAny(src[i:], "$%\n")
	if j < 0 {
		j = len(src) - i
	}
	p.literal(i, j)
	return i + j
}
