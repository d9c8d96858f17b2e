package bgplab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrplab"
)

// The lab: directors (vigil, or an FRR stand-in) on one LAN bridge with the router (FRR
// zebra + bgpd, AS 65001, maximum-paths 8, L4 multipath hash), and a client behind the
// router on a link of its own, so that its flows to the VIP cross the router's ECMP route.
// The directors are in AS 65000 and announce 198.18.30.1/32 over eBGP.
var (
	vip        = netip.MustParsePrefix("198.18.30.1/32")
	routerLAN  = netip.MustParsePrefix("198.18.0.100/24")
	routerSide = netip.MustParsePrefix("198.18.1.1/24")
	clientAddr = netip.MustParsePrefix("198.18.1.2/24")
)

const routerASN, directorASN = 65001, 65000

type lab struct {
	t              *testing.T
	run            *vrrplab.Lab // starts `vigil run` (its Net, T and Dir only)
	lan            *netlab.Bridge
	router, client *netlab.Host
	routerFRR      *frr
	bin            string
	hosts          int
}

// newLab builds the router and the client; directors come with addDirector and
// addStandIn, and the router's FRR with startRouter once they are known.
func newLab(t *testing.T) *lab {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.Short(t, "network-namespace lab with FRR")
	testenv.RequireBinary(t, "ip")
	n := netlab.New(t)
	l := &lab{t: t, run: &vrrplab.Lab{T: t, Net: n, Dir: t.TempDir()}, lan: n.Bridge("lan"),
		router: n.Host("router"), client: n.Host("client")}
	n.Link(l.router, "eth0", l.lan, routerLAN)
	n.Pair(l.router, "eth1", l.client, "eth0")
	must(t, l.router.AddAddr("eth1", routerSide))
	must(t, l.client.AddAddr("eth0", clientAddr))
	must(t, l.client.AddRoute(netip.MustParsePrefix("0.0.0.0/0"), routerSide.Addr()))
	return l
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// host adds a machine on the LAN at 198.18.0.11, .12, ... in the order asked, with a
// route back to the client through the router.
func (l *lab) host(name string) (*netlab.Host, netip.Addr) {
	l.t.Helper()
	l.hosts++
	addr := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + l.hosts)}), 24)
	h := l.run.Net.Host(name)
	l.run.Net.Link(h, "eth0", l.lan, addr)
	must(l.t, h.AddRoute(clientAddr.Masked(), routerLAN.Addr()))
	return h, addr.Addr()
}

// node is a director's machine: its namespace, address and the server that answers for it.
type node struct {
	l       *lab
	name    string
	h       *netlab.Host
	addr    netip.Addr
	backend net.Listener
	conns   connSet // the server's accepted connections
}

// connSet tracks a server's open connections, so that a machine's death can take them
// with it.
type connSet struct {
	mu sync.Mutex
	m  map[net.Conn]bool
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[net.Conn]bool{}
	}
	s.m[c] = true
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, c)
}

// closeAll closes every open connection (a process dying closes its sockets).
func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.m {
		c.Close()
	}
	s.m = nil
}

// relink brings the machine's link back after linkDown, with the route to the client the
// kernel flushed with it.
func (n *node) relink() {
	n.l.t.Helper()
	must(n.l.t, n.h.SetLinkUp("eth0"))
	if err := n.h.AddRoute(clientAddr.Masked(), routerLAN.Addr()); err != nil && !errors.Is(err, os.ErrExist) &&
		!strings.Contains(err.Error(), "file exists") {
		n.l.t.Fatal(err)
	}
}

// linkDown is the machine dying, as the router sees it: no frame in or out.
func (n *node) linkDown() { must(n.l.t, n.h.SetLinkDown("eth0")) }

// director is a vigil director: `vigil run` with the userspace data plane, its real server
// on its own address at port 8080 (a server that names the director, then echoes).
type director struct {
	node
	extra string // lines for the neighbor block (BFD)
	state string // its state and socket directory, kept across restarts
	d     *vrrplab.Daemon
}

