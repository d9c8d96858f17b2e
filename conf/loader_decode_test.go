package conf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// loadWith is l.load with the environment pinned.
func loadWith(l *Loader, path string, env map[string]string) (*Config, map[string][]byte, hcl.Diagnostics) {
	opts := defaultOptions()
	opts.lookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return l.load(path, opts)
}

// TestLoaderDecodesOnlyChangedFiles: an unchanged file's virtual servers are the very ones
// of the last load; a changed file's, a file whose group changed and a file whose env()
// changed are decoded again, and hold the new values.
func TestLoaderDecodesOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	withEnv := strings.Replace(vsText("e", "198.18.0.249:3306"), "real_server \"a\" {\n", "real_server \"a\" {\n    check \"mysql\" {\n      user     = \"monitor\"\n      password = env(\"DB_PASSWORD\")\n    }\n", 1)
	writeFiles(t, dir, map[string]string{
		"a.hcl": vsText("a", "198.18.0.253:80"),
		"b.hcl": vsText("b", "198.18.0.252:80"),
		"g.hcl": "virtual_server_group \"pool\" {\n  addresses = [\"198.18.0.240:80\"]\n}\n",
		"u.hcl": "virtual_server \"u\" {\n  group    = \"pool\"\n  protocol = \"tcp\"\n  real_server \"a\" {\n    address = \"198.18.0.21:80\"\n  }\n}\n",
		"e.hcl": withEnv,
	})
	env := map[string]string{"DB_PASSWORD": "one"}
	var l Loader
	first, _, diags := loadWith(&l, dir, env)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	byName := func(c *Config) map[string]*VirtualServer {
		m := map[string]*VirtualServer{}
		for _, vs := range c.VirtualServers {
			m[vs.Name] = vs
		}
		return m
	}
	was := byName(first)

	// Nothing changed: every virtual server is reused.
	again, _, diags := loadWith(&l, dir, env)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for name, vs := range byName(again) {
		if vs != was[name] {
			t.Errorf("nothing changed, but %s was decoded again", name)
		}
	}

	writeFiles(t, dir, map[string]string{
		"b.hcl": vsText("b", "198.18.0.250:80"),
		"g.hcl": "virtual_server_group \"pool\" {\n  addresses = [\"198.18.0.241:80\"]\n}\n",
	})
	env["DB_PASSWORD"] = "two"
	cfg, _, diags := loadWith(&l, dir, env)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	now := byName(cfg)
	if now["a"] != was["a"] {
		t.Error("a.hcl did not change, but its virtual server was decoded again")
	}
	for _, name := range []string{"b", "u", "e"} {
		if now[name] == was[name] {
			t.Errorf("%s was reused, want decoded again (its file, its group or its env() changed)", name)
		}
	}
	if got := now["b"].Address.String(); got != "198.18.0.250:80" {
		t.Errorf("b's address %s, want the new one", got)
	}
	if got := now["u"].GroupMembers; len(got) != 1 || got[0].Address.String() != "198.18.0.241:80" {
		t.Errorf("u's members %v, want the group's new address", got)
	}
	if got := now["e"].RealServers[0].Checks[0].MySQL.Password; got != "two" {
		t.Errorf("e's password %q, want the environment's new value", got)
	}
	if c := l.decoded[filepath.Join(dir, "e.hcl")]; c == nil || slices.ContainsFunc(c.env, func(e envLookup) bool { return strings.Contains(string(e.value[:]), "two") }) {
		t.Errorf("the cache of e.hcl keeps the password's value itself (or nothing): %+v", c)
	}

	// A removed file is forgotten.
	os.Remove(filepath.Join(dir, "b.hcl"))
	if _, _, diags := loadWith(&l, dir, env); diags.HasErrors() || len(l.decoded) != 3 {
		t.Errorf("after removing b.hcl: %v, %d decodes kept, want 3 (a, u, e)", diags, len(l.decoded))
	}
}

// wholeDiagnostics decodes the files of dir put together without a Loader's decodes, as
// every load did before them: the reference the Loader's diagnostics must equal.
func wholeDiagnostics(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
	var bodies []*hclsyntax.Body
	var diags hcl.Diagnostics
	sources := map[string][]byte{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources[f] = src
		file, d := hclsyntax.ParseConfig(src, f, hcl.InitialPos)
		diags = append(diags, d...)
		bodies = append(bodies, file.Body.(*hclsyntax.Body))
	}
	_, diags = decodeBody(mergeBodies(bodies, &diags), diags, defaultOptions())
	var b strings.Builder
	WriteDiagnostics(&b, diags, sources)
	return b.String()
}

