//go:build unix

package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// WaitGone polls until pid no longer exists or is a zombie (an orphan waits for the
// container's init to reap it; it runs no more), at most within; it reports whether it
// went.
func WaitGone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if st, err := ProcStatOf(pid); err == nil && st.State == "Z" {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ProgramCopy copies the program at src (e.g. /bin/sleep) to a file called name in a
// temporary directory and returns its path: processes started from it have a name of
// their own (ps -o comm), which process tracking tests look for.
func ProgramCopy(t testing.TB, src, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// Shell runs script with /bin/sh -c and fails t when it fails.
func Shell(t testing.TB, script string) {
	t.Helper()
	if out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}
