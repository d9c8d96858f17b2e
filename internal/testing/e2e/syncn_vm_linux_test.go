package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vishvananda/netlink"
)

// syncLab is N active directors behind a router that spreads the VIP over them by ECMP
// (static multipath routes stand in for BGP, which internal/testing/bgplab proves), the
// seeds' two DR real servers on the directors' LAN, and a client behind the router:
//
//	outside 198.18.1.100 -- router 198.18.1.1 | 198.18.0.1 -- lan -- lb1..lbN 198.18.0.11..
//	                                                               -- rs1, rs2 198.18.0.21..
//
// Every director and real server holds the VIP 198.18.0.254 on lo without answering ARP
// for it; the router's /32 route to it, more specific than its LAN, has one next hop per
// director and hashes on ports (fib_multipath_hash_policy = 1).
type syncLab struct {
	x       *drLab
	router  *netlab.Host
	outside *netlab.Host
	vigils  []*vigil
}

func newSyncLab(t *testing.T, directors int) *syncLab {
	t.Helper()
	x := newDRLab(t, directors, 2, false)
	s := &syncLab{x: x, router: x.lab.Host("router"), outside: x.lab.Host("outside")}
	x.lab.Link(s.router, "eth0", x.lan, pfx("198.18.0.1/24"))
	x.lab.Pair(s.router, "eth1", s.outside, "eth0")
	must(t, s.router.AddAddr("eth1", pfx("198.18.1.1/24")), "router's outside address")
	must(t, s.outside.AddAddr("eth0", pfx("198.18.1.100/24")), "client's address")
	must(t, s.outside.AddRoute(pfx("0.0.0.0/0"), addr("198.18.1.1")), "client's default route")
	must(t, s.router.Sysctl("net.ipv4.ip_forward", "1"), "router forwards")
	must(t, s.router.Sysctl("net.ipv4.fib_multipath_hash_policy", "1"), "router hashes on ports")
	for _, h := range append(append([]*netlab.Host(nil), x.directors...), x.rsHosts...) {
		must(t, h.AddRoute(pfx("0.0.0.0/0"), addr("198.18.0.1")), "default route of "+h.Name())
	}
	for _, h := range x.directors {
		setupDRRealServer(t, h, x.vip) // the VIP on lo, no ARP for it: the router routes to it
	}
	return s
}

// resetSeen (re)creates, in every director, the set of client ports it forwards, to tell
// which one a connection went through (with sync every table holds every connection).
func (s *syncLab) resetSeen(t *testing.T) {
	t.Helper()
	for _, h := range s.x.directors {
		nft(t, h, `
table ip vigil_e2e_seen
delete table ip vigil_e2e_seen
table ip vigil_e2e_seen {
  set ports { type inet_service; flags dynamic; size 65535; }
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    ip daddr 198.18.0.254 tcp dport 80 add @ports { tcp sport }
  }
}`)
	}
}

// ip runs iproute2 (the host's, for nexthop groups; busybox's ip has none) in h.
func ip(t *testing.T, h *netlab.Host, args ...string) {
	t.Helper()
	out, err := h.Command(context.Background(), "/usr/bin/ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s in %s: %v\n%s", strings.Join(args, " "), h.Name(), err, out)
	}
}

// route points the VIP at every director again: one nexthop object per director (id
// 1..N), in a group of the given type: "resilient" (RFC 2992 hash-threshold's successor,
// as routers with resilient hashing do: removing a next hop moves only its own flows) or
// "mpath" (hash-threshold: removing one shifts the others' ranges too).
func (s *syncLab) route(t *testing.T, kind string) {
	t.Helper()
	s.router.Command(context.Background(), "/usr/bin/ip", "route", "del", "198.18.0.254/32").Run()
	s.router.Command(context.Background(), "/usr/bin/ip", "nexthop", "flush").Run()
	var ids []string
	for i := range s.x.directors {
		id := strconv.Itoa(i + 1)
		ip(t, s.router, "nexthop", "add", "id", id, "via", fmt.Sprintf("198.18.0.%d", 11+i), "dev", "eth0")
		ids = append(ids, id)
	}
	group := []string{"nexthop", "add", "id", "100", "group", strings.Join(ids, "/"), "type", kind}
	if kind == "resilient" {
		group = append(group, "buckets", "64") // idle_timer 120 s: no bucket of a live next hop moves
	}
	ip(t, s.router, group...)
	ip(t, s.router, "route", "add", "198.18.0.254/32", "nhid", "100")
	s.resolveDirectors(t)
}

