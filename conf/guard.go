package conf

import (
	"math/big"

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
// unbounded.
func guardExpressions(body *hclsyntax.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		switch e := n.(type) {
		case *hclsyntax.LiteralValueExpr:
			if v := e.Val; !v.IsNull() && v.Type() == cty.Number {
				bf := v.AsBigFloat()
				abs := new(big.Float).Abs(bf)
				if bf.IsInf() || abs.Cmp(maxNumber) >= 0 || (abs.Sign() != 0 && abs.Cmp(minNumber) < 0) {
					r := e.SrcRange
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Number out of range",
						Detail: "Numbers in a vigil configuration are between 2^-64 and 2^64 in magnitude.", Subject: &r})
				}
			}
		case *hclsyntax.BinaryOpExpr:
			switch e.Op {
			case hclsyntax.OpAdd, hclsyntax.OpSubtract, hclsyntax.OpMultiply, hclsyntax.OpDivide, hclsyntax.OpModulo:
				r := e.SrcRange
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Arithmetic not supported",
					Detail: "Write the value itself; a vigil configuration has no arithmetic.", Subject: &r})
			}
		}
		return nil
	})
	return diags
}