// TestLoaderCrossFileDiagnostics: with the decodes of a configuration that loaded in the
// cache, a broken reload reports exactly what decoding all its files together reports:
// the errors that cross files (a name or a service twice, a VIP in two instances, a group
// another file lost) in the right file at the right line.
func TestLoaderCrossFileDiagnostics(t *testing.T) {
	good := map[string]string{
		"10-a.hcl": vsText("a", "198.18.0.253:80"),
		"20-b.hcl": vsText("b", "198.18.0.252:80"),
		"30-g.hcl": "virtual_server_group \"pool\" {\n  addresses = [\"198.18.0.240:80\"]\n}\n",
		"40-u.hcl": "virtual_server \"u\" {\n  group    = \"pool\"\n  protocol = \"tcp\"\n  real_server \"a\" {\n    address = \"198.18.0.21:80\"\n  }\n}\n",
		"50-v.hcl": "vrrp_instance \"VI_1\" {\n  interface           = \"eth0\"\n  virtual_router_id   = 51\n  virtual_ipaddresses = [\"198.18.0.254\"]\n}\n",
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string // in the report, beside being the whole decode's
	}{
		{"a name twice", map[string]string{"20-b.hcl": vsText("a", "198.18.0.252:80")}, []string{"20-b.hcl:1", "Duplicate virtual_server"}},
		{"a service twice", map[string]string{"20-b.hcl": vsText("b", "198.18.0.253:80")}, []string{"20-b.hcl:1", "Duplicate virtual server"}},
		{"a VIP in two instances", map[string]string{"60-w.hcl": strings.NewReplacer("VI_1", "VI_2", "= 51", "= 52").Replace(good["50-v.hcl"])}, []string{"60-w.hcl:"}},
		{"the group gone", map[string]string{"30-g.hcl": "virtual_server_group \"pond\" {\n  addresses = [\"198.18.0.240:80\"]\n}\n"}, []string{"40-u.hcl:2", "Unknown virtual_server_group", `"pond"`}},
		{"an error in one file", map[string]string{"20-b.hcl": strings.Replace(vsText("b", "198.18.0.252:80"), `"tcp"`, `"tpc"`, 1)}, []string{"20-b.hcl:3"}},
		{"a real server that is a virtual server", map[string]string{"20-b.hcl": strings.Replace(vsText("b", "198.18.0.252:80"), "198.18.0.21:80", "198.18.0.253:80", 1)}, []string{"20-b.hcl:5", "Real server is a virtual server"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, good)
			var l Loader
			if _, _, diags := l.Load(dir); diags.HasErrors() {
				t.Fatal(diags)
			}
			kept := l.decoded
			writeFiles(t, dir, tc.files)
			cfg, sources, diags := l.Load(dir)
			if cfg != nil || !diags.HasErrors() {
				t.Fatalf("loaded")
			}
			var b strings.Builder
			WriteDiagnostics(&b, diags, sources)
			got := b.String()
			if want := wholeDiagnostics(t, dir); got != want {
				t.Errorf("the Loader reports\n%s\nthe files decoded together report\n%s", got, want)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the report lacks %q:\n%s", w, got)
				}
			}
			if !sameDecodes(l.decoded, kept) {
				t.Errorf("the rejected load changed the decodes kept")
			}
		})
	}
}

func sameDecodes(a, b map[string]*fileDecode) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLoaderDecodesKeepOnlyWhatLoaded: a rejected reload that decoded a file again (its
// content changed) leaves the decodes of the configuration that runs, and none of its own.
func TestLoaderDecodesKeepOnlyWhatLoaded(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.hcl": vsText("a", "198.18.0.253:80"), "b.hcl": vsText("b", "198.18.0.252:80")})
	var l Loader
	if _, _, diags := l.Load(dir); diags.HasErrors() {
		t.Fatal(diags)
	}
	kept := l.decoded
	// b.hcl decodes on its own, but the whole is refused (a's address twice).
	writeFiles(t, dir, map[string]string{"b.hcl": vsText("b", "198.18.0.253:80")})
	if cfg, _, _ := l.Load(dir); cfg != nil {
		t.Fatal("loaded")
	}
	if !sameDecodes(l.decoded, kept) {
		t.Errorf("after a rejected reload the decodes are %v, want the running configuration's %v", l.decoded, kept)
	}
}
