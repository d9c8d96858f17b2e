package checks

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// timeWaits returns the TIME_WAIT (state 06) sockets in /proc/net/tcp and tcp6 with one
// of ports on either end, as "local remote" address pairs.
func timeWaits(t *testing.T, ports ...uint16) map[string]bool {
	t.Helper()
	var b []byte
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fb, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, fb...)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) <= 3 || f[3] != "06" {
			continue
		}
		for _, port := range ports {
			hex := fmt.Sprintf(":%04X", port)
			if strings.HasSuffix(f[1], hex) || strings.HasSuffix(f[2], hex) {
				got[f[1]+" "+f[2]] = true
				break
			}
		}
	}
	return got
}

// timeWaitTo counts the TIME_WAIT sockets with one of ports on either end that are not
// in before (timeWaits taken before the probes): a socket another test left in TIME_WAIT
// may have had one of these ports as its ephemeral end before a listener took it.
func timeWaitTo(t *testing.T, before map[string]bool, ports ...uint16) int {
	t.Helper()
	n := 0
	for k := range timeWaits(t, ports...) {
		if !before[k] {
			n++
		}
	}
	return n
}

// TestTCPCheckUnansweredSYNTimesOut: a listener whose accept queue is full drops SYNs, so
// the connect never completes and only the timeout ends the check (the raw connect path).
func TestTCPCheckUnansweredSYNTimesOut(t *testing.T) {
	t.Parallel()
	target := unansweredSYN(t)
	c, err := NewTCP(target, TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := check(t, c, 300*time.Millisecond)
	if res.OK || !strings.Contains(res.Reason, "timeout after 300ms connecting to "+target.String()) {
		t.Errorf("got OK=%v %q, want a 300ms connect timeout", res.OK, res.Reason)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
}

// TestTCPCheckLeavesNoTimeWait: a connect-only check closes with an RST, so a burst of
// checks leaves no TIME_WAIT socket behind on either side.
func TestTCPCheckLeavesNoTimeWait(t *testing.T) { // not parallel: it counts TIME_WAIT sockets
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // never accepts: the check's RST must end every connection
	target := addrOf(t, ln.Addr())
	c, err := NewTCP(target, TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	before := timeWaits(t, target.Port())
	for range 50 {
		if res := check(t, c, 5*time.Second); !res.OK {
			t.Fatal(res.Reason)
		}
	}
	if n := timeWaitTo(t, before, target.Port()); n > 0 {
		t.Errorf("%d TIME_WAIT sockets involve port %d after 50 checks, want 0", n, target.Port())
	}
}
