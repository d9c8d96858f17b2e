package translate

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// The syntax tree of what the writer writes, as HCL's parser would make it of the text
// (the same node types, values and source ranges), so that the output is checked as
// vigil check checks it without lexing and parsing it again (validate.go).
// TestTreeIsParse holds it to hclsyntax.ParseConfig of the text.

// treeBuilder builds the tree of one top-level block. A node's positions are known once
// the block's tokens are formatted and laid out (resolve), relative to the block's
// start, and then moved to the block's place in the file (shift).
type treeBuilder struct {
	filename string
	top      *hclsyntax.Block
	fix      []fixup
	roots    []*hclsyntax.ScopeTraversalExpr
}

// fixup is a position to fill: where token tok starts (or ends) plus delta bytes.
type fixup struct {
	p     *hcl.Pos
	tok   int
	delta int
	end   bool
}

// treeBody is a block being built, whose attributes and blocks are added to its body.
type treeBody struct {
	blk  *hclsyntax.Block
	body *hclsyntax.Body
}

// span sets r to run from the start of token a to the end of token b.
func (t *treeBuilder) span(r *hcl.Range, a, b int) {
	r.Filename = t.filename
	t.fix = append(t.fix, fixup{p: &r.Start, tok: a}, fixup{p: &r.End, tok: b, end: true})
}

func (t *treeBuilder) block(parent *treeBody, typ string, labels []string, typTok int, labelAt [][2]int, open int) *treeBody {
	if t == nil {
		return nil
	}
	b := &hclsyntax.Block{Type: typ, Labels: labels, Body: &hclsyntax.Body{Attributes: hclsyntax.Attributes{}}}
	t.span(&b.TypeRange, typTok, typTok)
	b.LabelRanges = make([]hcl.Range, len(labels))
	for i, at := range labelAt {
		t.span(&b.LabelRanges[i], at[0], at[1])
	}
	t.span(&b.OpenBraceRange, open, open)
	b.Body.SrcRange.Filename = t.filename
	t.fix = append(t.fix, fixup{p: &b.Body.SrcRange.Start, tok: open})
	if parent == nil {
		t.top = b
	} else {
		parent.body.Blocks = append(parent.body.Blocks, b)
	}
	return &treeBody{b, b.Body}
}

// end closes the body at its closing brace: the parser's body runs from brace to brace
// and ends with an empty range after the closing one.
func (t *treeBuilder) end(body *treeBody, closeTok int) {
	if t == nil {
		return
	}
	blk := body.blk
	t.span(&blk.CloseBraceRange, closeTok, closeTok)
	b := body.body
	b.EndRange.Filename = t.filename
	t.fix = append(t.fix, fixup{p: &b.SrcRange.End, tok: closeTok, end: true},
		fixup{p: &b.EndRange.Start, tok: closeTok, end: true}, fixup{p: &b.EndRange.End, tok: closeTok, end: true})
}

func (t *treeBuilder) attr(body *treeBody, name string, nameTok, eqTok, lastTok int, expr hclsyntax.Expression) {
	if t == nil {
		return
	}
	a := &hclsyntax.Attribute{Name: name, Expr: expr}
	t.span(&a.SrcRange, nameTok, lastTok)
	t.span(&a.NameRange, nameTok, nameTok)
	t.span(&a.EqualsRange, eqTok, eqTok)
	body.body.Attributes[name] = a
}

func (t *treeBuilder) literal(v cty.Value, tok int) hclsyntax.Expression {
	if t == nil {
		return nil
	}
	e := &hclsyntax.LiteralValueExpr{Val: v}
	t.span(&e.SrcRange, tok, tok)
	return e
}

