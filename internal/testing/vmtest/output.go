package vmtest

import (
	"regexp"
	"strconv"
	"strings"
)

// exitMarker is printed by /init after the test binary exits, followed by its status.
// Nothing else prints it, so a missing marker means the guest died first.
const exitMarker = "<<vigil-vmtest exit="

// klogPrefix starts the guest's copies of kernel log lines (stallWatch).
const klogPrefix = "vmtest-klog| "

var failLine = regexp.MustCompile(`^\s*--- FAIL: (\S+)`)

// guestReport collects what the host needs from the guest's serial output.
type guestReport struct {
	exited bool
	status int
	failed []string // test names from "--- FAIL:" lines, in order
	panic  bool     // the kernel panicked
	// stalls counts the kernel's reports of a CPU that makes no progress (an RCU stall,
	// a soft lockup); firstStall is the first.
	stalls     int
	firstStall string
}

// stallKill is how many stall reports mean a hung guest: the kernel reports a stall
// after 21 s and, while it lasts, again every few minutes (rcu_cpu_stall_timeout), so a
// second report is a CPU stuck for more than a minute; the VM is then killed instead of
// holding the heavy lock until its timeout.
const stallKill = 2

// line digests one line of guest output (without the line ending).
func (r *guestReport) line(l string) {
	l = strings.TrimRight(l, "\r")
	if i := strings.Index(l, exitMarker); i >= 0 {
		rest := l[i+len(exitMarker):]
		if j := strings.Index(rest, ">>"); j >= 0 {
			if n, err := strconv.Atoi(rest[:j]); err == nil {
				r.exited, r.status = true, n
			}
		}
		return
	}
	if strings.HasPrefix(l, klogPrefix) {
		return
	}
	if m := failLine.FindStringSubmatch(l); m != nil {
		r.failed = append(r.failed, m[1])
		return
	}
	if strings.Contains(l, "Kernel panic - not syncing") {
		r.panic = true
	}
	if strings.Contains(l, "rcu: INFO:") && strings.Contains(l, "stall") || strings.Contains(l, "BUG: soft lockup") {
		r.stalls++
		if r.firstStall == "" {
			r.firstStall = strings.TrimSpace(l)
		}
	}
}

// failedLeaves drops tests that failed only because a subtest did: a parent's
// "--- FAIL" adds nothing once its failing subtests are named.
func (r *guestReport) failedLeaves() []string {
	var out []string
	for _, n := range r.failed {
		parent := false
		for _, m := range r.failed {
			if strings.HasPrefix(m, n+"/") {
				parent = true
				break
			}
		}
		if !parent {
			out = append(out, n)
		}
	}
	return out
}
