package translate

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apparentlymart/go-textseg/v15/textseg"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// The writer lays a block out as hclwrite does (an hclwrite.File of the block, then
// File.Bytes, whose formatter re-measures every token of the file in graphemes: most of
// an import's CPU before it). It makes the tokens hclwrite makes for the same attributes,
// values, comments and blocks, and formats them with hclwrite's rules (format.go in
// hclwrite: indentation from the brackets of each line, the spaces between two tokens,
// the '=' of consecutive attributes aligned), on the few kinds of token vigil import
// writes. TestWriterIsHCLWrite holds its output byte for byte to hclwrite's.

// tkind is a token's kind, as hclwrite's formatter tells them apart.
type tkind uint8

const (
	tIdent tkind = iota
	tEqual
	tOQuote
	tQuoted // the escaped text between the quotes
	tCQuote
	tNumber
	tOBrack
	tCBrack
	tComma
	tOBrace
	tCBrace
	tNewline
	tComment // "# ...\n", which ends its line
)

type wtok struct {
	kind   tkind
	spaces int // spaces before the token (set by format)
	text   string
}

func (t *wtok) bracket() int {
	switch t.kind {
	case tOBrace, tOBrack:
		return 1
	case tCBrace, tCBrack:
		return -1
	}
	return 0
}

// ends reports whether the token ends its line.
func (t *wtok) ends() bool { return t.kind == tNewline || t.kind == tComment }

// columns is hclwrite's Tokens.Columns: spaces count one each, text its graphemes.
func columns(ts []wtok) int {
	n := 0
	for i := range ts {
		n += ts[i].spaces + graphemes(ts[i].text)
	}
	return n
}

func graphemes(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			n := 0
			b := []byte(s)
			for len(b) > 0 {
				adv, _, _ := textseg.ScanGraphemeClusters(b, true)
				if adv == 0 {
					break
				}
				b, n = b[adv:], n+1
			}
			return n
		}
	}
	return len(s)
}

// writer collects the tokens of one top-level block (with its comments); tree, when set,
// is given the syntax tree of what is written (tree.go).
type writer struct {
	toks []wtok
	tree *treeBuilder
}

func (w *writer) add(k tkind, text string) int {
	w.toks = append(w.toks, wtok{kind: k, text: text})
	return len(w.toks) - 1
}

// comment is appendComment's token.
func (w *writer) comment(text string) {
	text = commentSafe(text)
	if text == "" {
		w.add(tComment, "#\n")
		return
	}
	w.add(tComment, "# "+text+"\n")
}

// block writes b as writeBlock writes it into an hclwrite body.
func (w *writer) block(b *vblock, parent *treeBody) {
	if b.src != "" && !b.dropped {
		w.comment(b.src)
	}
	if b.typ == "" {
		for _, it := range b.items {
			w.comment(it.comment)
		}
		return
	}
	if b.dropped {
		if b.src != "" {
			w.comment(b.src)
		}
		w.comment(b.why)
		sub := renderText(&vblock{typ: b.typ, labels: b.labels, items: b.items})
		for l := range strings.SplitSeq(strings.TrimRight(sub, "\n"), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				w.comment(l)
			} else {
				w.comment("  " + l)
			}
		}
		return
	}
	typ := w.add(tIdent, b.typ)
	labels := make([]string, len(b.labels))
	labelAt := make([][2]int, len(b.labels))
	for i, l := range b.labels {
		labels[i] = cty.StringVal(l).AsString() // NFC, as hclwrite's labels
		labelAt[i] = w.quoted(labels[i])
	}
	open := w.add(tOBrace, "{")
	w.add(tNewline, "\n")
	body := w.tree.block(parent, b.typ, labels, typ, labelAt, open)
	// hclwrite's SetAttributeValue replaces an attribute of the same name where it is.
	attrs := b.items
	if dupNames(b.items) {
		attrs = dedupAttrs(b.items)
	}
	for _, it := range attrs {
		switch {
		case it.blk != nil:
		case it.name != "":
			name := w.add(tIdent, it.name)
			eq := w.add(tEqual, "=")
			expr := w.value(it.val)
			w.tree.attr(body, it.name, name, eq, len(w.toks)-1, expr)
			w.add(tNewline, "\n")
		default:
			w.comment(it.comment)
		}
	}
	for _, it := range b.items {
		if it.blk != nil {
			w.block(it.blk, body)
		}
	}
	w.tree.end(body, w.add(tCBrace, "}"))
	w.add(tNewline, "\n")
}

