package translate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/conf/keepalived"
)

// FuzzTranslate: whatever keepalived configuration Read accepts, Translate writes a
// vigil configuration that vigil's parser and checks accept, or says there is nothing to
// run; every note names its file and line; and it never panics.
func FuzzTranslate(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/corpus/*/*.conf")
	more, _ := filepath.Glob("testdata/corpus/keepalived/keepalived.conf.*")
	for _, p := range append(seeds, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("virtual_server 10.0.0.1 0 {\n real_server 10.0.0.2 1-2 {\n }\n}\n"))
	f.Add([]byte("virtual_server_group g {\n 10.0.0.1-300 80\n fwmark 0\n}\nvirtual_server group g {\n real_server ::1 80 {\n  HTTP_GET {\n  }\n }\n}\n"))
	f.Add([]byte("vrrp_instance \"\" {\n virtual_ipaddress {\n ::1\n 10.0.0.1\n }\n}\nvrrp_sync_group x {\n group {\n \"\"\n }\n}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"k/main.conf": {Data: data}, "k/other.conf": {Data: []byte("virtual_server 10.0.0.9 80 {\n}\n")}}
		cfg, err := keepalived.Read("/k/main.conf", keepalived.Options{FS: keepalived.FromFS(fsys), ConfigID: "lb1", MaxLines: 5000, MaxBytes: 1 << 18})
		if err != nil {
			return
		}
		res, err := Translate(cfg)
		for _, n := range res.Notes {
			if !strings.HasPrefix(n.Pos.File, "/k/") || n.Keyword == "" && n.Pos.Line > 0 {
				t.Fatalf("note without a place or keyword: %q", n.String())
			}
		}
		if err != nil {
			return
		}
		if _, diags := conf.Parse(res.HCL, "import.hcl"); diags.HasErrors() {
			t.Fatalf("vigil refuses the output: %s\n--- input:\n%s\n--- output:\n%s", diags.Error(), data, res.HCL)
		}
		if f := hclwrite.Format(res.HCL); !bytes.Equal(f, res.HCL) {
			t.Fatalf("hclwrite.Format changes the output:\n%s", lineDiff(string(res.HCL), string(f)))
		}
	})
}
