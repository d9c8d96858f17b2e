package translate

import (
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/vigil-lb/vigil/conf/keepalived"
)

// vblock is a vigil block being built: its attributes, nested blocks and comments in the
// order they are written.
type vblock struct {
	typ    string // "" for comments alone
	labels []string
	src    string // the keepalived file:line it comes from, written before it
	from   keepalived.Pos
	items  []item
	// dropped blocks are written as comments (what vigil check refused, or what cannot
	// be carried over at all); why says so.
	dropped bool
	why     string
}

type item struct {
	comment string // a comment line (without "# "), or
	name    string // an attribute,
	val     cty.Value
	blk     *vblock // or a nested block
}

func newBlock(typ string, labels ...string) *vblock { return &vblock{typ: typ, labels: labels} }

// comment adds comment lines; a multi-line text becomes several.
func (b *vblock) comment(text string) {
	for l := range strings.SplitSeq(text, "\n") {
		b.items = append(b.items, item{comment: l})
	}
}

// set sets an attribute, replacing one of that name, which keeps its place.
func (b *vblock) set(name string, v cty.Value) {
	for i := range b.items {
		if b.items[i].name == name {
			b.items[i].val = v
			return
		}
	}
	b.items = append(b.items, item{name: name, val: v})
}

// has reports whether the attribute is set.
func (b *vblock) has(name string) bool {
	for _, it := range b.items {
		if it.name == name {
			return true
		}
	}
	return false
}

// get returns the attribute's value (cty.NilVal when unset).
func (b *vblock) get(name string) cty.Value {
	for _, it := range b.items {
		if it.name == name {
			return it.val
		}
	}
	return cty.NilVal
}

// unset removes an attribute.
func (b *vblock) unset(name string) {
	for i, it := range b.items {
		if it.name == name {
			b.items = append(b.items[:i], b.items[i+1:]...)
			return
		}
	}
}

func (b *vblock) add(c *vblock) *vblock {
	b.items = append(b.items, item{blk: c})
	return c
}

// front moves the named attribute to the start of the block.
func (b *vblock) front(name string) {
	for i, it := range b.items {
		if it.name == name {
			copy(b.items[1:i+1], b.items[:i])
			b.items[0] = it
			return
		}
	}
}

// commentSafe keeps a comment on its line and valid UTF-8.
func commentSafe(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// str is a string value; bytes that are not UTF-8 (which HCL cannot hold) are replaced.
func str(s string) cty.Value {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return cty.StringVal(s)
}

func strList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = str(s)
	}
	return cty.ListVal(vals)
}

func num(n int64) cty.Value { return cty.NumberIntVal(n) }

// at records the keepalived line a block comes from.
func (b *vblock) at(n *keepalived.Node) {
	b.src, b.from = n.Pos.String(), n.Pos
}