func dupNames(items []item) bool {
	n := 0
	for _, it := range items {
		if it.name != "" {
			n++
		}
	}
	if n < 2 {
		return false
	}
	seen := make(map[string]bool, n)
	for _, it := range items {
		if it.name != "" {
			if seen[it.name] {
				return true
			}
			seen[it.name] = true
		}
	}
	return false
}

// dedupAttrs keeps the first place of each attribute name with its last value.
func dedupAttrs(items []item) []item {
	out := make([]item, 0, len(items))
	at := map[string]int{}
	for _, it := range items {
		if it.name != "" {
			if i, ok := at[it.name]; ok {
				out[i].val = it.val
				continue
			}
			at[it.name] = len(out)
		}
		out = append(out, it)
	}
	return out
}

// quoted writes a quoted string; it returns the indexes of its first and last tokens.
func (w *writer) quoted(s string) [2]int {
	first := w.add(tOQuote, `"`)
	if s != "" {
		w.add(tQuoted, escapeQuoted(s))
	}
	return [2]int{first, w.add(tCQuote, `"`)}
}

// value writes the tokens of hclwrite.TokensForValue(v); with a tree, it returns the
// expression HCL's parser makes of them.
func (w *writer) value(v cty.Value) hclsyntax.Expression {
	ty := v.Type()
	t := w.tree
	switch {
	case !v.IsKnown():
		panic("translate: an unknown value")
	case v.IsNull():
		return t.literal(cty.NullVal(cty.DynamicPseudoType), w.add(tIdent, "null"))
	case ty == cty.Bool:
		if v.True() {
			return t.literal(cty.True, w.add(tIdent, "true"))
		}
		return t.literal(cty.False, w.add(tIdent, "false"))
	case ty == cty.Number:
		text := numberText(v.AsBigFloat())
		return t.number(text, w.add(tNumber, text))
	case ty == cty.String:
		s := v.AsString()
		return t.str(s, w.quoted(s))
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		open := w.add(tOBrack, "[")
		var elems []hclsyntax.Expression
		if t != nil {
			elems = make([]hclsyntax.Expression, 0, v.LengthInt())
		}
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			if i > 0 {
				w.add(tComma, ",")
			}
			_, e := it.Element()
			if x := w.value(e); t != nil {
				elems = append(elems, x)
			}
		}
		return t.tuple(elems, open, w.add(tCBrack, "]"))
	case ty.IsMapType() || ty.IsObjectType():
		open := w.add(tOBrace, "{")
		if v.LengthInt() > 0 {
			w.add(tNewline, "\n")
		}
		var items []hclsyntax.ObjectConsItem
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			var key hclsyntax.Expression
			if name := k.AsString(); hclsyntax.ValidIdentifier(name) {
				key = t.traversal(name, w.add(tIdent, name))
			} else {
				key = w.value(k)
			}
			w.add(tEqual, "=")
			val := w.value(e)
			w.add(tNewline, "\n")
			if t != nil {
				items = append(items, hclsyntax.ObjectConsItem{KeyExpr: &hclsyntax.ObjectConsKeyExpr{Wrapped: key}, ValueExpr: val})
			}
		}
		return t.object(items, open, w.add(tCBrace, "}"))
	default:
		panic(fmt.Sprintf("translate: cannot write %#v", v))
	}
}

// numberText is hclwrite's text of a number, bf.Text('f', -1): for an integer of int64,
// its digits (Text takes tens of microseconds on cty's 512-bit numbers).
func numberText(bf *big.Float) string {
	if bf.IsInt() {
		if i, acc := bf.Int64(); acc == big.Exact {
			return strconv.FormatInt(i, 10)
		}
	}
	return bf.Text('f', -1)
}

