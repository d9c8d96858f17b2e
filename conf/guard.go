package conf

import (
	"math/big"
	"runtime"
	"slices"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// maxNumber bounds numeric literals. No attribute needs more than 32 bits, and a literal
// such as 1e99999999 would make cty spend minutes formatting it as text.
var (
	maxNumber = new(big.Float).SetMantExp(big.NewFloat(1), 64)
	minNumber = new(big.Float).SetMantExp(big.NewFloat(1), -64)
)

// guardExpressions rejects what the configuration language does not need and what could
// make evaluation explode: huge numeric literals and arithmetic, whose results would be
// unbounded, and for expressions and template directives, whose nesting multiplies (four
// nested loops over 200 items, a 2 KB file, evaluate 1.6 billion times). The diagnostics are in the order of hclsyntax.VisitAll's walk of the body.
// Many top-level blocks are walked on up to GOMAXPROCS goroutines: the walk was a tenth
// of the time of checking 1,000 virtual servers, on one core.
func guardExpressions(body *hclsyntax.Body) hcl.Diagnostics {
	var g guard
	g.attributes(body.Attributes)
	blocks := body.Blocks
	n := min(runtime.GOMAXPROCS(0), len(blocks)/minParallelBlocks)
	if n < 2 {
		g.blocks(blocks)
		return g.diags
	}
	parts := make([]guard, n)
	var wg sync.WaitGroup
	for i := range parts {
		lo, hi := len(blocks)*i/n, len(blocks)*(i+1)/n
		wg.Go(func() { parts[i].blocks(blocks[lo:hi]) })
	}
	wg.Wait()
	for _, p := range parts {
		g.diags = append(g.diags, p.diags...)
	}
	return g.diags
}

// guard walks bodies and expressions as hclsyntax.VisitAll does, collecting diagnostics.
type guard struct{ diags hcl.Diagnostics }

func (g *guard) blocks(blocks hclsyntax.Blocks) {
	for _, b := range blocks {
		g.attributes(b.Body.Attributes)
		g.blocks(b.Body.Blocks)
	}
}

func (g *guard) attributes(attrs hclsyntax.Attributes) {
	for _, a := range attrs {
		g.expr(a.Expr)
	}
}

// expr takes the most common expressions, a literal and a quoted string without
// interpolation, itself, and leaves the others to VisitAll.
func (g *guard) expr(e hclsyntax.Expression) {
	switch e := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		g.node(e)
		return
	case *hclsyntax.TemplateExpr:
		if !slices.ContainsFunc(e.Parts, func(p hclsyntax.Expression) bool {
			_, lit := p.(*hclsyntax.LiteralValueExpr)
			return !lit
		}) {
			for _, p := range e.Parts {
				g.node(p)
			}
			return
		}
	}
	hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		g.node(n)
		return nil
	})
}

func (g *guard) node(n hclsyntax.Node) {
	switch e := n.(type) {
	case *hclsyntax.LiteralValueExpr:
		if v := e.Val; !v.IsNull() && v.Type() == cty.Number {
			abs := v.AsBigFloat() // a copy
			abs.Abs(abs)
			if abs.IsInf() || abs.Cmp(maxNumber) >= 0 || (abs.Sign() != 0 && abs.Cmp(minNumber) < 0) {
				r := e.SrcRange
				g.diags = append(g.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Number out of range",
					Detail: "Numbers in a vigil configuration are between 2^-64 and 2^64 in magnitude.", Subject: &r})
			}
		}
	case *hclsyntax.ForExpr: // [for ...], {for ...} and the template's %{for}
		r := e.SrcRange
		g.diags = append(g.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Loops not supported",
			Detail: "Write the values themselves; a vigil configuration has no for expressions or %{for} directives.", Subject: &r})
	case *hclsyntax.BinaryOpExpr:
		switch e.Op {
		case hclsyntax.OpAdd, hclsyntax.OpSubtract, hclsyntax.OpMultiply, hclsyntax.OpDivide, hclsyntax.OpModulo:
			r := e.SrcRange
			g.diags = append(g.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Arithmetic not supported",
				Detail: "Write the value itself; a vigil configuration has no arithmetic.", Subject: &r})
		}
	}
}
