package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// The real inotify: an echo into the file, a file renamed over it, its deletion and a
// write to another file of the directory, then the directory's removal.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prio")
	calls := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- w.Run(ctx, func() { calls <- struct{}{} }) }()
	expect := func(what string, want bool) {
		t.Helper()
		select {
		case <-calls:
			if !want {
				t.Errorf("%s: called", what)
			}
		case <-time.After(map[bool]time.Duration{true: 5 * time.Second, false: 200 * time.Millisecond}[want]):
			if want {
				t.Errorf("%s: not called", what)
			}
		}
	}
	sh := func(s string) { t.Helper(); testenv.Shell(t, s) }
	sh("echo 5 > " + path)
	expect("echo", true)
	sh("echo 1 > " + path + ".tmp")
	expect("another file", false)
	sh("mv " + path + ".tmp " + path)
	expect("rename over", true)
	sh("rm " + path)
	expect("delete", true)
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Watch returned nil after its directory was removed")
		}
	case <-time.After(5 * time.Second):
		t.Error("Watch did not return after its directory was removed")
	}
}

func TestWatchStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	w, err := Open(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- w.Run(ctx, func() {}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not stop")
	}
	if _, err := Open("/nonexistent-vigil/x"); err == nil {
		t.Error("a missing directory was watched")
	}
}
