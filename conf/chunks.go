package conf

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// minChunk is the least a file's piece must hold to be parsed on its own: below it a
// goroutine costs more than it saves. A variable for tests.
var minChunk = 64 << 10

// parseChunks parses src as hclsyntax.ParseConfig does, but in up to GOMAXPROCS pieces at
// once. splits are offsets where a top-level item begins (the pre-scan's: a line start
// with nothing open), so each piece is whole items, parsed at its own position in the
// file, and the pieces' bodies put together are the file's. HCL's scanner and parser
// take most of a large file's load (1,000 virtual servers of 4 real servers: 0.3 s of
// CPU), and a director has two cores or more.
func parseChunks(src []byte, filename string, splits []int) (*hclsyntax.Body, hcl.Diagnostics) {
	cuts := pickCuts(len(src), splits, runtime.GOMAXPROCS(0))
	if len(cuts) == 0 {
		file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
		return file.Body.(*hclsyntax.Body), diags
	}
	bounds := append(append([]int{0}, cuts...), len(src))
	bodies := make([]*hclsyntax.Body, len(bounds)-1)
	diags := make([]hcl.Diagnostics, len(bounds)-1)
	var wg sync.WaitGroup
	for i := range bodies {
		start := offsetPos(src, bounds[i])
		wg.Go(func() {
			// A piece may itself start with a byte-order mark only at offset 0, and HCL
			// strips that one; positions are the file's.
			file, d := hclsyntax.ParseConfig(src[bounds[i]:bounds[i+1]], filename, start)
			bodies[i], diags[i] = file.Body.(*hclsyntax.Body), d
		})
	}
	wg.Wait()
	body := &hclsyntax.Body{
		Attributes: hclsyntax.Attributes{},
		SrcRange:   hcl.RangeBetween(bodies[0].SrcRange, bodies[len(bodies)-1].SrcRange),
		EndRange:   bodies[len(bodies)-1].EndRange,
	}
	var all hcl.Diagnostics
	for i, b := range bodies {
		all = append(all, diags[i]...)
		body.Blocks = append(body.Blocks, b.Blocks...)
		for name, a := range b.Attributes {
			if first, ok := body.Attributes[name]; ok {
				// What the parser says of an attribute set twice in one piece.
				all = append(all, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Attribute redefined",
					Detail:  fmt.Sprintf("The argument %q was already set at %s. Each argument may be set only once.", name, first.NameRange),
					Subject: &a.NameRange})
				continue
			}
			body.Attributes[name] = a
		}
	}
	return body, all
}

// pickCuts chooses at most n-1 of splits that divide size into pieces of about equal
// length, none shorter than minChunk.
func pickCuts(size int, splits []int, n int) []int {
	if n < 2 || size < 2*minChunk || len(splits) == 0 {
		return nil
	}
	n = min(n, size/minChunk)
	var cuts []int
	j := 0
	for k := 1; k < n; k++ {
		want := size * k / n
		for j < len(splits) && splits[j] < want {
			j++
		}
		if j == len(splits) {
			break
		}
		last := 0
		if len(cuts) > 0 {
			last = cuts[len(cuts)-1]
		}
		if splits[j]-last >= minChunk && size-splits[j] >= minChunk {
			cuts = append(cuts, splits[j])
		}
	}
	return cuts
}

// decodeVirtualServers decodes the virtual_server blocks, in file order, on up to
// GOMAXPROCS goroutines when there are many: each block decodes alone (a decoder is its
// expression context, read-only, and the diagnostics it collects).
func (d *decoder) decodeVirtualServers(blocks []*hcl.Block) []*VirtualServer {
	n := min(runtime.GOMAXPROCS(0), len(blocks)/minParallelBlocks)
	if n < 2 {
		return d.decodeVirtualServersHere(blocks)
	}
	parts := make([]*decoder, n)
	results := make([][]*VirtualServer, n)
	var wg sync.WaitGroup
	for i := range parts {
		parts[i] = &decoder{ctx: d.ctx, groups: d.groups}
		lo, hi := len(blocks)*i/n, len(blocks)*(i+1)/n
		wg.Go(func() { results[i] = parts[i].decodeVirtualServersHere(blocks[lo:hi]) })
	}
	wg.Wait()
	var out []*VirtualServer
	for i := range parts {
		out = append(out, results[i]...)
		d.diags = append(d.diags, parts[i].diags...)
	}
	return out
}

func (d *decoder) decodeVirtualServersHere(blocks []*hcl.Block) []*VirtualServer {
	var out []*VirtualServer
	for _, b := range blocks {
		if vs := d.decodeVirtualServer(b); vs != nil {
			out = append(out, vs)
		}
	}
	return out
}

// minParallelBlocks is how many blocks make it worth a goroutine.
const minParallelBlocks = 128
