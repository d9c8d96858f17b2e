// Package testenv decides whether a test that needs a real peer (root, qemu, MariaDB,
// keepalived, a binary) can run, skipping loudly on a developer machine and failing in CI,
// and holds small fixtures several packages' tests share.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where nothing may be skipped.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1" || v == "yes"
}

// Require skips t with a loud reason when ok is false, or fails it when running in CI:
// a test that CI cannot run is a test that proves nothing.
func Require(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	reason := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("REQUIRED IN CI: %s (run `make test` as root to install what is missing)", reason)
	}
	t.Skipf("SKIPPED, NOT PROVEN HERE: %s (run `make test` as root)", reason)
}

// RequireRoot requires an effective UID of 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "test needs root (network namespaces, raw sockets)")
}

// RequireBinary requires an executable on PATH (or at an absolute path) and returns its path.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, "test needs %q: %v", name, err)
	return p
}

// Short skips a slow test under -short, except in CI where everything runs.
func Short(t testing.TB, why string) {
	t.Helper()
	if testing.Short() && !InCI() {
		t.Skipf("skipped under -short: %s", why)
	}
}