func (l *lab) addDirector(name, neighborExtra string) *director {
	l.t.Helper()
	h, addr := l.host(name)
	// The userspace data plane binds the VIP before vigil puts it on lo.
	must(l.t, h.Sysctl("net.ipv4.ip_nonlocal_bind", "1"))
	d := &director{node: node{l: l, name: name, h: h, addr: addr}, extra: neighborExtra,
		state: filepath.Join(l.run.Dir, name)}
	d.serve(netip.AddrPortFrom(addr, 8080))
	return d
}

// serve starts the machine's server on at (again, after its kill).
func (n *node) serve(at netip.AddrPort) {
	n.l.t.Helper()
	ln, err := n.h.Listen("tcp", at.String())
	must(n.l.t, err)
	n.backend = ln
	go nameAndEcho(ln, n.name, &n.conns)
	n.l.t.Cleanup(func() { ln.Close() })
}

// start runs vigil on the director (again, after a stop or a kill).
func (d *director) start() {
	d.l.t.Helper()
	if d.l.bin == "" {
		d.l.bin = vrrplab.BuildVigil(d.l.t)
	}
	os.MkdirAll(d.state, 0o755)
	d.d = d.l.run.StartVigilRun(d.h, d.l.bin, testenv.PrivateState(directorConfig(d.addr, routerLAN.Addr(), d.extra), d.state))
}

// directorConfig is a director announcing vip while its one real server, self:8080,
// passes a tcp check every 200 ms; neighborExtra goes in the neighbor block.
func directorConfig(self, router netip.Addr, neighborExtra string) string {
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

// bfdLines turn BFD on in a director's neighbor block, at the router's 100 ms x 3.
const bfdLines = "    bfd = true\n    bfd_interval = \"100ms\""

// nameAndEcho is a real server that a tcp check finds up and that a client can tell
// apart: it writes name and a newline, then echoes what it reads.
func nameAndEcho(ln net.Listener, name string, conns *connSet) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		conns.add(c)
		go func() {
			defer conns.remove(c)
			defer c.Close()
			if _, err := io.WriteString(c, name+"\n"); err != nil {
				return
			}
			io.Copy(c, c)
		}()
	}
}

// standIn is a director as FRR makes one: bgpd (and bfdd) announcing the VIP from a
// namespace with the VIP on lo and a trivial server on it.
type standIn struct {
	node
	bfd bool
	frr *frr
}

func (l *lab) addStandIn(name string, bfd bool) *standIn {
	l.t.Helper()
	h, addr := l.host(name)
	must(l.t, h.AddAddr("lo", vip))
	s := &standIn{node: node{l: l, name: name, h: h, addr: addr}, bfd: bfd}
	s.serve(netip.AddrPortFrom(vip.Addr(), 80)) // a stand-in serves the VIP itself
	return s
}

// start runs zebra, bgpd and bfdd on the stand-in (again, after kill, with its server).
func (s *standIn) start() {
	s.l.t.Helper()
	if s.frr != nil {
		s.serve(netip.AddrPortFrom(vip.Addr(), 80))
	}
	s.frr = startFRR(s.l.t, s.h, frrConfig{asn: directorASN, peerASN: routerASN, routerID: s.addr,
		neighbors: []netip.Addr{routerLAN.Addr()}, bfd: s.bfd, networks: []netip.Prefix{vip}})
}

// kill is the stand-in's processes dying: its FRR daemons and its server, with the
// server's connections (as a vigil director's proxied ones die with it).
func (s *standIn) kill() {
	s.frr.kill()
	s.backend.Close()
	s.conns.closeAll()
}

// startRouter runs the router's FRR with every director (vigil or stand-in) as a neighbor.
func (l *lab) startRouter(bfd bool, neighbors ...netip.Addr) {
	l.t.Helper()
	must(l.t, l.router.Sysctl("net.ipv4.ip_forward", "1"))
	must(l.t, l.router.Sysctl("net.ipv4.fib_multipath_hash_policy", "1")) // L4: ports in the hash
	l.routerFRR = startFRR(l.t, l.router, frrConfig{asn: routerASN, peerASN: directorASN, routerID: routerLAN.Addr(),
		neighbors: neighbors, bfd: bfd, multipath: true})
}

