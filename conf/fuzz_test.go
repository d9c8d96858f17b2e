package conf

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must return a Config or diagnostics,
// never panic, and every error must carry a location so the operator can find it.
func FuzzParse(f *testing.F) {
	// More seeds (the examples and tricky fragments) live in testdata/fuzz/FuzzParse.
	f.Add([]byte("global {\n  listen = \"\"\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags := parse(src, "fuzz.hcl", testOptions(map[string]string{"SET": "x"}))
		if diags.HasErrors() {
			if cfg != nil {
				t.Fatalf("errors and a Config: %v", diags)
			}
			var b strings.Builder
			if err := WriteDiagnostics(&b, diags, map[string][]byte{"fuzz.hcl": src}); err != nil {
				t.Fatal(err)
			}
			return
		}
		if cfg == nil {
			t.Fatal("no errors and no Config")
		}
		if _, err := cfg.JSON(); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		cfg.Warnings()
	})
}