// resolveDirectors makes the router's neighbour entry of every director valid before a
// scenario's connections: a hash-threshold group skips a next hop whose neighbour is not
// (nexthop_is_good_nh, whatever fib_multipath_use_neigh says), so an entry left FAILED
// by the last scenario's dead director, or INCOMPLETE while it resolves, sends that next
// hop's flows to another director until it is, and then back: one flow through two
// directors (seen once, 33 ports forwarded for 30 connections).
func (s *syncLab) resolveDirectors(t *testing.T) {
	t.Helper()
	ip(t, s.router, "neigh", "flush", "dev", "eth0")
	l, err := s.router.Handle().LinkByName("eth0")
	must(t, err, "router's eth0")
	for i := range s.x.directors {
		dst := fmt.Sprintf("198.18.0.%d", 11+i)
		valid := func() bool {
			ns, err := s.router.Handle().NeighList(l.Attrs().Index, netlink.FAMILY_V4)
			must(t, err, "router's neighbours")
			for _, n := range ns {
				if n.IP.String() == dst && n.State&(netlink.NUD_REACHABLE|netlink.NUD_PERMANENT|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE) != 0 {
					return true
				}
			}
			return false
		}
		// A datagram to the discard port asks for the address (the director answers
		// with an ICMP port unreachable, which nobody reads).
		must(t, s.router.Do(func() error {
			c, err := net.Dial("udp4", dst+":9")
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte{0})
			return err
		}), "ask the router's neighbour "+dst)
		poll(t, 5*time.Second, "the router's neighbour entry of "+dst, valid)
	}
}

// seen is the set of client ports director i forwarded since resetSeen, of those in
// ours. Other ports are earlier subtests' connections: a real server whose client was
// reset by a director still holds its end, and the client's RST answering its TCP
// keep-alive probe reaches a director too.
func (s *syncLab) seen(t *testing.T, i int, ours map[int]string) map[int]bool {
	t.Helper()
	out, err := s.x.directors[i].Command(context.Background(), "nft", "-nn", "list", "set", "ip", "vigil_e2e_seen", "ports").CombinedOutput()
	must(t, err, "list the ports seen by "+s.x.directors[i].Name()+": "+string(out))
	ports := map[int]bool{}
	if _, elems, ok := strings.Cut(string(out), "elements = {"); ok {
		elems, _, _ = strings.Cut(elems, "}")
		for _, m := range regexp.MustCompile(`\d+`).FindAllString(elems, -1) {
			if n, _ := strconv.Atoi(m); ours[n] != "" {
				ports[n] = true
			}
		}
	}
	return ports
}

// syncScenario is one way of running the directors.
type syncScenario struct {
	name      string
	scheduler string // rr | mh
	sync      bool   // the top-level ipvs_sync block
	sloppy    bool   // net.ipv4.vs.sloppy_tcp = 1: schedule a connection from any packet
	route     string // resilient | mpath
	want      syncOutcome
}

// syncOutcome is what a scenario's connections must do when a director dies.
type syncOutcome int

