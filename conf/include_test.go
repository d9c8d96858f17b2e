package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func vsText(name, addr string) string {
	return `virtual_server "` + name + `" {
  address  = "` + addr + `"
  protocol = "tcp"
  real_server "a" {
    address = "198.18.0.21:80"
  }
}
`
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"00-global.hcl": "global {\n  router_id = \"lb\"\n  include = [\"extra/*.hcl\"]\n}\n",
		"20-b.hcl":      vsText("b", "198.18.0.252:80"),
		"10-a.hcl":      vsText("a", "198.18.0.253:80"),
		"notes.txt":     "not configuration",
		"extra/c.hcl":   vsText("c", "198.18.0.251:80"),
	})
	var l Loader
	cfg, sources, diags := l.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var names []string
	for _, vs := range cfg.VirtualServers {
		names = append(names, vs.Name)
	}
	if got := strings.Join(names, ","); got != "a,b,c" {
		t.Errorf("virtual servers %s, want a,b (name order) then c (included)", got)
	}
	if len(sources) != 4 || cfg.Global.RouterID != "lb" {
		t.Errorf("%d sources, router_id %q", len(sources), cfg.Global.RouterID)
	}
}

func TestLoadDirectoryDiagnosticsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"10-a.hcl": vsText("a", "198.18.0.253:80"),
		"20-b.hcl": "# b\n\n" + strings.Replace(vsText("b", "198.18.0.252:80"), `protocol = "tcp"`, `protocol = "tpc"`, 1),
		"30-c.hcl": vsText("a", "198.18.0.251:80"), // a name used in 10-a.hcl
	})
	var l Loader
	_, sources, diags := l.Load(dir)
	if !diags.HasErrors() {
		t.Fatal("no error")
	}
	var report strings.Builder
	WriteDiagnostics(&report, diags, sources)
	out := report.String()
	for _, want := range []string{filepath.Join(dir, "20-b.hcl") + ":5:", filepath.Join(dir, "30-c.hcl") + ":1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("diagnostics lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "10-a.hcl:") && !strings.Contains(out, "already") {
		t.Errorf("10-a.hcl is blamed:\n%s", out)
	}
	// A syntax error is located too.
	writeFiles(t, dir, map[string]string{"20-b.hcl": "virtual_server \"b\" {\n  address = \n"})
	_, _, diags = l.Load(dir)
	if len(diags) == 0 || diags[0].Subject == nil || !strings.HasSuffix(diags[0].Subject.Filename, "20-b.hcl") {
		t.Errorf("syntax error at %v, want in 20-b.hcl", diags)
	}
}

func TestLoaderReparsesOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.hcl": vsText("a", "198.18.0.253:80"),
		"b.hcl": vsText("b", "198.18.0.252:80"),
	})
	var l Loader
	if _, _, diags := l.Load(dir); diags.HasErrors() {
		t.Fatal(diags)
	}
	a, b := l.cache[filepath.Join(dir, "a.hcl")], l.cache[filepath.Join(dir, "b.hcl")]
	writeFiles(t, dir, map[string]string{"b.hcl": vsText("b", "198.18.0.250:80")})
	cfg, _, diags := l.Load(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if l.cache[filepath.Join(dir, "a.hcl")] != a {
		t.Error("the unchanged a.hcl was parsed again")
	}
	if l.cache[filepath.Join(dir, "b.hcl")] == b {
		t.Error("the changed b.hcl was not parsed again")
	}
	if got := cfg.VirtualServers[1].Address.String(); got != "198.18.0.250:80" {
		t.Errorf("b's address %s, want the new one", got)
	}
	// A removed file is forgotten.
	os.Remove(filepath.Join(dir, "b.hcl"))
	if cfg, _, _ := l.Load(dir); len(cfg.VirtualServers) != 1 || len(l.cache) != 1 {
		t.Errorf("after removing b.hcl: %d virtual servers, %d cached", len(cfg.VirtualServers), len(l.cache))
	}
}

func TestLoaderLimitsAreTotal(t *testing.T) {
	dir := t.TempDir()
	a := vsText("a", "198.18.0.253:80")
	writeFiles(t, dir, map[string]string{"a.hcl": a, "b.hcl": vsText("b", "198.18.0.252:80")})
	l := Loader{Limits: Limits{MaxBytes: int64(len(a) + 10)}}
	_, _, diags := l.Load(dir)
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "together") {
		t.Errorf("two files over the limit together: %v", diags)
	}
	empty := t.TempDir()
	if _, _, diags := (&Loader{}).Load(empty); !diags.HasErrors() || !strings.Contains(diags[0].Detail, "no *.hcl") {
		t.Errorf("empty directory: %v", diags)
	}
	writeFiles(t, dir, map[string]string{"c.hcl": "global {\n  include = [\"[\"]\n}\n"})
	if _, _, diags := (&Loader{}).Load(dir); !diags.HasErrors() {
		t.Errorf("a bad include pattern: no error")
	}
}

// TestLoaderKeepsOnlyWhatLoaded: a rejected load (valid HCL that is not a valid
// configuration, and HCL that does not parse) leaves the cache of the last configuration
// that loaded, and holds none of what it read.
func TestLoaderKeepsOnlyWhatLoaded(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.hcl": vsText("a", "198.18.0.253:80")})
	var l Loader
	if _, _, diags := l.Load(dir); diags.HasErrors() {
		t.Fatal(diags)
	}
	good := l.cache[filepath.Join(dir, "a.hcl")]
	for _, bad := range []string{"a1 = 1\na2 = 2\n", "virtual_server {{{\n"} {
		writeFiles(t, dir, map[string]string{"a.hcl": bad})
		if cfg, _, diags := l.Load(dir); cfg != nil || !diags.HasErrors() {
			t.Fatalf("%q loaded", bad)
		}
		if len(l.cache) != 1 || l.cache[filepath.Join(dir, "a.hcl")] != good {
			t.Fatalf("after rejecting %q the cache holds %v, want the last good parse only", bad, l.cache)
		}
	}
}
