package conf

import (
	"crypto/sha256"
	"runtime"
	"slices"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// fileDecode is the decode of one file's virtual_server blocks, reused by the next load
// while the file's content, the virtual_server_groups its virtual servers use and the
// environment variables it read are what they were. Decoding the virtual servers is most
// of a configuration's decode (1,000 x 4: about 40 ms of CPU on two cores), and a reload of
// a conf.d usually changes one file of many (issue 18).
type fileDecode struct {
	sum [sha256.Size]byte
	// blocks is how many virtual_server blocks the file has: a check, the sum says it.
	blocks int
	vss    []*VirtualServer
	// diags are the decode's diagnostics, replayed when it is reused: warnings only, as
	// only the decodes of a configuration that loaded are kept.
	diags hcl.Diagnostics
	// env are the env() lookups the decode made, in order.
	env []envLookup
}

// envLookup is one env() lookup: the variable, and a digest of its value (a password,
// often: the cache keeps no copy of it).
type envLookup struct {
	name  string
	value [sha256.Size]byte
	ok    bool
}

// fileDecodes carries the Loader's decodes through one load: prev are those of the
// configuration that loaded last, next those of this load (kept only if it loads).
type fileDecodes struct {
	sums  map[string][sha256.Size]byte // the content of each file of this load
	guard map[string]hcl.Diagnostics   // guardExpressions of each file's blocks
	prev  map[string]*fileDecode
	next  map[string]*fileDecode
}

// guardOf is guardExpressions(body), with the files' blocks' results computed when they
// were parsed: the root's attributes first, then the blocks in order, as the walk goes.
func (o options) guardOf(body *hclsyntax.Body) hcl.Diagnostics {
	if o.files == nil {
		return guardExpressions(body)
	}
	diags := guardExpressions(&hclsyntax.Body{Attributes: body.Attributes, SrcRange: body.SrcRange, EndRange: body.EndRange})
	seen := map[string]bool{}
	for _, b := range body.Blocks {
		if f := b.TypeRange.Filename; !seen[f] {
			seen[f] = true
			diags = append(diags, o.files.guard[f]...)
		}
	}
	return diags
}

// blockGuard is guardExpressions of a file's blocks alone (its root attributes, which are
// errors anyway, are walked with the merged body's).
func blockGuard(body *hclsyntax.Body) hcl.Diagnostics {
	return guardExpressions(&hclsyntax.Body{Blocks: body.Blocks, SrcRange: body.SrcRange, EndRange: body.EndRange})
}

// virtualServersOf decodes the virtual_server blocks, file by file when the load has a
// Loader's decodes: a file whose decode is still valid is not decoded again.
func (d *decoder) virtualServersOf(blocks []*hcl.Block, opts options) []*VirtualServer {
	fs := opts.files
	if fs == nil {
		return d.decodeVirtualServers(blocks)
	}
	// The blocks come file by file (mergeBodies), each file's in its order.
	type run struct {
		file   string
		blocks []*hcl.Block
		dec    *fileDecode
		diags  hcl.Diagnostics
	}
	var runs []*run
	for i := 0; i < len(blocks); {
		f := blocks[i].DefRange.Filename
		j := i + 1
		for j < len(blocks) && blocks[j].DefRange.Filename == f {
			j++
		}
		runs = append(runs, &run{file: f, blocks: blocks[i:j]})
		i = j
	}
	var todo []*run
	for _, r := range runs {
		if p := fs.prev[r.file]; p != nil && p.sum == fs.sums[r.file] && p.blocks == len(r.blocks) && d.stillValid(p, opts) {
			r.dec = p
			continue
		}
		todo = append(todo, r)
	}
	decode := func(r *run, parallel bool) {
		rec := &envRecorder{lookup: opts.lookupEnv}
		fd := newDecoder(options{lookupEnv: rec.get, hostname: opts.hostname})
		fd.groups = d.groups
		var vss []*VirtualServer
		if parallel {
			vss = fd.decodeVirtualServers(r.blocks)
		} else {
			vss = fd.decodeVirtualServersHere(r.blocks)
		}
		r.diags = fd.diags
		r.dec = &fileDecode{sum: fs.sums[r.file], blocks: len(r.blocks), vss: vss, diags: fd.diags, env: rec.seen}
	}
	// Many files to decode (the first load of a conf.d) are shared among the cores a file
	// at a time; one file is split among them by decodeVirtualServers.
	if n := min(runtime.GOMAXPROCS(0), len(todo)); n > 1 && blockCount(todo, func(r *run) int { return len(r.blocks) }) >= minParallelBlocks {
		var wg sync.WaitGroup
		next := make(chan *run)
		for range n {
			wg.Go(func() {
				for r := range next {
					decode(r, false)
				}
			})
		}
		for _, r := range todo {
			next <- r
		}
		close(next)
		wg.Wait()
	} else {
		for _, r := range todo {
			decode(r, true)
		}
	}
	var out []*VirtualServer
	for _, r := range runs {
		out = append(out, r.dec.vss...)
		d.diags = append(d.diags, r.dec.diags...)
		if !r.dec.diags.HasErrors() {
			fs.next[r.file] = r.dec
		}
	}
	return out
}

func blockCount[T any](xs []T, n func(T) int) int {
	total := 0
	for _, x := range xs {
		total += n(x)
	}
	return total
}

// stillValid reports whether a file's earlier decode is what decoding it now would give:
// its content is the same (the caller checked), every group its virtual servers use has
// the same family and members, and every environment variable it read has the same value.
func (d *decoder) stillValid(p *fileDecode, opts options) bool {
	for _, vs := range p.vss {
		if vs.Group == "" {
			continue
		}
		g := d.groups[vs.Group]
		if g == nil || g.Family != vs.Family || !slices.Equal(g.Members, vs.GroupMembers) {
			return false
		}
	}
	for _, e := range p.env {
		if v, ok := opts.lookupEnv(e.name); sha256.Sum256([]byte(v)) != e.value || ok != e.ok {
			return false
		}
	}
	return true
}

// envRecorder is a lookupEnv that remembers what it was asked and answered; the decode
// of one file may run on several goroutines.
type envRecorder struct {
	lookup func(string) (string, bool)
	mu     sync.Mutex
	seen   []envLookup
}

func (r *envRecorder) get(name string) (string, bool) {
	v, ok := r.lookup(name)
	r.mu.Lock()
	r.seen = append(r.seen, envLookup{name: name, value: sha256.Sum256([]byte(v)), ok: ok})
	r.mu.Unlock()
	return v, ok
}
