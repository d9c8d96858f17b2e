package conf

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// minChunk is the least a file must hold to be parsed in pieces: below it the goroutines
// cost more than they save. A variable for tests.
var minChunk = 64 << 10

// parseChunks parses src as hclsyntax.ParseConfig does, but in pieces on up to
// GOMAXPROCS goroutines. splits are offsets where a top-level item begins (the
// pre-scan's: a line start with nothing open), about splitEvery apart, so each piece is
// whole items, parsed at its own position in the file, and the pieces' bodies put
// together are the file's. HCL's scanner and parser take most of a large file's load
// (1,000 virtual servers of 4 real servers: 0.4 s of CPU), and a director has two cores
// or more.
//
// The pieces are small (a few KB) and taken in file order by whichever goroutine is
// free: HCL's scanner grows one slice of tokens for what it parses, by a quarter at a
// time once it is large, so a piece of 300 tokens allocates a third of what a piece of
// half the file's does per token, and the goroutines stay busy to the end when one of
// them gets less of the CPU.
//
// The result is the whole file's parse, diagnostics included: HCL's parser reports
// little after its first error, where a piece would start afresh, so from the first piece
// with an error (or the first that shares a top-level argument name with another, as
// the redefinition errors name the first definition) to the end of the file is parsed
// again in one go.
func parseChunks(src []byte, filename string, splits []int) (*hclsyntax.Body, hcl.Diagnostics) {
	if len(src) < minChunk || len(splits) == 0 || runtime.GOMAXPROCS(0) < 2 {
		return parseWhole(src, filename, hcl.InitialPos)
	}
	bounds := make([]int, 0, len(splits)+2)
	bounds = append(append(append(bounds, 0), splits...), len(src))
	n := len(bounds) - 1
	bodies := make([]*hclsyntax.Body, n)
	diags := make([]hcl.Diagnostics, n)
	// stop is the first piece known to have an error: the pieces after it are parsed
	// again with it, so no goroutine starts one.
	var next, stop atomic.Int64
	stop.Store(int64(n))
	starts := piecePositions(src, bounds)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= stop.Load() {
					return
				}
				// Only the piece at offset 0 may start with a byte-order mark, which HCL
				// strips; positions are the file's.
				bodies[i], diags[i] = parseWhole(src[bounds[i]:bounds[i+1]], filename, starts[i])
				if diags[i].HasErrors() {
					for s := stop.Load(); i < s && !stop.CompareAndSwap(s, i); s = stop.Load() {
					}
				}
			}
		})
	}
	wg.Wait()
	k := int(stop.Load())
	k = min(k, firstShared(bodies[:k]))
	parts := bodies[:k:k]
	if k < n {
		tail, d := parseWhole(src[bounds[k]:], filename, starts[k])
		if j := definedIn(bodies[:k], tail); j < k {
			// The pieces before k share no argument name, but the tail may with them.
			k = j
			tail, d = parseWhole(src[bounds[k]:], filename, starts[k])
		}
		parts = append(bodies[:k:k], tail)
		diags[k] = d
		k++
	}
	var all hcl.Diagnostics
	for _, d := range diags[:k] {
		all = append(all, d...)
	}
	return joinBodies(parts), all
}

func parseWhole(src []byte, filename string, start hcl.Pos) (*hclsyntax.Body, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, filename, start)
	return file.Body.(*hclsyntax.Body), diags
}

// piecePositions is where each piece begins: bounds after the first are line starts.
func piecePositions(src []byte, bounds []int) []hcl.Pos {
	starts := make([]hcl.Pos, len(bounds)-1)
	starts[0] = hcl.InitialPos
	line := 1
	for i := 1; i < len(starts); i++ {
		line += bytes.Count(src[bounds[i-1]:bounds[i]], []byte("\n"))
		starts[i] = hcl.Pos{Line: line, Column: 1, Byte: bounds[i]}
	}
	return starts
}

// firstShared is the first of bodies that defines a top-level argument another of them
// defines too, or len(bodies).
func firstShared(bodies []*hclsyntax.Body) int {
	n, k := 0, len(bodies)
	for _, b := range bodies {
		n += len(b.Attributes)
	}
	if n == 0 {
		return k
	}
	first := make(map[string]int, n)
	for i, b := range bodies {
		for name := range b.Attributes {
			if j, ok := first[name]; ok {
				k = min(k, j)
			} else {
				first[name] = i
			}
		}
	}
	return k
}

// definedIn is the first of bodies that defines a top-level argument b defines too, or
// len(bodies).
func definedIn(bodies []*hclsyntax.Body, b *hclsyntax.Body) int {
	for i, o := range bodies {
		for name := range b.Attributes {
			if _, ok := o.Attributes[name]; ok {
				return i
			}
		}
	}
	return len(bodies)
}

// joinBodies puts the pieces' bodies together, in order, as the whole file's; no two
// define the same argument.
func joinBodies(bodies []*hclsyntax.Body) *hclsyntax.Body {
	if len(bodies) == 1 {
		return bodies[0]
	}
	blocks, attrs := 0, 0
	for _, b := range bodies {
		blocks += len(b.Blocks)
		attrs += len(b.Attributes)
	}
	body := &hclsyntax.Body{
		Attributes: make(hclsyntax.Attributes, attrs),
		Blocks:     make(hclsyntax.Blocks, 0, blocks),
		SrcRange:   hcl.RangeBetween(bodies[0].SrcRange, bodies[len(bodies)-1].SrcRange),
		EndRange:   bodies[len(bodies)-1].EndRange,
	}
	for _, b := range bodies {
		body.Blocks = append(body.Blocks, b.Blocks...)
		for name, a := range b.Attributes {
			body.Attributes[name] = a
		}
	}
	return body
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
