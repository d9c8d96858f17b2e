package conf

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// summary is what a parse gave, for comparing two parses: the configuration as JSON, or
// every diagnostic with its range.
func summary(cfg *Config, diags hcl.Diagnostics) string {
	var b strings.Builder
	if cfg != nil {
		js, _ := cfg.JSON()
		b.Write(js)
	}
	for _, d := range diags {
		fmt.Fprintf(&b, "\n%s %v %s", d.Summary, d.Subject, d.Detail)
	}
	return b.String()
}

// FuzzChunks: parsing a file in pieces at the pre-scan's split points gives what parsing
// it whole gives: the same configuration, or the same diagnostics.
func FuzzChunks(f *testing.F) {
	for _, name := range []string{"../examples/dr-web.hcl", "../examples/ha-pair/director-a.hcl", "../examples/fwmark-web.hcl"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, uint8(3))
		}
	}
	f.Add([]byte(strings.Repeat(valid, 10)+"x = 1\nx = 2\n"), uint8(4))
	f.Add([]byte("x = 1\n"+valid+"x = 2\ny = 1\n"+valid+"x = 3\ny = 2\n"), uint8(1))
	f.Add([]byte(valid+"# c\n\n"+strings.Replace(valid, "web", "web2", 1)+"virtual_server \"a\" {\n"), uint8(2))
	f.Add([]byte(valid+"virtual_server \"a\" {\n  x = \n}\n"+valid+"virtual_server \"b\" {\n  y = [\n}\n"+valid), uint8(1))
	f.Add([]byte(strings.Repeat("global {}\n", 5)), uint8(5))
	defer func(m int) { minChunk = m }(minChunk)
	minChunk = 1
	f.Fuzz(func(t *testing.T, src []byte, every uint8) {
		p := newPrescanner(src, "f.hcl", Limits{}, false)
		if checkText(src, "f.hcl") != nil {
			return
		}
		if p.run(); p.err != nil {
			return
		}
		// Every line start with nothing open is a candidate, not only every splitEvery.
		var splits []int
		n := 0
		for i := 1; i < len(src); i++ {
			if src[i-1] == '\n' && isSplit(src, i) {
				if n%(int(every%8)+1) == 0 {
					splits = append(splits, i)
				}
				n++
			}
		}
		if len(splits) == 0 {
			return
		}
		opts := testOptions(map[string]string{"SET": "x"})
		wholeCfg, wholeDiags := parse(src, "f.hcl", opts)
		cfg, diags := parseSplit(src, "f.hcl", opts, splits)
		if got, want := summary(cfg, diags), summary(wholeCfg, wholeDiags); got != want {
			t.Fatalf("in pieces at %v:\n%s\nwhole:\n%s", splits, got, want)
		}
	})
}

// isSplit reports whether the pre-scan would let a file be cut at off: nothing open there.
func isSplit(src []byte, off int) bool {
	p := newPrescanner(src[:off], "f.hcl", Limits{}, false)
	p.run()
	return p.err == nil && len(p.stack) == 1
}

func TestChunksSplitLargeFiles(t *testing.T) {
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "virtual_server \"vs%d\" {\n  address = \"198.18.1.1:%d\"\n  protocol = \"tcp\"\n  # a comment\n  real_server \"a\" {\n    address = \"198.18.2.1\"\n  }\n}\n", i, 1000+i)
	}
	src := []byte(b.String())
	splits, d := prescanSplits(src, "big.hcl", Limits{})
	if d != nil || len(splits) < len(src)/(2*splitEvery) {
		t.Fatalf("%d split points in %d bytes (%v)", len(splits), len(src), d)
	}
	for _, s := range splits {
		if !strings.HasPrefix(string(src[s:]), "virtual_server") {
			t.Fatalf("split at %d is not the start of a top-level block: %.40q", s, src[s:])
		}
	}
	cfg, diags := parseSplit(src, "big.hcl", testOptions(nil), splits)
	if diags.HasErrors() || len(cfg.VirtualServers) != 2000 {
		t.Fatalf("%v", diags)
	}
	if want := summary(parse(src, "big.hcl", testOptions(nil))); summary(cfg, diags) != want {
		t.Error("the pieces give another configuration than the whole file")
	}
}
