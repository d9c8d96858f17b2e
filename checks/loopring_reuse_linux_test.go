package checks

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/loopback"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// countingServer serves on ip (127.0.0.1 or ::1) with serve, counting the connections
// it accepts.
func countingServer(t *testing.T, ip string, serve func(net.Conn)) (netip.AddrPort, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := loopback.Serve(t, ln, func(c net.Conn) {
		n.Add(1)
		if serve != nil {
			serve(c)
		}
	})
	return srv.Addr, &n
}

// reuseCase is a check of the reuse tests and the verdict its every probe must give.
type reuseCase struct {
	id         string
	target     netip.AddrPort
	c          Checker
	wantOK     bool
	wantReason string
	conns      *atomic.Int64 // connections its server accepted (http), or nil
}

// runReuse runs cases on the loop until each has n results, stops it, and checks every
// result of every case (not only the first: later probes run on reused sockets), that
// the http servers saw a connection of their own for each probe, and that no probe left
// a TIME_WAIT socket. It returns the scheduler and the number of probes that failed
// before or at their connect (refused, timed out).
func runReuse(t *testing.T, cases []reuseCase, n int, timeout time.Duration) (*Scheduler, int) {
	t.Helper()
	var specs []Spec
	var ports []uint16
	for _, tc := range cases {
		specs = append(specs, loopSpec(tc.id, tc.c, timeoutFor(tc.wantReason, timeout)))
		ports = append(ports, tc.target.Port())
	}
	tw := timeWaits(t, ports...)
	s, rec := runOnLoop(t, specs, n)
	s.Stop()
	testenv.Require(t, s.loop.ring != nil, "the probe loop runs without io_uring on this kernel")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	failed := 0
	for _, tc := range cases {
		for i, got := range rec.got[tc.id] {
			if strings.HasPrefix(got.Reason, "connect ") || strings.HasPrefix(got.Reason, "timeout after ") {
				failed++
			}
			if got.OK != tc.wantOK || got.Reason != tc.wantReason {
				t.Errorf("%s, probe %d: got OK=%v %q, want OK=%v %q", tc.id, i, got.OK, got.Reason, tc.wantOK, tc.wantReason)
			}
		}
		if tc.conns != nil {
			if got, want := tc.conns.Load(), int64(len(rec.got[tc.id])); got < want {
				t.Errorf("%s: its server accepted %d connections for %d probes, want one each", tc.id, got, want)
			}
		}
	}
	if tw := timeWaitTo(t, tw, ports...); tw != 0 {
		t.Errorf("%d TIME_WAIT sockets to ports %v", tw, ports)
	}
	return s, failed
}

// created is the number of sockets the loop's ring created: its probes that did not
// start on a warm slot.
func created(s *Scheduler) uint64 { return s.loop.onRing.Load() - s.loop.warmStarts.Load() }