// frrConfig is one FRR instance: bgpd with eBGP neighbors (timers 1 3, as vigil's
// hold_time = "3s"), bfdd at 100 ms x 3 towards each when bfd is set.
type frrConfig struct {
	asn, peerASN uint32
	routerID     netip.Addr
	neighbors    []netip.Addr
	bfd          bool
	networks     []netip.Prefix // announced (a stand-in director)
	multipath    bool           // maximum-paths 8 (the router)
}

type frr struct {
	h     *netlab.Host
	dir   string // the vty sockets
	mu    sync.Mutex
	procs []*exec.Cmd
}

// show runs a vtysh command ("show bfd peers json") against the daemons and decodes its
// JSON output into v.
func (f *frr) show(t *testing.T, cmd string, v any) {
	t.Helper()
	out, err := f.h.Command(context.Background(), "vtysh", "--vty_socket", f.dir, "-c", cmd).Output()
	if err != nil {
		t.Fatalf("vtysh -c %q: %v: %s", cmd, err, out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("vtysh -c %q: %v: %s", cmd, err, out)
	}
}

// bfdUp reports whether the router's bfdd has an Up session with each of addrs.
func (f *frr) bfdUp(t *testing.T, addrs ...netip.Addr) bool {
	t.Helper()
	var peers []struct {
		Peer   string `json:"peer"`
		Status string `json:"status"`
	}
	f.show(t, "show bfd peers json", &peers)
	for _, a := range addrs {
		up := false
		for _, p := range peers {
			up = up || p.Peer == a.String() && p.Status == "up"
		}
		if !up {
			return false
		}
	}
	return true
}

// sessions is how many times bgpd's session with addr came up and went down.
func (f *frr) sessions(t *testing.T, addr netip.Addr) (established, dropped int) {
	t.Helper()
	var n map[string]struct {
		Established int `json:"connectionsEstablished"`
		Dropped     int `json:"connectionsDropped"`
	}
	f.show(t, "show bgp neighbors "+addr.String()+" json", &n)
	return n[addr.String()].Established, n[addr.String()].Dropped
}

// kill SIGKILLs the daemons.
func (f *frr) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.procs {
		c.Process.Kill()
	}
	for _, c := range f.procs {
		c.Wait()
	}
	f.procs = nil
}

// startFRR runs zebra, bgpd (and bfdd) in h, as Debian's frr package installs them, with a
// vty socket and zserv socket in a directory of their own (nothing under /etc/frr is used).
func startFRR(t *testing.T, h *netlab.Host, c frrConfig) *frr {
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
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, uid, gid)
		return p
	}
	var b strings.Builder
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n bgp bestpath as-path multipath-relax\n", c.asn, c.routerID)
	for _, n := range c.neighbors {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers 1 3\n neighbor %s timers connect 1\n", n, c.peerASN, n, n)
		if c.bfd {
			// The timers from a bfdd profile, the session from bgpd's registration: a
			// first one without a source address, replaced at Established by one with the
			// connection's (internal/bgp's bfdFollow; TestBFDFirstSession).
			fmt.Fprintf(&b, " neighbor %s bfd profile fast\n", n)
		}
	}
	b.WriteString(" address-family ipv4 unicast\n")
	if c.multipath {
		b.WriteString("  maximum-paths 8\n")
	}
	for _, p := range c.networks {
		fmt.Fprintf(&b, "  network %s\n", p)
	}
	b.WriteString(" exit-address-family\n")
	conf := write("bgpd.conf", b.String())
	zs := filepath.Join(dir, "zserv.api")
	f := &frr{h: h, dir: dir}
	run := func(name, bin string, args ...string) {
		out := &testenv.Buffer{}
		cmd := h.Command(context.Background(), bin, args...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		f.mu.Lock()
		f.procs = append(f.procs, cmd)
		f.mu.Unlock()
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s in %s output:\n%s", name, h.Name(), out.String())
			}
		})
	}
	run("zebra", zebra, "-z", zs, "-i", filepath.Join(dir, "zebra.pid"), "--vty_socket", dir, "-f", "/dev/null", "-u", "frr", "-g", "frr")
	waitFor(t, "zebra's socket", 10*time.Second, func() bool { _, err := os.Stat(zs); return err == nil })
	if c.bfd {
		bconf := write("bfdd.conf", "bfd\n profile fast\n  receive-interval 100\n  transmit-interval 100\n  detect-multiplier 3\n !\n")
		run("bfdd", "/usr/lib/frr/bfdd", "-z", zs, "-i", filepath.Join(dir, "bfdd.pid"), "--vty_socket", dir,
			"--bfdctl", filepath.Join(dir, "bfdd.sock"), "-f", bconf, "-u", "frr", "-g", "frr")
	}
	// -p 179 on the router (the directors dial it); a stand-in dials and needs no listener.
	port := "179"
	if !c.multipath {
		port = "0"
	}
	run("bgpd", bgpd, "-z", zs, "-i", filepath.Join(dir, "bgpd.pid"), "--vty_socket", dir, "-f", conf, "-u", "frr", "-g", "frr", "-p", port)
	return f
}

