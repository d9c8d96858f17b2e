package translate

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/conf/keepalived"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestCorpus")

// corpusCase is one keepalived configuration of testdata/corpus, read for one config-id.
type corpusCase struct {
	file, id string
}

// corpus lists testdata/corpus: every *.conf file of keepalived/ and operators/ (the
// ones under a directory of operators/ only as its keepalived.conf, which includes the
// others), the pair read for each of its two directors.
func corpus(t *testing.T) []corpusCase {
	t.Helper()
	var out []corpusCase
	err := filepath.WalkDir("testdata/corpus", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "testdata/corpus/")
		dir, base := filepath.Split(rel)
		switch {
		case dir == "keepalived/" && strings.HasPrefix(base, "keepalived.conf."):
		case dir == "operators/" && strings.HasSuffix(base, ".conf"):
		case strings.Count(rel, "/") == 2 && strings.HasPrefix(rel, "operators/") && base == "keepalived.conf":
		default:
			return nil
		}
		ids := []string{"lb1"}
		if bytes.Contains(mustRead(t, p), []byte("@lb2")) {
			ids = append(ids, "lb2")
		}
		for _, id := range ids {
			out = append(out, corpusCase{p, id})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 30 {
		t.Fatalf("%d corpus configurations, want the 25 keepalived samples and the operators' files", len(out))
	}
	return out
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden is the golden file's name for a case: testdata/golden/<path under corpus, '/'
// as '_'>[.ID].<ext>.
func (c corpusCase) golden(ext string) string {
	name := strings.ReplaceAll(strings.TrimPrefix(c.file, "testdata/corpus/"), "/", "_")
	if c.id != "lb1" {
		name += "." + c.id
	}
	return filepath.Join("testdata/golden", name+"."+ext)
}

// TestCorpus imports every configuration of the corpus (keepalived's own samples and
// operators' files) and compares the HCL and the notes with the golden files; each
// output passes vigil's own parser and checks (what vigil check runs) with no error, and
// no block had to be left out as one vigil refuses: the translation, not the safety net,
// made it valid. go test -run TestCorpus -update rewrites the golden files.
func TestCorpus(t *testing.T) {
	for _, c := range corpus(t) {
		t.Run(strings.TrimPrefix(c.file, "testdata/corpus/")+"@"+c.id, func(t *testing.T) {
			cfg, err := keepalived.Read(c.file, keepalived.Options{ConfigID: c.id})
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			res, err := Translate(cfg)
			if err != nil {
				t.Fatalf("translate: %v", err)
			}
			var notes strings.Builder
			for _, n := range res.Notes {
				notes.WriteString(n.String() + "\n")
				if strings.Contains(n.Text, "vigil check refuses") {
					t.Errorf("a block was left out: %s", n)
				}
				if !strings.HasPrefix(n.Pos.File, "testdata/corpus/") || n.Pos.Line <= 0 {
					t.Errorf("note not located at FILE:LINE: %s", n)
				}
				if !bytes.Contains(res.HCL, []byte("# "+commentSafe(n.String()))) {
					t.Errorf("note not repeated as a comment in the output: %s", n)
				}
			}
			if _, diags := conf.Parse(res.HCL, "import.hcl"); diags.HasErrors() {
				t.Fatalf("vigil check refuses the output:\n%s\n%s", diags.Error(), res.HCL)
			}
			compareGolden(t, c.golden("hcl"), res.HCL)
			compareGolden(t, c.golden("notes"), []byte(notes.String()))
		})
	}
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (go test -run TestCorpus -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -run TestCorpus -update rewrites it):\n%s", name, lineDiff(string(want), string(got)))
	}
}

// lineDiff names the first differing line of want and got.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  want " + a + "\n  got  " + b
		}
	}
	return "(same lines)"
}
