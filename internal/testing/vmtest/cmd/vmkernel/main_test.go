package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-lb/vigil/internal/testing/vmtest"
)

func TestCheckPVH(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPVH(b); err == nil {
		t.Error("checkPVH(a Go test binary) = nil, want an error: it has no PVH note")
	}
	if err := checkPVH([]byte("not an ELF file")); err == nil {
		t.Error("checkPVH(garbage) = nil, want an error")
	}
	k, err := vmtest.LoadKernel(vmtest.CacheDir())
	if err != nil {
		t.Skipf("no cached kernel to check (%v)", err)
	}
	b, err = os.ReadFile(filepath.Clean(k.Vmlinux))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPVH(b); err != nil {
		t.Errorf("checkPVH(cached vmlinux): %v", err)
	}
}

func FuzzCheckPVH(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkPVH(b) // must not panic on any input
	})
}
