//go:build bench

package bgplab

// The figures of issue 19 (docs/benchmarks.md, BGP): the client-visible outage when one
// of three directors dies, vigil beside an FRR stand-in director in the same lab, trials
// interleaved; and the share of established connections broken when one of three vigil
// directors dies (no connection sync: the userspace data plane proxies). Root, Debian's
// frr, the bench tag and VIGIL_BENCH=1:
//
//	flock -w 1500 /tmp/vigil-heavy.lock env GOFLAGS=-tags=bench VIGIL_BENCH=1 \
//	    go test -count=1 -v -timeout 30m -run 'TestBench' ./internal/testing/bgplab
//
// VIGIL_BENCH_TRIALS (default 5) trials per director kind and mode; VIGIL_BENCH_OUT, a
// file the tables are appended to.

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func gate(t *testing.T) int {
	t.Helper()
	if os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("benchmark: set VIGIL_BENCH=1")
	}
	n, err := strconv.Atoi(os.Getenv("VIGIL_BENCH_TRIALS"))
	if err != nil || n <= 0 {
		n = 5
	}
	return n
}

func report(t *testing.T, text string) {
	t.Log("\n" + text)
	if p := os.Getenv("VIGIL_BENCH_OUT"); p != "" {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			f.WriteString(text + "\n")
			f.Close()
		}
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// victim is the director that dies in a trial: vigil's d3 or the FRR stand-in.
type victim struct {
	kind    string
	n       *node
	running func() bool
	start   func()
	kill    func()
	down    bool // its link is down
}

// stable waits until the router's next hops are exactly want and stay so for hold.
func (l *lab) stable(what string, hold time.Duration, want ...netip.Addr) {
	l.t.Helper()
	var since time.Time
	waitFor(l.t, what, 60*time.Second, func() bool {
		if !l.hopsAre(want...) {
			since = time.Time{}
			return false
		}
		if since.IsZero() {
			since = time.Now()
		}
		return time.Since(since) >= hold
	})
}

// TestBenchOutage: three directors (two vigil survivors, the third vigil or the FRR
// stand-in), a client making new connections from 16 workers (each request 300 ms at
// most); one director dies and the outage is the time from its death to the start of the
// last request that failed. "link down" is the director's host dying (its link goes
// down: the router notices by BFD or the hold time); "SIGKILL" is its processes dying
// (the kernel closes the BGP session).
func TestBenchOutage(t *testing.T) {
	trials := gate(t)
	for _, mode := range []struct {
		name string
		bfd  bool
		link bool
	}{{"link down, BFD 100 ms x 3", true, true}, {"link down, hold time 3 s", false, true}, {"SIGKILL", false, false}} {
		t.Run(mode.name, func(t *testing.T) {
			l := newLab(t)
			extra := ""
			if mode.bfd {
				extra = bfdLines
			}
			d1, d2, d3 := l.addDirector("d1", extra), l.addDirector("d2", extra), l.addDirector("d3", extra)
			s := l.addStandIn("s1", mode.bfd)
			l.startRouter(mode.bfd, d1.addr, d2.addr, d3.addr, s.addr)
			d1.start()
			d2.start()
			sRunning := false
			vs := []*victim{
				{kind: "vigil", n: &d3.node, running: func() bool { return d3.d != nil && !d3.d.Exited() }, start: d3.start,
					kill: func() { d3.d.Kill() }},
				{kind: "FRR stand-in", n: &s.node, running: func() bool { return sRunning },
					start: func() { s.start(); sRunning = true }, kill: func() { s.kill(); sRunning = false }},
			}
			if mode.link {
				for _, v := range vs {
					v.start()
					v.n.linkDown()
					v.down = true
				}
			}
			outage := map[string][]time.Duration{}
			drop := map[string][]time.Duration{}
			noise := map[string]int{}
			// Where the time goes: the dead director's part (from the kill to its BGP
			// session's FIN or RST on the router's link: the process's death) and the
			// router's (from that segment to the route without it: bgpd and zebra).
			wire := l.watchSessionEnds()
			closedAt := map[string][]time.Duration{}
			routerPart := map[string][]time.Duration{}
			flags := map[string]int{}
			sinceLast := map[string][]time.Duration{}
			for i := range trials {
				order := vs
				if i%2 == 1 {
					order = []*victim{vs[1], vs[0]}
				}
				for _, v := range order {
					if v.down {
						v.n.relink()
						v.down = false
					}
					if !v.running() {
						v.start()
					}
					l.stable(v.kind+" in the route", 3*time.Second, d1.addr, d2.addr, v.n.addr)
					if mode.bfd { // BFD decides the outage only once it is up
						waitFor(t, "BFD up with the "+v.kind, 10*time.Second, func() bool { return l.routerFRR.bfdUp(t, v.n.addr) })
					}
					stop := l.load(16, 300*time.Millisecond)
					time.Sleep(500 * time.Millisecond)
					if mode.link {
						// At a random point of the keepalive second: otherwise the trial's
						// fixed steps from the session's start put every death at the same
						// phase of the dead director's keepalives, and the hold-time outage
						// measures that phase, not detection.
						time.Sleep(rand.N(time.Second))
					}
					killed := time.Now()
					if mode.link {
						v.n.linkDown()
						v.down = true
					} else {
						v.kill()
					}
					took := waitEvery(t, "the router dropping the dead "+v.kind, 15*time.Second, finePoll, func() bool { return l.hopsNow(d1.addr, d2.addr) })
					time.Sleep(700 * time.Millisecond)
					var closed time.Duration
					how := "none seen"
					if seg, ok := wire.first(v.n.addr, killed); ok {
						closed, how = seg.at.Sub(killed), seg.flags
						closedAt[v.kind] = append(closedAt[v.kind], closed)
						routerPart[v.kind] = append(routerPart[v.kind], took-closed)
						flags[v.kind+" "+how]++
					}
					if seg, ok := wire.lastMessage(v.n.addr, killed); ok && mode.link {
						// The router's own clock for the hold time: from the last message
						// it received from the dead director to the route without it.
						sinceLast[v.kind] = append(sinceLast[v.kind], took+killed.Sub(seg.at))
					}
					all := stop()
					last := lastFailure(all, killed)
					before, failed := 0, 0
					// What failed outside the outage: before the death, and after the route
					// without the dead director was in place.
					odd := map[string]int{}
					for _, a := range all {
						switch {
						case a.err != nil && a.at.Before(killed):
							before++
							odd["before: "+errKind(a.err)]++
						case a.err != nil:
							failed++
							if a.at.After(killed.Add(took)) {
								odd[fmt.Sprintf("after the route (+%s s): %s", secs(a.at.Sub(killed)), errKind(a.err))]++
							}
						}
					}
					t.Logf("trial %d %s: its BGP session's end (%s) on the router's wire %s s after, router dropped it %s s after, last failed request began %s s after (%d of %d requests failed; %d before the death) %v",
						i+1, v.kind, how, secs(closed), secs(took), secs(last), failed, len(all), before, odd)
					outage[v.kind] = append(outage[v.kind], last)
					drop[v.kind] = append(drop[v.kind], took)
					noise[v.kind] += before
				}
			}
			var b strings.Builder
			fmt.Fprintf(&b, "| %s, %d trials each | vigil | FRR stand-in | ratio |\n| --- | --- | --- | --- |\n", mode.name, trials)
			mv, ms := median(outage["vigil"]), median(outage["FRR stand-in"])
			fmt.Fprintf(&b, "| client-visible outage, median (s) | %s | %s | %.2f |\n", secs(mv), secs(ms), mv.Seconds()/ms.Seconds())
			fmt.Fprintf(&b, "| client-visible outage, max (s) | %s | %s | |\n", secs(slices.Max(outage["vigil"])), secs(slices.Max(outage["FRR stand-in"])))
			rv, rs := median(drop["vigil"]), median(drop["FRR stand-in"])
			fmt.Fprintf(&b, "| router drops the route, median (s) | %s | %s | %.2f |\n", secs(rv), secs(rs), rv.Seconds()/rs.Seconds())
			if len(closedAt["vigil"]) > 0 && len(closedAt["FRR stand-in"]) > 0 {
				cv, cs := median(closedAt["vigil"]), median(closedAt["FRR stand-in"])
				fmt.Fprintf(&b, "| kill to the BGP session's FIN/RST on the router's link, median (s) | %s | %s | |\n", secs(cv), secs(cs))
				pv, ps := median(routerPart["vigil"]), median(routerPart["FRR stand-in"])
				fmt.Fprintf(&b, "| that segment to the route without it (the router), median (s) | %s | %s | %.2f |\n", secs(pv), secs(ps), pv.Seconds()/ps.Seconds())
			}
			if len(sinceLast["vigil"]) > 0 && len(sinceLast["FRR stand-in"]) > 0 {
				lv, ls := median(sinceLast["vigil"]), median(sinceLast["FRR stand-in"])
				fmt.Fprintf(&b, "| its last BGP message on the router's link to the route without it, median (s) | %s | %s | %.2f |\n", secs(lv), secs(ls), lv.Seconds()/ls.Seconds())
			}
			fmt.Fprintf(&b, "| the session's end as seen on the wire (trials) | %s | %s | |\n", flagCounts(flags, "vigil"), flagCounts(flags, "FRR stand-in"))
			fmt.Fprintf(&b, "| failed requests before the death (noise) | %d | %d | |\n", noise["vigil"], noise["FRR stand-in"])
			report(t, b.String())
		})
	}
}

// TestBenchBrokenShare: three vigil directors; 90 long-lived client connections spread by
// the router's ECMP; one director's host dies (link down, BFD 100 ms x 3) and, once the
// router has dropped it, every connection is tried (a line echoed within 2 s). Which
// director dies rotates; its place in the router's next-hop list is logged, because
// Linux's multipath is hash-threshold (RFC 2992): removing a next hop other than the
// middle one also moves some flows between the survivors.
func TestBenchBrokenShare(t *testing.T) {
	trials := gate(t)
	if trials < 3 {
		trials = 3
	}
	l := newLab(t)
	ds := []*director{l.addDirector("d1", bfdLines), l.addDirector("d2", bfdLines), l.addDirector("d3", bfdLines)}
	addrs := []netip.Addr{ds[0].addr, ds[1].addr, ds[2].addr}
	l.startRouter(true, addrs...)
	for _, d := range ds {
		d.start()
	}
	const conns = 90
	var broken, total int
	byPlace := map[int][2]int{}
	for i := range trials {
		l.stable("three directors in the route", 3*time.Second, addrs...)
		waitFor(t, "BFD up with the three", 10*time.Second, func() bool { return l.routerFRR.bfdUp(t, addrs...) })
		hops := l.nextHops()
		v := ds[i%3]
		place := slices.Index(hops, v.addr)
		cs := l.open(conns)
		on := map[string]int{}
		for _, c := range cs {
			on[c.name]++
		}
		v.linkDown()
		var rest []netip.Addr
		for _, a := range addrs {
			if a != v.addr {
				rest = append(rest, a)
			}
		}
		waitFor(t, "the router dropping "+v.name, 10*time.Second, func() bool { return l.hopsAre(rest...) })
		time.Sleep(500 * time.Millisecond)
		var mu sync.Mutex
		var wg sync.WaitGroup
		lost, lostOn := 0, 0
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !c.alive(2 * time.Second) {
					mu.Lock()
					lost++
					if c.name == v.name {
						lostOn++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for _, c := range cs {
			c.c.Close()
		}
		t.Logf("trial %d: %s (next hop %d of %v) died; connections by director %v; broken %d of %d (%d of its own %d, %d on the survivors)",
			i+1, v.name, place+1, hops, on, lost, conns, lostOn, on[v.name], lost-lostOn)
		broken += lost
		total += conns
		p := byPlace[place]
		byPlace[place] = [2]int{p[0] + lost, p[1] + conns}
		v.relink()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| place of the dead director among 3 next hops | broken / connections | share |\n| --- | --- | --- |\n")
	for place := range 3 {
		if p := byPlace[place]; p[1] > 0 {
			fmt.Fprintf(&b, "| %d | %d / %d | %.3f |\n", place+1, p[0], p[1], float64(p[0])/float64(p[1]))
		}
	}
	fmt.Fprintf(&b, "| all %d trials | %d / %d | %.3f (target <= 0.333) |\n", trials, broken, total, float64(broken)/float64(total))
	report(t, b.String())
}