const (
	// movedBreak: every connection through the dead director breaks (IPVS schedules only
	// on a SYN, so a surviving director's stack resets it); with resilient ECMP no other.
	movedBreak syncOutcome = iota
	// allSurvive: no connection breaks, whichever director it reaches.
	allSurvive
	// rescheduled: a moved connection is scheduled afresh on the director it reaches
	// (sloppy_tcp) by a scheduler that does not pick by the flow (rr): it survives only
	// when the new pick happens to be its real server (about half of them, with two), which
	// depends on where the director's rotation stands. The row is the contrast to mh:
	// recorded, not bounded.
	rescheduled
)

// testSyncNDirectors: N = 3 active directors with kernel IPVS behind ECMP. Long-lived
// connections are spread over them; one director dies (its link and its vigil) and the
// router drops its next hop, so its connections arrive at the others. With the top-level
// ipvs_sync block every director already holds every connection and forwards it to the same
// real server: none breaks, with mh or rr, with resilient or hash-threshold ECMP. Without
// it, a surviving director has no entry for a moved connection and IPVS schedules only on
// a SYN, so the packet reaches the director's own stack, which resets it: every moved
// connection breaks, mh included, unless sloppy_tcp lets mh schedule the mid-stream
// packet (to the same real server, since every director has the same Maglev table). The
// share of broken connections is the figure (docs/benchmarks.md).
func testSyncNDirectors(t *testing.T) {
	const directors, conns = 3, 30
	s := newSyncLab(t, directors)
	lbs := s.x.directors
	// Without sync first: a killed vigil's kernel daemons outlive it, and a vigil without
	// an ipvs_sync block leaves daemons it did not start alone.
	scenarios := []syncScenario{
		{name: "rr_no_sync", scheduler: "rr", route: "resilient"},
		{name: "rr_no_sync_hash_threshold", scheduler: "rr", route: "mpath"},
		{name: "mh_no_sync", scheduler: "mh", route: "resilient"},
		{name: "mh_no_sync_sloppy_tcp", scheduler: "mh", sloppy: true, route: "resilient", want: allSurvive},
		// The router needs no feature and the directors no sync: hash-threshold moves the
		// dead director's flows and a sixth of the survivors', and every director's Maglev
		// table sends each moved one to its real server.
		{name: "mh_no_sync_sloppy_tcp_hash_threshold", scheduler: "mh", sloppy: true, route: "mpath", want: allSurvive},
		{name: "rr_no_sync_sloppy_tcp_hash_threshold", scheduler: "rr", sloppy: true, route: "mpath", want: rescheduled},
		{name: "mh_sync", scheduler: "mh", sync: true, route: "resilient", want: allSurvive},
		{name: "rr_sync", scheduler: "rr", sync: true, route: "resilient", want: allSurvive},
		{name: "rr_sync_hash_threshold", scheduler: "rr", sync: true, route: "mpath", want: allSurvive},
	}
	var figures []string
	for _, sc := range scenarios {
		ok := t.Run(sc.name, func(t *testing.T) {
			s.start(t, sc)
			s.route(t, sc.route)
			s.resetSeen(t)

			// Long-lived connections, two requests each: past the sync threshold (the
			// third packet, net.ipv4.vs.sync_threshold) and established.
			var ka []*keepAlive
			first := map[int]string{}
			for range conns {
				k := newKeepAlive(t, s.outside)
				defer k.Close()
				first[int(k.local().Port())] = k.get(t)
				if who := k.get(t); who != first[int(k.local().Port())] {
					t.Fatalf("one connection answered by %s, then %s", first[int(k.local().Port())], who)
				}
				ka = append(ka, k)
			}
			through := make([]map[int]bool, directors)
			for i := range lbs {
				through[i] = s.seen(t, i, first)
			}
			// The first next hop: with hash-threshold ECMP its removal also shifts the
			// second director's range (removing the middle one would not).
			const victim = 0
			t.Logf("connections per director: %d, %d, %d; %s dies", len(through[0]), len(through[1]), len(through[2]), lbs[victim].Name())
			if n := len(through[0]) + len(through[1]) + len(through[2]); n != conns {
				for port := range first {
					var by []string
					for i := range lbs {
						if through[i][port] {
							by = append(by, lbs[i].Name())
						}
					}
					if len(by) != 1 {
						t.Logf("client port %d forwarded by %v", port, by)
					}
				}
			}
			if len(through[victim]) == 0 || len(through[victim]) == conns {
				t.Fatalf("ECMP spread %d connections as %d/%d/%d: want some on each side of the dying director", conns, len(through[0]), len(through[1]), len(through[2]))
			}
			if sc.sync {
				// The same entry everywhere: one for the client's port alone may be an earlier
				// connection's from that port (sameConnEntry).
				start := time.Now()
				if !pollFor(15*time.Second, func() bool {
					for _, k := range ka {
						if !sameConnEntry(t, k, lbs...) {
							return false
						}
					}
					return true
				}) {
					// What each director holds for the connections that differ, and the ports
					// more than one director forwarded (the router split a flow).
					for _, k := range ka {
						if sameConnEntry(t, k, lbs...) {
							continue
						}
						var b strings.Builder
						for i, h := range lbs {
							fmt.Fprintf(&b, "\n  %s (forwarded it: %v): %s", h.Name(), through[i][int(k.local().Port())], linesWith(ipvsConns(t, h), k.localHex()))
						}
						t.Logf("connection from %s not the same everywhere:%s", k.local(), b.String())
					}
					t.Fatalf("timed out after 15s waiting for every connection in every director's IPVS table")
				}
				took := time.Since(start)
				t.Logf("%d connections synced to all %d directors within %s", conns, directors, took.Round(time.Millisecond))
			}

			// The director dies: its link, then its daemon; the router drops its next hop
			// (what BGP or BFD would do).
			must(t, lbs[victim].SetLinkDown("eth0"), "link of "+lbs[victim].Name()+" down")
			s.vigils[victim].Kill()
			ip(t, s.router, "nexthop", "del", "id", strconv.Itoa(victim+1))

			// In an order of its own, as clients would send: in the order they were opened,
			// a surviving director's rr would walk its real servers in step with the dead
			// one's and keep the moved connections of rr + sloppy_tcp by that coincidence.
			var brokenVictim, brokenOthers, movedOK int
			for _, i := range rand.Perm(len(ka)) {
				k := ka[i]
				port := int(k.local().Port())
				who, err := k.tryGet(3 * time.Second)
				ok := err == nil && who == first[port]
				switch {
				case !ok && through[victim][port]:
					brokenVictim++
				case !ok:
					brokenOthers++
					t.Logf("connection %d (through a surviving director) broke: %v %s", port, err, who)
				case through[victim][port]:
					movedOK++
				}
			}
			// The connections that survived their director's death went on through another.
			after := map[int]bool{}
			for i := range lbs {
				if i != victim {
					for p := range s.seen(t, i, first) {
						after[p] = true
					}
				}
			}
			for p := range through[victim] {
				if !after[p] {
					t.Errorf("connection %d of the dead director reached no other director", p)
				}
			}
			broken := brokenVictim + brokenOthers
			perRS := map[string]int{}
			for _, who := range first {
				perRS[who]++
			}
			fig := fmt.Sprintf("%-38s %2d/%d broken (%.2f): %d/%d through the dead director, %d of the others' (ECMP %s; real servers %v)",
				sc.name, broken, conns, float64(broken)/conns, brokenVictim, len(through[victim]), brokenOthers, sc.route, perRS)
			t.Log(fig)
			figures = append(figures, fig)
			switch sc.want {
			case allSurvive:
				if broken > 0 {
					t.Errorf("%d connections broke, want none (%d kept working through another director)", broken, movedOK)
				}
			case movedBreak:
				if brokenVictim != len(through[victim]) {
					t.Errorf("%d of the dead director's %d connections survived without sync; want all broken (IPVS schedules only on a SYN)", len(through[victim])-brokenVictim, len(through[victim]))
				}
			}
			if sc.route == "resilient" && brokenOthers > 0 {
				t.Errorf("%d connections through surviving directors broke: resilient ECMP should not move them", brokenOthers)
			}
			must(t, lbs[victim].SetLinkUp("eth0"), "link of "+lbs[victim].Name()+" up")
		})
		if !ok {
			break
		}
	}
	t.Logf("share of established connections broken when one of %d directors dies:\n%s", directors, strings.Join(figures, "\n"))
}