// escapeQuoted is hclwrite's escapeQuotedStringLit.
func escapeQuoted(s string) string {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		switch {
		case c < ' ' || c >= 0x7f || c == '"' || c == '\\':
			plain = false
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] == '{':
			plain = false
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch r {
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '$', '%':
			b.WriteRune(r)
			if rest := s[i+1:]; len(rest) > 0 && rest[0] == '{' {
				b.WriteRune(r)
			}
		default:
			switch {
			case unicode.IsPrint(r):
				b.WriteRune(r)
			case r < 65536:
				fmt.Fprintf(&b, "\\u%04x", r)
			default:
				fmt.Fprintf(&b, "\\U%08x", r)
			}
		}
	}
	return b.String()
}

// fline is hclwrite's formatLine: a line's tokens in up to three cells.
type fline struct {
	lead, assign, comment []wtok
}

// format sets the spaces before every token as hclwrite's format does.
func format(toks []wtok) {
	lines := splitLines(toks)
	indent(lines)
	spaces(lines)
	align(lines)
}

func splitLines(toks []wtok) []fline {
	n := 1
	for i := range toks {
		if toks[i].ends() {
			n++
		}
	}
	lines := make([]fline, 0, n)
	start := 0
	for i := range toks {
		if toks[i].ends() {
			lines = append(lines, fline{lead: toks[start : i+1]})
			start = i + 1
		}
	}
	if start < len(toks) {
		lines = append(lines, fline{lead: toks[start:]})
	}
	for i := range lines {
		l := &lines[i]
		if len(l.lead) > 1 && l.lead[len(l.lead)-1].kind == tComment {
			l.comment = l.lead[len(l.lead)-1:]
			l.lead = l.lead[:len(l.lead)-1]
		}
		for j := 1; j < len(l.lead); j++ {
			if l.lead[j].kind != tEqual {
				continue
			}
			net := 0
			for k := j; k < len(l.lead); k++ {
				net += l.lead[k].bracket()
			}
			if net == 0 {
				l.assign = l.lead[j:]
				l.lead = l.lead[:j]
			}
			break
		}
	}
	return lines
}

// indent is hclwrite's formatIndent.
func indent(lines []fline) {
	var stack []int
	for i := range lines {
		l := &lines[i]
		if len(l.lead) == 0 {
			continue
		}
		if l.lead[0].kind == tNewline {
			l.lead[0].spaces = 0
			continue
		}
		net := 0
		for j := range l.lead {
			net += l.lead[j].bracket()
		}
		for j := range l.assign {
			net += l.assign[j].bracket()
		}
		switch {
		case net > 0:
			l.lead[0].spaces = 2 * len(stack)
			stack = append(stack, net)
		case net < 0:
			closed := -net
			for closed > 0 && len(stack) > 0 {
				top := &stack[len(stack)-1]
				switch {
				case closed > *top:
					closed -= *top
					stack = stack[:len(stack)-1]
				case closed < *top:
					*top -= closed
					closed = 0
				default:
					stack = stack[:len(stack)-1]
					closed = 0
				}
			}
			l.lead[0].spaces = 2 * len(stack)
		default:
			l.lead[0].spaces = 2 * len(stack)
		}
	}
}

// spaces is hclwrite's formatSpaces.
func spaces(lines []fline) {
	for i := range lines {
		cellSpaces(lines[i].lead)
		if a := lines[i].assign; len(a) > 0 {
			a[0].spaces = 1
			cellSpaces(a)
		}
	}
}

func cellSpaces(cell []wtok) {
	nilTok := wtok{kind: 255}
	for i := 0; i+1 < len(cell); i++ {
		before := &nilTok
		if i > 0 {
			before = &cell[i-1]
		}
		if spaceAfter(&cell[i], before, &cell[i+1]) {
			cell[i+1].spaces = 1
		} else {
			cell[i+1].spaces = 0
		}
	}
}

