//go:build bench

package bgplab

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The bench's clocks, finer than the functional tests': the route read over netlink in
// the process (no `ip` per look, which costs a few ms on the loaded machine), every 2 ms,
// and the BGP session's end timestamped by the kernel on the router's link.

// finePoll is how often the bench looks at the route: the resolution of "router drops
// the route".
const finePoll = 2 * time.Millisecond

// hopsNow is hopsAre from the router's routing table over netlink.
func (l *lab) hopsNow(want ...netip.Addr) bool {
	l.t.Helper()
	dst := &net.IPNet{IP: vip.Addr().AsSlice(), Mask: net.CIDRMask(vip.Bits(), 32)}
	rs, err := l.router.Handle().RouteListFiltered(unix.AF_INET, &netlink.Route{Dst: dst, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		l.t.Fatalf("list the router's route to %s: %v", vip, err)
	}
	var got []netip.Addr
	for _, r := range rs {
		if r.Gw != nil {
			a, _ := netip.AddrFromSlice(r.Gw.To4())
			got = append(got, a)
		}
		for _, nh := range r.MultiPath {
			a, _ := netip.AddrFromSlice(nh.Gw.To4())
			got = append(got, a)
		}
	}
	return sameHops(got, want)
}

// segment is a TCP segment of a BGP session seen on the router's link.
type segment struct {
	at     time.Time
	from   netip.Addr
	flags  string // tcpdump's: "F." (FIN), "R" or "R." (RST), "P." (a message) ...
	length int    // of the payload: 19 for a KEEPALIVE
}

// sessionEnds collects every segment to or from port 179 on the router's eth0, with the
// kernel's receive time (tcpdump -tt, the same wall clock as the test's): the FIN or RST
// that ends a session, and the last message before a director's link died.
type sessionEnds struct {
	mu   sync.Mutex
	segs []segment
}

func (l *lab) watchSessionEnds() *sessionEnds {
	l.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := l.router.Command(ctx, "tcpdump", "-i", "eth0", "-n", "-tt", "-l", "--immediate-mode",
		"tcp port 179")
	out, err := cmd.StdoutPipe()
	must(l.t, err)
	errs, err := cmd.StderrPipe()
	must(l.t, err)
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("tcpdump in the router: %v", err)
	}
	l.t.Cleanup(func() { cancel(); cmd.Wait() })
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errs)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on") {
				close(listening)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	w := &sessionEnds{}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if s, ok := parseSegment(sc.Text()); ok {
				w.mu.Lock()
				w.segs = append(w.segs, s)
				w.mu.Unlock()
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		l.t.Fatal("tcpdump in the router did not start listening within 10s")
	}
	return w
}

// parseSegment reads one tcpdump -n -tt line:
//
//	1764769234.123456 IP 198.18.0.13.40123 > 198.18.0.100.179: Flags [F.], seq 1, ...
func parseSegment(line string) (segment, bool) {
	f := strings.Fields(line)
	if len(f) < 7 || f[1] != "IP" || f[5] != "Flags" {
		return segment{}, false
	}
	sec, frac, _ := strings.Cut(f[0], ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	us, err2 := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	src := f[2][:max(strings.LastIndexByte(f[2], '.'), 0)]
	from, err3 := netip.ParseAddr(src)
	if err1 != nil || err2 != nil || err3 != nil {
		return segment{}, false
	}
	seg := segment{at: time.Unix(s, us*1000), from: from, flags: strings.Trim(f[6], "[],")}
	for i := 7; i+1 < len(f); i++ {
		if f[i] == "length" {
			seg.length, _ = strconv.Atoi(strings.TrimSuffix(f[i+1], ":"))
		}
	}
	return seg, true
}

// first is the first FIN or RST from addr at or after since.
func (w *sessionEnds) first(from netip.Addr, since time.Time) (segment, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.segs {
		if s.from == from && !s.at.Before(since) && strings.ContainsAny(s.flags, "FR") {
			return s, true
		}
	}
	return segment{}, false
}

// lastMessage is the last segment with a payload (a BGP message) from addr before until.
func (w *sessionEnds) lastMessage(from netip.Addr, until time.Time) (segment, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var last segment
	ok := false
	for _, s := range w.segs {
		if s.from == from && s.at.Before(until) && s.length > 0 {
			last, ok = s, true
		}
	}
	return last, ok
}

// flagCounts is "F. 14, R. 1" for kind's trials.
func flagCounts(flags map[string]int, kind string) string {
	var parts []string
	for k, n := range flags {
		if f, ok := strings.CutPrefix(k, kind+" "); ok {
			parts = append(parts, fmt.Sprintf("%s %d", f, n))
		}
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none seen"
	}
	return strings.Join(parts, ", ")
}

// errKind is a failed request's phase and error without addresses and ports: "connect:
// connection refused", "read: i/o timeout".
func errKind(err error) string {
	msg := err.Error()
	phase := "connect"
	if strings.HasPrefix(msg, "read the answer") {
		phase = "read"
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return phase + ": " + msg
}