// start runs a vigil on every director as the scenario says (the previous subtest's were
// killed when it ended; their tables are adopted) and waits until every director balances
// both real servers and, with sync, runs both sync daemons.
func (s *syncLab) start(t *testing.T, sc syncScenario) {
	t.Helper()
	s.vigils = nil
	extra := ""
	if sc.sync {
		extra = "ipvs_sync {\n  interface = \"eth0\"\n  sync_id   = 7\n}\n"
	}
	for i, h := range s.x.directors {
		sloppy := "0"
		if sc.sloppy {
			sloppy = "1"
		}
		must(t, h.Sysctl("net/ipv4/vs/sloppy_tcp", sloppy), "sloppy_tcp")
		cfg := drWebConfig(2, extra)
		scheduler := fmt.Sprintf(`scheduler  = %q`, sc.scheduler)
		if sc.scheduler == "mh" {
			// The client is one address: hashing on its port too spreads the connections
			// over both real servers, so a moved one proves the directors' tables agree.
			scheduler += "\n  scheduler_flags = [\"mh-port\"]"
		}
		for _, r := range [][2]string{{`router_id       = "lb1"`, fmt.Sprintf(`router_id       = "lb%d"`, i+1)}, {`scheduler  = "rr"`, scheduler}} {
			if !strings.Contains(cfg, r[0]) {
				t.Fatalf("drWebConfig no longer contains %q", r[0])
			}
			cfg = strings.Replace(cfg, r[0], r[1], 1)
		}
		s.vigils = append(s.vigils, startVigil(t, h, h.Name(), cfg))
	}
	bothUp(t, 30*time.Second, s.x.directors...)
	// The scenario's scheduler in every kernel (the table is adopted from the previous
	// scenario: a scheduler left behind would measure that one).
	for _, h := range s.x.directors {
		svc := kernelService(t, h, webKey)
		if svc.Scheduler != sc.scheduler {
			t.Fatalf("%s's kernel schedules %s, want %s", h.Name(), svc.Scheduler, sc.scheduler)
		}
		if port := svc.Flags&ipvs.SchedFlag2 != 0; port != (sc.scheduler == "mh") {
			t.Errorf("%s's kernel has %s with flags %#x, want mh-port with mh only", h.Name(), svc.Scheduler, svc.Flags)
		}
	}
	if sc.sync {
		for _, v := range s.vigils {
			poll(t, 20*time.Second, v.name+"'s sync daemons master+backup", func() bool {
				st, err := tryStatus(v)
				return err == nil && st.IPVSSync != nil && st.IPVSSync.Daemon == "master+backup" && st.IPVSSync.Error == ""
			})
		}
	}
}

// kernelService is the service key as h's kernel IPVS holds it.
func kernelService(t *testing.T, h *netlab.Host, key ipvs.ServiceKey) ipvs.ServiceInfo {
	t.Helper()
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: h.Path(), NoModprobe: true})
	must(t, err, "open IPVS in "+h.Name())
	defer k.Close()
	svcs, err := k.Services(context.Background())
	must(t, err, "list the services of "+h.Name())
	for _, svc := range svcs {
		if svc.ServiceKey == key {
			return svc
		}
	}
	t.Fatalf("%s's kernel has no %s", h.Name(), key)
	return ipvs.ServiceInfo{}
}
