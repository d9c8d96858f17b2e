package vrrp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp"
)

// The real file and inotify: the init value creates the file, an echo changes the
// value at once, a deletion makes it 0, and an existing file is not overwritten.
func TestFileTracker(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prio")
	init := 3
	tr, err := vrrp.NewFileTracker(vrrp.FileConfig{Name: "prio", Path: path, Init: &init}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := runTracker(t, tr)
	waitFor(t, "the init value", func() bool { return rep.last().Value == 3 })
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != "3" {
		t.Errorf("file holds %q, want the init value 3", b)
	}
	sh := func(s string) { t.Helper(); testenv.Shell(t, s) }
	sh("echo -20 > " + path)
	waitFor(t, "-20 after the echo", func() bool { return rep.last().Value == -20 })
	sh("echo 7 > " + path + ".new && mv " + path + ".new " + path)
	waitFor(t, "7 after a rename", func() bool { return rep.last().Value == 7 })
	sh("echo 99999999999 > " + path) // out of range: ignored, 7 stays
	sh("echo 0x10 > " + path)
	waitFor(t, "16 after hex", func() bool { return rep.last().Value == 16 })
	// 0 may appear between two values: the shell's > truncates the file before it
	// writes, and an empty file reads as 0, as in keepalived (process_track_file).
	for _, v := range rep.values() {
		if v != 3 && v != -20 && v != 7 && v != 16 && v != 0 {
			t.Errorf("reported %d: an out-of-range number was not ignored", v)
		}
	}
	sh("rm " + path)
	waitFor(t, "0 after the deletion", func() bool { return rep.last().Value == 0 })

	// An existing file keeps its content.
	os.WriteFile(path, []byte("42\n"), 0o644)
	tr, _ = vrrp.NewFileTracker(vrrp.FileConfig{Name: "prio", Path: path, Init: &init}, nil, nil)
	rep2 := runTracker(t, tr)
	waitFor(t, "42 kept", func() bool { return rep2.last().Value == 42 })
}
