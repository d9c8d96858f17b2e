//go:build unix

package testenv

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
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
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
