package bgplab

import (
	"testing"
	"time"
)

// TestThreeDirectors: three vigil directors (BFD on) announce the VIP; the router installs
// three next hops and a client behind it, one new connection per request, is served by
// every director. A director stopped gracefully under that load costs the client no
// request; one SIGKILLed leaves the route within the hold time, and the client is served
// by the other two.
func TestThreeDirectors(t *testing.T) {
	l := newLab(t)
	ds := []*director{l.addDirector("d1", bfdLines), l.addDirector("d2", bfdLines), l.addDirector("d3", bfdLines)}
	d1, d2, d3 := ds[0], ds[1], ds[2]
	l.startRouter(true, d1.addr, d2.addr, d3.addr)
	for _, d := range ds {
		d.start()
	}
	took := waitFor(t, "ECMP route with three directors", 30*time.Second, func() bool { return l.hopsAre(d1.addr, d2.addr, d3.addr) })
	t.Logf("three next hops %v after %v", l.nextHops(), took)
	waitFor(t, "BFD up with the three", 10*time.Second, func() bool { return l.routerFRR.bfdUp(t, d1.addr, d2.addr, d3.addr) })
	oneSession(t, ds...)

	served := l.spread(150)
	t.Logf("150 requests: %v", served)
	for _, d := range ds {
		if served[d.name] == 0 {
			t.Errorf("%s served none of 150 requests: %v", d.name, served)
		}
	}
	if served[""] > 0 {
		t.Errorf("%d of 150 requests failed", served[""])
	}

	// Graceful stop of d3 under load: withdrawn first, the data plane stops withdraw_delay
	// (1 s) later, so no request fails.
	stop := l.load(4, time.Second)
	time.Sleep(300 * time.Millisecond)
	term := time.Now()
	d3.d.Term()
	took = waitFor(t, "withdrawal by the stopping d3", 5*time.Second, func() bool { return l.hopsAre(d1.addr, d2.addr) })
	withdrawn := time.Now()
	t.Logf("d3 withdrawn %v after SIGTERM", took)
	// It exits after withdraw_delay and the drain, up to the data plane's 10 s: a connection
	// whose client's FIN or RST the router sent to d1 or d2 after the withdrawal stays open
	// at d3 until the drain ends.
	if err := d3.d.Wait(15 * time.Second); err != nil {
		t.Errorf("d3 exit: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	// A request in flight when the router's route loses d3 may break: hash-threshold ECMP
	// moves d3's flows and part of another director's range at that instant (a router
	// property, docs/benchmarks.md issue 19; 1 of ~15,000 in 2 of 3 CI runs, its dial reset
	// within 10 ms of the route change). What the stop controls comes after: no request
	// that began once the route had lost d3 may fail (vigil serves withdraw_delay longer),
	// nor one before the SIGTERM.
	tally(t, "graceful stop of d3", outside(t, stop(), term, withdrawn), 0)

	// d3 back, then SIGKILLed under load.
	d3.start()
	waitFor(t, "d3 announcing again", 30*time.Second, func() bool { return l.hopsAre(d1.addr, d2.addr, d3.addr) })
	time.Sleep(2 * time.Second) // BFD up after BGP
	stop = l.load(4, 300*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	d3.d.Kill()
	took = waitFor(t, "the router dropping the killed d3", 5*time.Second, func() bool { return l.hopsAre(d1.addr, d2.addr) })
	t.Logf("d3 (SIGKILL) dropped %v after the kill", took)
	if took > 3*time.Second {
		t.Errorf("the router dropped the killed d3 after %v, beyond the 3 s hold time", took)
	}
	time.Sleep(300 * time.Millisecond)
	all := stop()
	last := lastFailure(all, killed)
	t.Logf("SIGKILL of d3: last failed request began %v after the kill", last)

	served = l.spread(60)
	t.Logf("60 requests after the kill: %v", served)
	if served[""] > 0 || served[d1.name] == 0 || served[d2.name] == 0 {
		t.Errorf("after the kill, want every request served by d1 and d2: %v", served)
	}
}

// tally logs who served a load run and fails t when more than maxFailed requests failed.
func tally(t *testing.T, what string, all []attempt, maxFailed int) {
	t.Helper()
	by := map[string]int{}
	failed := 0
	for _, a := range all {
		if a.err != nil {
			failed++
			if failed <= 5 {
				t.Logf("%s: request at %s failed: %v", what, a.at.Format("15:04:05.000"), a.err)
			}
			continue
		}
		by[a.name]++
	}
	t.Logf("%s: %d requests, %d failed, served %v", what, len(all), failed, by)
	if failed > maxFailed {
		t.Errorf("%s: %d of %d requests failed, want at most %d", what, failed, len(all), maxFailed)
	}
}

// outside leaves out the failed attempts that began between from and to (logged): the
// window in which the router changed its route.
func outside(t *testing.T, all []attempt, from, to time.Time) []attempt {
	t.Helper()
	var out []attempt
	for _, a := range all {
		if a.err != nil && !a.at.Before(from) && !a.at.After(to) {
			t.Logf("request at %s, while the route changed, failed (not counted): %v", a.at.Format("15:04:05.000"), a.err)
			continue
		}
		out = append(out, a)
	}
	return out
}

// lastFailure is how long after from the last failed attempt began (0: none failed).
func lastFailure(all []attempt, from time.Time) time.Duration {
	var last time.Duration
	for _, a := range all {
		if a.err != nil && a.at.Sub(from) > last {
			last = a.at.Sub(from)
		}
	}
	return last
}
