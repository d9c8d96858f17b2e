package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEPackageMap: the README's package map ("How it is built") names every package
// of the module, and names no package that is gone, so that it stays a map of the code.
func TestREADMEPackageMap(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, "\n## How it is built\n")
	j := strings.Index(readme, "**How a change travels.**")
	if i < 0 || j < i {
		t.Fatal(`README.md has no "## How it is built" section with its package map`)
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z][a-z0-9_]*(?:/[a-z0-9_]+)*)`").FindAllStringSubmatch(readme[i:j], -1) {
		named[m[1]] = true
	}
	pkgs := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || strings.HasPrefix(d.Name(), "scratch_")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") && !strings.HasPrefix(d.Name(), "scratch_") {
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			pkgs[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range pkgs {
		if p != "." && !named[p] {
			t.Errorf("package %s is not in the README's package map", p)
		}
	}
	for p := range named {
		if strings.Contains(p, "/") && !pkgs[p] {
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("the README's package map names %s, which is not a package", p)
			}
		}
	}
}
