package bgplab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrplab"
)

// The lab: vrrplab's bridge, with its client namespace as the router (FRR zebra + bgpd,
// AS 65001, maximum-paths 8, L4 multipath hash) and d1, d2 as two vigil directors in
// AS 65000 announcing 198.18.30.1/32 over eBGP.
var vip = netip.MustParsePrefix("198.18.30.1/32")

const routerASN, directorASN = 65001, 65000

// startFRR runs zebra and bgpd in h, as Debian's frr package installs them, with a vty
// socket and zserv socket in a directory of their own (nothing under /etc/frr is used).
func startFRR(t *testing.T, h *netlab.Host, routerID netip.Addr, bfd bool, neighbors ...netip.Addr) {
	t.Helper()
	zebra := "/usr/lib/frr/zebra"
	bgpd := "/usr/lib/frr/bgpd"
	for _, p := range []string{zebra, bgpd} {
		_, err := os.Stat(p)
		testenv.Require(t, err == nil, "test needs Debian's frr (%s): %v", p, err)
	}
	u, err := user.Lookup("frr")
	testenv.Require(t, err == nil, "test needs the frr user: %v", err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "vigil-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// FRR drops to user frr: its directory and files must be frr's.
	os.Chmod(dir, 0o755)
	os.Chown(dir, uid, gid)
	var b strings.Builder
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n bgp bestpath as-path multipath-relax\n", routerASN, routerID)
	for _, n := range neighbors {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers 1 3\n neighbor %s timers connect 1\n", n, directorASN, n, n)
		if bfd {
			fmt.Fprintf(&b, " neighbor %s bfd\n", n)
		}
	}
	b.WriteString(" address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\n")
	conf := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(conf, uid, gid)
	if err := h.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if err := h.Sysctl("net.ipv4.fib_multipath_hash_policy", "1"); err != nil {
		t.Fatal(err)
	}
	zs := filepath.Join(dir, "zserv.api")
	run := func(name, bin string, args ...string) {
		out := &testenv.Buffer{}
		cmd := h.Command(context.Background(), bin, args...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
	}
	run("zebra", zebra, "-z", zs, "-i", filepath.Join(dir, "zebra.pid"), "--vty_socket", dir, "-f", "/dev/null", "-u", "frr", "-g", "frr")
	waitFor(t, "zebra's socket", 10*time.Second, func() bool { _, err := os.Stat(zs); return err == nil })
	if bfd {
		var bc strings.Builder
		bc.WriteString("bfd\n")
		for _, n := range neighbors {
			fmt.Fprintf(&bc, " peer %s\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n", n)
		}
		bconf := filepath.Join(dir, "bfdd.conf")
		if err := os.WriteFile(bconf, []byte(bc.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(bconf, uid, gid)
		run("bfdd", "/usr/lib/frr/bfdd", "-z", zs, "-i", filepath.Join(dir, "bfdd.pid"), "--vty_socket", dir,
			"--bfdctl", filepath.Join(dir, "bfdd.sock"), "-f", bconf, "-u", "frr", "-g", "frr")
	}
	run("bgpd", bgpd, "-z", zs, "-i", filepath.Join(dir, "bgpd.pid"), "--vty_socket", dir, "-f", conf, "-u", "frr", "-g", "frr", "-p", "179")
}

// nextHops are the gateways of the router's route to vip ("ip route show" prints one
// "nexthop via" line each for a multipath route, or one "via" for a single path).
func nextHops(t *testing.T, h *netlab.Host) []string {
	t.Helper()
	out, err := h.Command(context.Background(), "ip", "route", "show", vip.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ip route show: %v: %s", err, out)
	}
	var hops []string
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			hops = append(hops, f[i+1])
		}
	}
	return hops
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	began := time.Now()
	for !cond() {
		if time.Since(began) > within {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(began)
}

func directorConfig(self netip.Addr, router netip.Addr) string {
	return directorConfigBFD(self, router, "")
}

// directorConfigBFD is directorConfig with extra lines in the neighbor block.
func directorConfigBFD(self netip.Addr, router netip.Addr, neighborExtra string) string {
	return fmt.Sprintf(`global {
  listen    = ""
  dataplane = "userspace"
}
bgp {
  asn            = %d
  router_id      = "%s"
  withdraw_delay = "1s"
  neighbor "%s" {
    asn       = %d
    hold_time = "3s"
%s
  }
}
virtual_server "web" {
  address   = "%s:80"
  protocol  = "tcp"
  scheduler = "rr"
  announce  = true
  real_server "local" {
    address = "%s:8080"
    check "tcp" {
      interval = "200ms"
      timeout  = "200ms"
      rise     = 1
      fall     = 1
    }
  }
}
`, directorASN, self, router, routerASN, neighborExtra, vip.Addr(), self)
}

// TestECMP: two vigil directors announce the VIP, the router installs both next hops; a
// director whose real server fails withdraws and announces again when it recovers; a
// director that stops withdraws before it exits.
func TestECMP(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Short(t, "network-namespace lab with FRR")
	testenv.RequireBinary(t, "ip")
	bin := vrrplab.BuildVigil(t)
	lab := vrrplab.New(t)
	router := lab.Client
	d1, d2 := vrrplab.D1Addr.Addr(), vrrplab.D2Addr.Addr()
	startFRR(t, router, vrrplab.ClientAddr.Addr(), false, d1, d2)

	backends := map[string]net.Listener{}
	for _, d := range []struct {
		h    *netlab.Host
		addr netip.Addr
	}{{lab.D1, d1}, {lab.D2, d2}} {
		// The userspace data plane binds the VIP before vigil puts it on lo.
		if err := d.h.Sysctl("net.ipv4.ip_nonlocal_bind", "1"); err != nil {
			t.Fatal(err)
		}
		ln, err := d.h.Listen("tcp", netip.AddrPortFrom(d.addr, 8080).String())
		if err != nil {
			t.Fatal(err)
		}
		go acceptAndClose(ln)
		backends[d.h.Name()] = ln
		t.Cleanup(func() { ln.Close() })
	}
	v1 := lab.StartVigilRun(lab.D1, bin, directorConfig(d1, vrrplab.ClientAddr.Addr()))
	v2 := lab.StartVigilRun(lab.D2, bin, directorConfig(d2, vrrplab.ClientAddr.Addr()))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("d1:\n%s\nd2:\n%s", v1.Output(), v2.Output())
		}
		v1.Kill()
		v2.Kill()
	})
	both := func() bool { return len(nextHops(t, router)) == 2 }
	took := waitFor(t, "ECMP route with both directors", 30*time.Second, both)
	t.Logf("both next hops %v after %v", nextHops(t, router), took)

	// d2's real server fails: its check falls (200 ms, fall 1) and it withdraws.
	backends["d2"].Close()
	took = waitFor(t, "withdrawal by d2 after its real server failed", 5*time.Second, func() bool {
		h := nextHops(t, router)
		return len(h) == 1 && h[0] == d1.String()
	})
	t.Logf("d2 withdrawn %v after its real server stopped", took)
	ln, err := lab.D2.Listen("tcp", netip.AddrPortFrom(d2, 8080).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAndClose(ln)
	took = waitFor(t, "d2 announcing again", 10*time.Second, both)
	t.Logf("d2 announced again %v after its real server came back", took)

	// d1 stops: the route loses it while d1 still runs (withdraw_delay = 1 s).
	v1.Term()
	took = waitFor(t, "withdrawal by the stopping d1", 5*time.Second, func() bool {
		h := nextHops(t, router)
		return len(h) == 1 && h[0] == d2.String()
	})
	if v1.Exited() {
		t.Errorf("d1 exited before the router dropped its route (%v after SIGTERM)", took)
	}
	t.Logf("d1 withdrawn %v after SIGTERM, before it exited", took)
	if err := v1.Wait(10 * time.Second); err != nil {
		t.Errorf("d1 exit: %v", err)
	}
	if out := v1.Output(); !strings.Contains(out, "virtual IP withdrawn") || !strings.Contains(out, "BGP session established") {
		t.Errorf("d1's log does not tell the story:\n%s", out)
	}
}

// acceptAndClose is a real server that a tcp check finds up.
func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// TestLinkDown: a director whose link dies is dropped by the router within the BFD
// detection time (3 x 100 ms) with bfd = true, and only at the hold time (3 s) without.
func TestLinkDown(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.Short(t, "network-namespace lab with FRR")
	testenv.RequireBinary(t, "ip")
	bin := vrrplab.BuildVigil(t)
	lab := vrrplab.New(t)
	router := lab.Client
	d1, d2 := vrrplab.D1Addr.Addr(), vrrplab.D2Addr.Addr()
	startFRR(t, router, vrrplab.ClientAddr.Addr(), true, d1, d2)
	var vs []*vrrplab.Daemon
	for _, d := range []struct {
		h     *netlab.Host
		addr  netip.Addr
		extra string
	}{{lab.D1, d1, "    bfd = true\n    bfd_interval = \"100ms\""}, {lab.D2, d2, ""}} {
		if err := d.h.Sysctl("net.ipv4.ip_nonlocal_bind", "1"); err != nil {
			t.Fatal(err)
		}
		ln, err := d.h.Listen("tcp", netip.AddrPortFrom(d.addr, 8080).String())
		if err != nil {
			t.Fatal(err)
		}
		go acceptAndClose(ln)
		t.Cleanup(func() { ln.Close() })
		vs = append(vs, lab.StartVigilRun(d.h, bin, directorConfigBFD(d.addr, vrrplab.ClientAddr.Addr(), d.extra)))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("d1:\n%s\nd2:\n%s", vs[0].Output(), vs[1].Output())
		}
		vs[0].Kill()
		vs[1].Kill()
	})
	waitFor(t, "ECMP route with both directors", 30*time.Second, func() bool { return len(nextHops(t, router)) == 2 })
	// Let the BFD session come up after the BGP one.
	time.Sleep(2 * time.Second)

	// d1 (BFD) loses its link.
	if err := lab.D1.SetLinkDown("eth0"); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "the router dropping d1 (BFD)", 5*time.Second, func() bool {
		h := nextHops(t, router)
		return len(h) == 1 && h[0] == d2.String()
	})
	t.Logf("d1 (bfd, 3 x 100 ms) dropped %v after its link went down", took)
	if took > 1500*time.Millisecond {
		t.Errorf("BFD: the router dropped d1 after %v; want well under the 3 s hold time", took)
	}
	// d2 (no BFD) loses its link: the hold time decides.
	if err := lab.D2.SetLinkDown("eth0"); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, "the router dropping d2 (hold time)", 10*time.Second, func() bool { return len(nextHops(t, router)) == 0 })
	t.Logf("d2 (hold time 3 s) dropped %v after its link went down", took)
}