// nextHops are the gateways of the router's route to vip ("ip route show" prints one
// "nexthop via" line each for a multipath route, or one "via" for a single path).
func (l *lab) nextHops() []netip.Addr {
	l.t.Helper()
	out, err := l.router.Command(context.Background(), "ip", "route", "show", vip.String()).CombinedOutput()
	if err != nil {
		l.t.Fatalf("ip route show: %v: %s", err, out)
	}
	var hops []netip.Addr
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			a, err := netip.ParseAddr(f[i+1])
			if err != nil {
				l.t.Fatalf("ip route show: next hop %q: %v", f[i+1], err)
			}
			hops = append(hops, a)
		}
	}
	return hops
}

// hopsAre reports whether the router's next hops are exactly want, in any order.
func (l *lab) hopsAre(want ...netip.Addr) bool { return sameHops(l.nextHops(), want) }

// sameHops reports whether got and want hold the same next hops, in any order.
func sameHops(got, want []netip.Addr) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	return waitEvery(t, what, within, 20*time.Millisecond, cond)
}

// waitEvery is waitFor looking every period.
func waitEvery(t *testing.T, what string, within, period time.Duration, cond func() bool) time.Duration {
	t.Helper()
	began := time.Now()
	for !cond() {
		if time.Since(began) > within {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(period)
	}
	return time.Since(began)
}

// request is one client request through the router: connect to the VIP, read the name of
// whoever answered.
func (l *lab) request(timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := l.client.Dial(ctx, "tcp", netip.AddrPortFrom(vip.Addr(), 80).String())
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	name, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read the answer: %w", err)
	}
	return strings.TrimSpace(name), nil
}

// spread makes n requests and counts who answered; failures count under "".
func (l *lab) spread(n int) map[string]int {
	got := map[string]int{}
	for range n {
		name, _ := l.request(time.Second)
		got[name]++
	}
	return got
}

// attempt is one request of a load run.
type attempt struct {
	at   time.Time
	name string
	err  error
}

// load makes requests from workers goroutines back to back, each with timeout, until
// stop is called; stop returns every attempt.
func (l *lab) load(workers int, timeout time.Duration) (stop func() []attempt) {
	var mu sync.Mutex
	var all []attempt
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				at := time.Now()
				name, err := l.request(timeout)
				mu.Lock()
				all = append(all, attempt{at, name, err})
				mu.Unlock()
			}
		}()
	}
	return func() []attempt {
		close(done)
		wg.Wait()
		return all
	}
}

// conn is a long-lived client connection and who took it.
type conn struct {
	c    net.Conn
	r    *bufio.Reader
	name string
}

// open opens n long-lived connections to the VIP.
func (l *lab) open(n int) []*conn {
	l.t.Helper()
	var out []*conn
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := l.client.Dial(ctx, "tcp", netip.AddrPortFrom(vip.Addr(), 80).String())
		cancel()
		if err != nil {
			l.t.Fatal(err)
		}
		r := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		name, err := r.ReadString('\n')
		if err != nil {
			l.t.Fatalf("connection %d: %v", len(out), err)
		}
		out = append(out, &conn{c, r, strings.TrimSpace(name)})
		l.t.Cleanup(func() { c.Close() })
	}
	return out
}

// alive reports whether c still carries data both ways.
func (c *conn) alive(timeout time.Duration) bool {
	c.c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c.c, "ping\n"); err != nil {
		return false
	}
	line, err := c.r.ReadString('\n')
	return err == nil && line == "ping\n"
}