// TestLoopRingReusesSockets: on the ring a probe that passed leaves its socket
// disconnected (a connect to AF_UNSPEC) for the next probe of its family, IPv4 and IPv6,
// tcp and http: checks that pass every time never need more sockets than there are
// checks (one probe in flight each), every probe still gives the right verdict (a bad
// status too), each probe is a new connection at the server, and none leaves a
// TIME_WAIT socket (the disconnect is an RST, as the close with SO_LINGER 0 it replaces).
func TestLoopRingReusesSockets(t *testing.T) { // not parallel: it counts TIME_WAIT sockets
	tcp4, _ := countingServer(t, "127.0.0.1", nil)
	tcp6, _ := countingServer(t, "::1", nil)
	ok4, ok4n := countingServer(t, "127.0.0.1", answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	ok6, ok6n := countingServer(t, "::1", answer("HTTP/1.1 204 No Content\r\n\r\n"))
	bad4, bad4n := countingServer(t, "127.0.0.1", answer("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"))
	bad6, bad6n := countingServer(t, "::1", answer("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"))
	cases := []reuseCase{
		{"tcp4", tcp4, mustTCP(t, tcp4), true, "connected to " + tcp4.String(), nil},
		{"tcp6", tcp6, mustTCP(t, tcp6), true, "connected to " + tcp6.String(), nil},
		{"ok4", ok4, mustHTTP(t, ok4, HTTPConfig{}), true, "http 200 from " + ok4.String(), ok4n},
		{"ok6", ok6, mustHTTP(t, ok6, HTTPConfig{}), true, "http 204 from " + ok6.String(), ok6n},
		{"bad4", bad4, mustHTTP(t, bad4, HTTPConfig{}), false, "http 503 from " + bad4.String() + " (want 200-299)", bad4n},
		{"bad6", bad6, mustHTTP(t, bad6, HTTPConfig{}), false, "http 500 from " + bad6.String() + " (want 200-299)", bad6n},
	}
	s, _ := runReuse(t, cases, 6, time.Second)
	on, warm := s.loop.onRing.Load(), s.loop.warmStarts.Load()
	t.Logf("%d probes on the ring, %d of them on a reused socket", on, warm)
	if got := created(s); got > uint64(len(cases)) {
		t.Errorf("the ring created %d sockets for %d probes of %d checks that always pass, want at most %d", got, on, len(cases), len(cases))
	}
}

// TestLoopRingReuseMixedResults: probes that fail (refused, timed out) take warm
// sockets too, give the verdict a new socket gives, and close theirs, while the checks
// that pass beside them, IPv4 and IPv6, keep reusing.
func TestLoopRingReuseMixedResults(t *testing.T) { // not parallel: it counts TIME_WAIT sockets
	up4, _ := countingServer(t, "127.0.0.1", nil)
	up6, _ := countingServer(t, "::1", nil)
	ok4, ok4n := countingServer(t, "127.0.0.1", answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	bad6, bad6n := countingServer(t, "::1", answer("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"))
	refused4, refused6, silent := closedPort(t), loopback.ClosedAddr(t, "::1"), unansweredSYN(t)
	cases := []reuseCase{
		{"up4", up4, mustTCP(t, up4), true, "connected to " + up4.String(), nil},
		{"up6", up6, mustTCP(t, up6), true, "connected to " + up6.String(), nil},
		{"ok4", ok4, mustHTTP(t, ok4, HTTPConfig{}), true, "http 200 from " + ok4.String(), ok4n},
		{"bad6", bad6, mustHTTP(t, bad6, HTTPConfig{}), false, "http 503 from " + bad6.String() + " (want 200-299)", bad6n},
		{"refused4", refused4, mustTCP(t, refused4), false, "connect " + refused4.String() + ": connection refused", nil},
		{"refused6", refused6, mustTCP(t, refused6), false, "connect " + refused6.String() + ": connection refused", nil},
		{"silent", silent, mustTCP(t, silent), false, "timeout after 150ms connecting to " + silent.String(), nil},
		{"http silent", silent, mustHTTP(t, silent, HTTPConfig{}), false, "timeout after 150ms connecting to " + silent.String(), nil},
	}
	s, failed := runReuse(t, cases, 10, 150*time.Millisecond)
	on, warm := s.loop.onRing.Load(), s.loop.warmStarts.Load()
	t.Logf("%d probes on the ring, %d of them on a reused socket, %d failed", on, warm, failed)
	// A socket for each probe that failed (it is closed), and at most one for each
	// check: the four that pass reuse theirs, and the failing ones may have had one
	// more in flight when the loop stopped.
	if max := uint64(failed + len(cases)); warm == 0 || created(s) > max {
		t.Errorf("the ring created %d sockets for %d probes, %d of which failed, want at most %d", created(s), on, failed, max)
	}
}

// TestLoopRingDisconnectFails: a disconnect the kernel refuses closes the slot (with
// an RST: no TIME_WAIT), the next probe gets a new socket, and the loop carries on with
// the right verdicts; when only some fail, the others still reuse.
func TestLoopRingDisconnectFails(t *testing.T) { // not parallel: it counts TIME_WAIT sockets
	for _, tc := range []struct {
		name  string
		every int64 // every such disconnect fails
	}{
		{"every disconnect", 1},
		{"every other", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls, faults atomic.Int64
			ringDisconnectFault = func() bool {
				if calls.Add(1)%tc.every == 0 {
					faults.Add(1)
					return true
				}
				return false
			}
			t.Cleanup(func() { ringDisconnectFault = nil })
			up, _ := countingServer(t, "127.0.0.1", nil)
			ok, okn := countingServer(t, "127.0.0.1", answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
			s, _ := runReuse(t, []reuseCase{
				{"tcp", up, mustTCP(t, up), true, "connected to " + up.String(), nil},
				{"http", ok, mustHTTP(t, ok, HTTPConfig{}), true, "http 200 from " + ok.String(), okn},
			}, 6, time.Second)
			on, warm := s.loop.onRing.Load(), s.loop.warmStarts.Load()
			t.Logf("%d probes on the ring, %d on a reused socket, %d disconnects failed", on, warm, faults.Load())
			if faults.Load() == 0 {
				t.Fatal("no disconnect failed")
			}
			if tc.every == 1 && warm != 0 {
				t.Errorf("%d probes reused a socket whose disconnect failed", warm)
			}
			if tc.every > 1 && warm == 0 {
				t.Error("no probe reused a socket whose disconnect went through")
			}
		})
	}
}

// TestLoopRingEvictsOtherFamily: when every slot holds a socket and those idle are of
// the other family, a probe closes one of them and takes its slot instead of leaving
// the ring (one slot here: IPv4 probes, then IPv6 probes, all on the ring).
func TestLoopRingEvictsOtherFamily(t *testing.T) {
	ringSlotsTest = 1
	t.Cleanup(func() { ringSlotsTest = 0 })
	up4, _ := countingServer(t, "127.0.0.1", nil)
	up6, _ := countingServer(t, "::1", nil)
	rec := &loopResults{got: map[string][]Result{}}
	s := NewScheduler(Options{OnCheck: rec.onCheck, Jitter: func(time.Duration) time.Duration { return 0 }})
	t.Cleanup(s.Stop)
	wait := func(id string, n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !rec.atLeast([]string{id}, n); {
			if time.Now().After(deadline) {
				t.Fatalf("%s: fewer than %d results within 30s", id, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := s.Set([]Spec{loopSpec("up4", mustTCP(t, up4), time.Second)}); err != nil {
		t.Fatal(err)
	}
	wait("up4", 3)
	testenv.Require(t, s.loop.ring != nil, "the probe loop runs without io_uring on this kernel")
	if n := len(s.loop.ring.slots); n != 1 {
		t.Fatalf("%d slots, want 1", n)
	}
	on := s.loop.onRing.Load()
	if err := s.Set([]Spec{loopSpec("up6", mustTCP(t, up6), time.Second)}); err != nil {
		t.Fatal(err)
	}
	wait("up6", 4)
	if got := s.loop.onRing.Load() - on; got < 3 {
		t.Errorf("%d IPv6 probes on the ring, whose one slot held an IPv4 socket; want 3 or more", got)
	}
	s.Stop()
	for _, d := range rec.down() {
		t.Errorf("%s, want up", d)
	}
}

// down lists the results that were not up.
func (r *loopResults) down() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d []string
	for id, rs := range r.got {
		for i, res := range rs {
			if !res.OK {
				d = append(d, fmt.Sprintf("%s, probe %d: %q", id, i, res.Reason))
			}
		}
	}
	return d
}

func mustTCP(t *testing.T, target netip.AddrPort) Checker {
	t.Helper()
	c, err := NewTCP(target, TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
