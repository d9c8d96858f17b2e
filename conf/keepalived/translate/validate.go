package translate

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/vigil-lb/vigil/conf"
)

// validate renders the blocks and checks them as vigil check does: conf.ParseTree, on
// the syntax tree the writer built of the text (syntax.go), which is what vigil check's
// parser makes of it (TestTreeIsParse) at a fraction of the cost of parsing it again.
// A block vigil refuses (which vigil import should not write, but an unforeseen
// configuration may make) is written as a comment with the reason, and the check runs
// again, so that the output always passes vigil check.
func (t *tr) validate() []byte {
	header := t.header()
	for range len(t.blocks) + 1 {
		out, starts, body := t.renderAll(header)
		_, diags := conf.ParseTree(out, outName, body)
		if !diags.HasErrors() {
			return out
		}
		bad := map[int][]*hcl.Diagnostic{}
		for _, d := range diags {
			if d.Severity != hcl.DiagError {
				continue
			}
			if i := blockAt(starts, d); i >= 0 {
				bad[i] = append(bad[i], d)
			}
		}
		if len(bad) == 0 {
			return out // nothing to blame (cannot happen: every line is in a block)
		}
		for i, ds := range bad {
			b := t.blocks[i]
			var why []string
			for _, d := range ds {
				why = append(why, d.Summary+": "+d.Detail)
			}
			reason := fmt.Sprintf("vigil check refuses this %s (%s); vigil import leaves it out: fix it by hand", b.typ, strings.Join(why, "; "))
			b.dropped, b.why = true, reason
			t.noteAt(b.from, b.typ, reason)
		}
	}
	out, _, _ := t.renderAll(header)
	return out
}

// outName is the output's name in the diagnostics of the check.
const outName = "import.hcl"

// renderAll renders the header and the blocks; starts[i] is the first line of block i;
// body is the syntax tree of the whole.
func (t *tr) renderAll(header []string) ([]byte, []int, *hclsyntax.Body) {
	var buf bytes.Buffer
	for _, h := range header {
		buf.WriteString("# " + commentSafe(h) + "\n")
	}
	line := 1 + len(header)
	starts := make([]int, len(t.blocks))
	rs := renderBlocks(t.blocks)
	size := buf.Len()
	for _, r := range rs {
		size += 1 + len(r.text)
	}
	buf.Grow(size)
	body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}}
	for i, r := range rs {
		buf.WriteString("\n")
		line++
		starts[i] = line
		if r.tree.top != nil {
			r.tree.place(line, buf.Len())
			body.Blocks = append(body.Blocks, r.tree.top)
		}
		buf.Write(r.text)
		line += r.lines
	}
	end := hcl.Pos{Line: line, Column: 1, Byte: buf.Len()}
	body.SrcRange = hcl.Range{Filename: outName, Start: hcl.InitialPos, End: end}
	body.EndRange = hcl.Range{Filename: outName, Start: end, End: end}
	return buf.Bytes(), starts, body
}

// renderBlocks renders the blocks on every CPU.
func renderBlocks(blocks []*vblock) []rendered {
	out := make([]rendered, len(blocks))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, len(blocks)/64)) {
		wg.Go(func() {
			var r renderer
			for {
				i := int(next.Add(1)) - 1
				if i >= len(blocks) {
					return
				}
				out[i] = r.render(blocks[i], outName)
			}
		})
	}
	wg.Wait()
	return out
}

// blockAt is the index of the block a diagnostic is in, -1 for none.
func blockAt(starts []int, d *hcl.Diagnostic) int {
	if d.Subject == nil {
		return -1
	}
	l := d.Subject.Start.Line
	i := -1
	for j, s := range starts {
		if s <= l {
			i = j
		}
	}
	return i
}

func (t *tr) header() []string {
	h := []string{"vigil configuration written by `vigil import` from keepalived's configuration:"}
	for _, f := range t.cfg.Files {
		h = append(h, "  "+f)
	}
	if t.cfg.ConfigID != "" {
		h = append(h, fmt.Sprintf("read for config-id %q (keepalived -i)", t.cfg.ConfigID))
	}
	h = append(h, "Each block follows a comment naming the keepalived file:line it comes from; a comment", "\"FILE:LINE: keyword: ...\" says what vigil does instead of keepalived there.")
	return h
}