// number is a number literal; a negative one is the parser's negation of its digits.
func (t *treeBuilder) number(text string, tok int) hclsyntax.Expression {
	if t == nil {
		return nil
	}
	digits := text
	if text[0] == '-' {
		digits = text[1:]
	}
	v, err := cty.ParseNumberVal(digits)
	if err != nil {
		panic("translate: a number hclwrite wrote is not one: " + text)
	}
	lit := &hclsyntax.LiteralValueExpr{Val: v}
	if digits == text {
		t.span(&lit.SrcRange, tok, tok)
		return lit
	}
	lit.SrcRange.Filename = t.filename
	t.fix = append(t.fix, fixup{p: &lit.SrcRange.Start, tok: tok, delta: 1}, fixup{p: &lit.SrcRange.End, tok: tok, end: true})
	neg := &hclsyntax.UnaryOpExpr{Op: hclsyntax.OpNegate, Val: lit}
	t.span(&neg.SrcRange, tok, tok)
	neg.SymbolRange.Filename = t.filename
	t.fix = append(t.fix, fixup{p: &neg.SymbolRange.Start, tok: tok}, fixup{p: &neg.SymbolRange.End, tok: tok, delta: 1})
	return neg
}

// str is a quoted string: a template of one literal part (the text between the quotes;
// for "", an empty range after the closing quote).
func (t *treeBuilder) str(s string, at [2]int) hclsyntax.Expression {
	if t == nil {
		return nil
	}
	lit := &hclsyntax.LiteralValueExpr{Val: cty.StringVal(s)}
	if at[1]-at[0] == 2 {
		t.span(&lit.SrcRange, at[0]+1, at[0]+1)
	} else {
		lit.SrcRange.Filename = t.filename
		t.fix = append(t.fix, fixup{p: &lit.SrcRange.Start, tok: at[1], end: true}, fixup{p: &lit.SrcRange.End, tok: at[1], end: true})
	}
	e := &hclsyntax.TemplateExpr{Parts: []hclsyntax.Expression{lit}}
	t.span(&e.SrcRange, at[0], at[1])
	return e
}

func (t *treeBuilder) tuple(elems []hclsyntax.Expression, open, close int) hclsyntax.Expression {
	if t == nil {
		return nil
	}
	e := &hclsyntax.TupleConsExpr{Exprs: elems}
	t.span(&e.SrcRange, open, close)
	t.span(&e.OpenRange, open, open)
	return e
}

func (t *treeBuilder) object(items []hclsyntax.ObjectConsItem, open, close int) hclsyntax.Expression {
	if t == nil {
		return nil
	}
	e := &hclsyntax.ObjectConsExpr{Items: items}
	t.span(&e.SrcRange, open, close)
	t.span(&e.OpenRange, open, open)
	return e
}

// traversal is an object key written as a name, which the parser reads as a traversal
// (its one step gets its range in place).
func (t *treeBuilder) traversal(name string, tok int) hclsyntax.Expression {
	if t == nil {
		return nil
	}
	e := &hclsyntax.ScopeTraversalExpr{Traversal: hcl.Traversal{hcl.TraverseRoot{Name: name}}}
	t.span(&e.SrcRange, tok, tok)
	t.roots = append(t.roots, e)
	return e
}

// resolve fills the positions from the laid-out tokens: at[i] is where token i starts,
// relative to the block (Line from 0, Byte from 0; Column as in the file).
func (t *treeBuilder) resolve(toks []wtok, at []hcl.Pos) {
	for _, f := range t.fix {
		p := at[f.tok]
		if f.end {
			p.Column += graphemes(toks[f.tok].text)
			p.Byte += len(toks[f.tok].text)
		}
		p.Column += f.delta
		p.Byte += f.delta
		*f.p = p
	}
}

// place moves the positions to the block's place in the file: its first line and byte.
func (t *treeBuilder) place(line, byteOff int) {
	for _, f := range t.fix {
		f.p.Line += line
		f.p.Byte += byteOff
	}
	for _, e := range t.roots {
		e.Traversal[0] = hcl.TraverseRoot{Name: e.Traversal.RootName(), SrcRange: e.SrcRange}
	}
}
