package conf

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// FuzzParse feeds arbitrary bytes to the parser behind its limits: it must return a Config
// or diagnostics, never panic, and every error must carry a location so the operator can
// find it.
func FuzzParse(f *testing.F) {
	// More seeds (the examples and tricky fragments) live in testdata/fuzz/FuzzParse.
	f.Add([]byte("global {\n  listen = \"\"\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, diags := parseLimited(src, "fuzz.hcl", Limits{}, testOptions(map[string]string{"SET": "x"}))
		checkResult(t, cfg, diags, src)
	})
}

// hostileSeeds are the inputs of issue 14 that took vigil down, scaled to a seed (the
// full sizes are TestCheckHostileInputs' in cmd/vigil): nested brackets of every kind,
// binary, empty, huge.
func hostileSeeds() [][]byte {
	rnd := rand.New(rand.NewPCG(14, 1))
	random := make([]byte, 256<<10)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	printable := make([]byte, 256<<10)
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789 \n{}[]()=,.\"#+-*/<>!&|?:$%~"
	for i := range printable {
		printable[i] = chars[rnd.IntN(len(chars))]
	}
	return [][]byte{
		nil,
		[]byte("\n"),
		[]byte("x = " + strings.Repeat("[", 60_000) + strings.Repeat("]", 60_000)),
		[]byte(strings.Repeat("a {\n", 30_000)),
		[]byte("x = " + strings.Repeat(`"${`, 20_000)),
		[]byte("x = \"" + strings.Repeat("%{if a}", 20_000) + "\""),
		[]byte("x = " + strings.Repeat("!", 100_000) + "a"),
		[]byte("x = " + strings.Repeat("a ? b : ", 30_000) + "c"),
		[]byte("x = \"" + strings.Repeat("%{for a in [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}", 8) + "x" + strings.Repeat("%{endfor}", 8) + "\""),
		random,
		printable,
		bytes.Repeat([]byte("unknown = 1\n"), 5_000),
		[]byte("x = [" + strings.Repeat("1,", 60_000) + "]"),
		[]byte("x = " + strings.Repeat("9", 200_000)),
		[]byte(valid + "x = \"" + strings.Repeat("a", 64<<10) + "\" 2\n"),
		append([]byte("\x7fELF\x02\x01\x01\x00"), random[:4096]...),
	}
}

// FuzzLoad is the whole path a file takes in check, run and a reload: bytes on disk
// through Load, then WriteDiagnostics. Besides FuzzParse's promises, the report stays
// bounded however many problems the file holds.
func FuzzLoad(f *testing.F) {
	for _, s := range hostileSeeds() {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(dir, "vigil.hcl")
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, read, diags := LoadLimited(path, Limits{})
		if len(src) <= DefaultMaxBytes && !bytes.Equal(read, src) {
			t.Fatalf("LoadLimited read %d bytes of %d", len(read), len(src))
		}
		checkResult(t, cfg, diags, src)
		var out strings.Builder
		if err := WriteDiagnostics(&out, diags, map[string][]byte{path: read}); err != nil {
			t.Fatal(err)
		}
		report := out.String()
		// 50 diagnostics of a bounded message and a bounded echo, a line of how many more.
		if max := MaxDiagnostics*(len(path)+40+4*maxMessage+2*(8+4*MaxEchoWidth)) + 100; len(report) > max {
			t.Fatalf("a report of %d bytes (more than %d)", len(report), max)
		}
		if n := strings.Count(report, ": error: ") + strings.Count(report, ": warning: "); n > MaxDiagnostics {
			t.Fatalf("%d diagnostics printed", n)
		}
		for _, line := range strings.Split(report, "\n") {
			if _, echo, ok := strings.Cut(line, " | "); ok && utf8.RuneCountInString(echo) > MaxEchoWidth {
				t.Fatalf("an echoed line of %d characters", utf8.RuneCountInString(echo))
			}
		}
	})
}

// checkResult holds what every parse promises.
func checkResult(t *testing.T, cfg *Config, diags hcl.Diagnostics, src []byte) {
	t.Helper()
	if diags.HasErrors() {
		if cfg != nil {
			t.Fatalf("errors and a Config: %v", diags)
		}
		for _, d := range diags.Errs() {
			if d, ok := d.(*hcl.Diagnostic); ok && d.Subject == nil && d.Summary != "Configuration file too large" {
				t.Fatalf("an error without a location: %v", d)
			}
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
}
