package bgplab

import (
	"testing"
	"time"
)

// TestBFDFirstSession: a director with bfd = true comes up against FRR (bgpd's BFD
// registration, bfdd 100 ms x 3) with one BGP session and one BFD session, neither reset.
// FRR's bgpd registers a first BFD session without a source address and replaces it at
// Established with one that has the connection's; bfdd signals Down from the first as it
// deletes it. GoBGP, running BFD from the moment the neighbor was added, had the first
// Up and reset the BGP session for that Down, milliseconds after Established; vigil
// starts BFD at Established (internal/bgp's bfdFollow), so it meets only the second.
func TestBFDFirstSession(t *testing.T) {
	l := newLab(t)
	d := l.addDirector("d1", bfdLines)
	l.startRouter(true, d.addr)
	d.start()
	took := waitFor(t, "the route", 30*time.Second, func() bool { return l.hopsAre(d.addr) })
	bfd := waitFor(t, "BFD up", 10*time.Second, func() bool { return l.routerFRR.bfdUp(t, d.addr) })
	t.Logf("route after %v, BFD up %v later", took, bfd)
	// The reset came within milliseconds of Established, the BGP session back about 3 s
	// later (GoBGP's idle hold, the router's connect timer): wait past that.
	time.Sleep(4 * time.Second)
	oneSession(t, d)
	if !l.routerFRR.bfdUp(t, d.addr) {
		t.Error("BFD not up at the end")
	}
}
