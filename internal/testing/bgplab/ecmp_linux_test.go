package bgplab

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestECMP: two vigil directors announce the VIP, the router installs both next hops; a
// director whose real server fails withdraws and announces again when it recovers; a
// director that stops withdraws before it exits.
func TestECMP(t *testing.T) {
	l := newLab(t)
	d1, d2 := l.addDirector("d1", ""), l.addDirector("d2", "")
	l.startRouter(false, d1.addr, d2.addr)
	d1.start()
	d2.start()
	took := waitFor(t, "ECMP route with both directors", 30*time.Second, func() bool { return l.hopsAre(d1.addr, d2.addr) })
	t.Logf("both next hops %v after %v", l.nextHops(), took)

	// d2's real server fails: its check falls (200 ms, fall 1) and it withdraws.
	d2.backend.Close()
	took = waitFor(t, "withdrawal by d2 after its real server failed", 5*time.Second, func() bool { return l.hopsAre(d1.addr) })
	t.Logf("d2 withdrawn %v after its real server stopped", took)
	d2.serve(netip.AddrPortFrom(d2.addr, 8080))
	took = waitFor(t, "d2 announcing again", 10*time.Second, func() bool { return l.hopsAre(d1.addr, d2.addr) })
	t.Logf("d2 announced again %v after its real server came back", took)

	// d1 stops: the route loses it while d1 still runs (withdraw_delay = 1 s).
	d1.d.Term()
	took = waitFor(t, "withdrawal by the stopping d1", 5*time.Second, func() bool { return l.hopsAre(d2.addr) })
	if d1.d.Exited() {
		t.Errorf("d1 exited before the router dropped its route (%v after SIGTERM)", took)
	}
	t.Logf("d1 withdrawn %v after SIGTERM, before it exited", took)
	if err := d1.d.Wait(10 * time.Second); err != nil {
		t.Errorf("d1 exit: %v", err)
	}
	if out := d1.d.Output(); !strings.Contains(out, "virtual IP withdrawn") || !strings.Contains(out, "BGP session established") {
		t.Errorf("d1's log does not tell the story:\n%s", out)
	}
}

// TestLinkDown: a director whose link dies is dropped by the router within the BFD
// detection time (3 x 100 ms) with bfd = true, and only at the hold time (3 s) without.
func TestLinkDown(t *testing.T) {
	l := newLab(t)
	d1, d2 := l.addDirector("d1", bfdLines), l.addDirector("d2", "")
	l.startRouter(true, d1.addr, d2.addr)
	d1.start()
	d2.start()
	waitFor(t, "ECMP route with both directors", 30*time.Second, func() bool { return l.hopsAre(d1.addr, d2.addr) })
	waitFor(t, "BFD up with d1", 10*time.Second, func() bool { return l.routerFRR.bfdUp(t, d1.addr) })
	oneSession(t, d1, d2)

	// d1 (BFD) loses its link.
	d1.linkDown()
	took := waitFor(t, "the router dropping d1 (BFD)", 5*time.Second, func() bool { return l.hopsAre(d2.addr) })
	t.Logf("d1 (bfd, 3 x 100 ms) dropped %v after its link went down", took)
	if took > 1500*time.Millisecond {
		t.Errorf("BFD: the router dropped d1 after %v; want well under the 3 s hold time", took)
	}
	// d2 (no BFD) loses its link: the hold time decides.
	d2.linkDown()
	took = waitFor(t, "the router dropping d2 (hold time)", 10*time.Second, func() bool { return len(l.nextHops()) == 0 })
	t.Logf("d2 (hold time 3 s) dropped %v after its link went down", took)
}

// oneSession fails the test for a director whose BGP session came up more than once or
// went down before the test's events, as the director and as the router saw it. (Before
// internal/bgp's bfdFollow, every director with BFD did: see TestBFDFirstSession.)
func oneSession(t *testing.T, ds ...*director) {
	t.Helper()
	for _, d := range ds {
		out := d.d.Output()
		if n := strings.Count(out, "BGP session established"); n != 1 {
			t.Errorf("%s: BGP session established %d times before the events, want 1", d.name, n)
		}
		if strings.Contains(out, "signaled BFD down") {
			t.Errorf("%s: the router's bfdd signalled BFD down before the events", d.name)
		}
		if up, down := d.l.routerFRR.sessions(t, d.addr); up != 1 || down != 0 {
			t.Errorf("%s: the router's bgpd counts %d sessions established and %d dropped, want 1 and 0", d.name, up, down)
		}
	}
}
