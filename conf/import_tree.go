package conf

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// ParseTree validates src as Parse does, given the syntax tree HCL's parser makes of src:
// the same limits on src, the same decoding and checks of the tree, without lexing and
// parsing src again. It is for a program that writes a configuration and builds the
// tree of what it writes (vigil import checks its output this way); that the tree is
// the parser's is for that program's tests to show.
func ParseTree(src []byte, filename string, body *hclsyntax.Body) (*Config, hcl.Diagnostics) {
	lim := Limits{}.withDefaults()
	if int64(len(src)) > lim.MaxBytes {
		return nil, hcl.Diagnostics{tooLarge(filename, int64(len(src)), lim.MaxBytes)}
	}
	if d := prescan(src, filename, lim); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return decodeBody(body, nil, defaultOptions())
}