// spaceAfter is hclwrite's spaceAfterToken for the kinds of token vigil import writes.
func spaceAfter(subject, before, after *wtok) bool {
	switch {
	case after.kind == tNewline || after.kind == 255:
		return false
	case after.kind == tComma:
		return false
	case subject.kind == tComma:
		return true
	case subject.kind == tQuoted || subject.kind == tOQuote || after.kind == tQuoted || after.kind == tCQuote:
		return false
	case subject.kind == tIdent && subject.text == "in" && before.kind == tIdent:
		return true
	case after.kind == tOBrack && (subject.kind == tIdent || subject.kind == tNumber || subject.bracket() < 0):
		return false
	case subject.kind == tOBrace || after.kind == tCBrace:
		return !(subject.kind == tOBrace && after.kind == tCBrace)
	case subject.bracket() > 0:
		return false
	case after.bracket() < 0:
		return false
	}
	return true
}

// align is hclwrite's formatCells: the '=' of consecutive attribute lines in one column,
// then their trailing comments.
func align(lines []fline) {
	alignCell(lines, func(l *fline) []wtok { return l.assign }, func(l *fline) int { return columns(l.lead) })
	alignCell(lines, func(l *fline) []wtok { return l.comment }, func(l *fline) int { return columns(l.lead) + columns(l.assign) })
}

// alignCell starts the cell, on consecutive lines that have one, one space after the
// widest of what precedes it.
func alignCell(lines []fline, cell func(*fline) []wtok, before func(*fline) int) {
	chain, widest := -1, 0
	flush := func(end int) {
		for i := chain; i < end; i++ {
			cell(&lines[i])[0].spaces = widest - before(&lines[i]) + 1
		}
		chain, widest = -1, 0
	}
	for i := range lines {
		if cell(&lines[i]) == nil {
			if chain != -1 {
				flush(i)
			}
			continue
		}
		if chain == -1 {
			chain = i
		}
		widest = max(widest, before(&lines[i]))
	}
	if chain != -1 {
		flush(len(lines))
	}
}

// emit appends the formatted tokens to buf; with at, it records where each starts,
// relative to the first (Line from 0).
func emit(toks []wtok, buf []byte, at []hcl.Pos) []byte {
	line, col, start := 0, 1, len(buf)
	for i := range toks {
		for range toks[i].spaces {
			buf = append(buf, ' ')
		}
		col += toks[i].spaces
		if at != nil {
			at[i] = hcl.Pos{Line: line, Column: col, Byte: len(buf) - start}
		}
		buf = append(buf, toks[i].text...)
		if toks[i].ends() {
			line, col = line+1, 1
		} else if at != nil {
			col += graphemes(toks[i].text)
		}
	}
	return buf
}

// renderText is a block's text alone (no tree).
func renderText(b *vblock) string {
	w := &writer{}
	w.block(b, nil)
	format(w.toks)
	return string(emit(w.toks, nil, nil))
}

// rendered is one top-level block written: its text (with its comments) and, when it
// is not only comments, its syntax tree.
type rendered struct {
	text  []byte
	lines int
	tree  *treeBuilder
}

// renderer renders blocks one after the other, reusing its buffers.
type renderer struct {
	toks []wtok
	at   []hcl.Pos
	fix  int // the last block's fixups: the next one's are as many, most often
}

// render writes b, with its tree for a file named filename.
func (r *renderer) render(b *vblock, filename string) rendered {
	w := &writer{toks: r.toks[:0], tree: &treeBuilder{filename: filename, fix: make([]fixup, 0, r.fix)}}
	w.block(b, nil)
	r.toks, r.fix = w.toks, len(w.tree.fix)
	format(w.toks)
	if cap(r.at) < len(w.toks) {
		r.at = make([]hcl.Pos, len(w.toks))
	}
	at := r.at[:len(w.toks)]
	size, lines := 0, 0
	for i := range w.toks {
		size += w.toks[i].spaces + len(w.toks[i].text)
		if w.toks[i].ends() {
			lines++
		}
	}
	text := emit(w.toks, make([]byte, 0, size), at)
	w.tree.resolve(w.toks, at)
	return rendered{text: text, lines: lines, tree: w.tree}
}

// render writes b, with its tree for a file named filename.
func render(b *vblock, filename string) rendered {
	var r renderer
	return r.render(b, filename)
}
