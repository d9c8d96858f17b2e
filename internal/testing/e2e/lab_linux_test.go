package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/ipvs"
)

func pfx(s string) netip.Prefix  { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr   { return netip.MustParseAddr(s) }
func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// drLab is the seeds' DR web cluster on one LAN: a client, directors and real servers that
// hold the VIP on lo with ARP for it suppressed (arp_ignore=1, arp_announce=2).
type drLab struct {
	lab       *netlab.Lab
	lan       *netlab.Bridge
	client    *netlab.Host
	directors []*netlab.Host
	rs        []*realServer // newDRLab's Go HTTP servers
	rsHosts   []*netlab.Host
	rsAddrs   []netip.Addr
	vip       netip.Addr
}

// newDRLab builds the LAN 198.18.0.0/24: client .100, directors .11, .12..., real
// servers .21, .22..., VIP .254. A director gets the VIP on its interface only when
// staticVIP is set (otherwise VRRP moves it).
func newDRLab(t *testing.T, directors, realServers int, staticVIP bool) *drLab {
	t.Helper()
	x := newLAN(t, directors, realServers, staticVIP)
	for i, h := range x.rsHosts {
		setupDRRealServer(t, h, x.vip)
		rs := &realServer{t: t, name: h.Name(), host: h, addr: x.rsAddrs[i]}
		rs.Start()
		t.Cleanup(rs.Stop)
		x.rs = append(x.rs, rs)
	}
	return x
}

// newLAN builds the hosts of the LAN 198.18.0.0/24 (client .100, directors .11..., real
// servers .21...) with addresses only: what runs on the real servers, and how they hold
// the VIP, is up to the caller.
func newLAN(t *testing.T, directors, realServers int, staticVIP bool) *drLab {
	t.Helper()
	l := netlab.New(t)
	x := &drLab{lab: l, vip: addr("198.18.0.254")}
	x.lan = l.Bridge("lan")
	x.client = l.Host("client")
	l.Link(x.client, "eth0", x.lan, pfx("198.18.0.100/24"))
	for i := range directors {
		h := l.Host(fmt.Sprintf("lb%d", i+1))
		addrs := []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(11 + i)}), 24)}
		if staticVIP {
			addrs = append(addrs, pfx("198.18.0.254/32"))
		}
		l.Link(h, "eth0", x.lan, addrs...)
		x.directors = append(x.directors, h)
	}
	for i := range realServers {
		h := l.Host(fmt.Sprintf("rs%d", i+1))
		a := netip.AddrFrom4([4]byte{198, 18, 0, byte(21 + i)})
		l.Link(h, "eth0", x.lan, netip.PrefixFrom(a, 24))
		x.rsHosts, x.rsAddrs = append(x.rsHosts, h), append(x.rsAddrs, a)
	}
	return x
}

// setupDRRealServer is the seeds' DR real server: the VIP on lo, and no ARP for it
// (arp_ignore=1, arp_announce=2).
func setupDRRealServer(t *testing.T, h *netlab.Host, vip netip.Addr) {
	t.Helper()
	for _, k := range []string{"all", "eth0", "lo"} {
		must(t, h.Sysctl("net/ipv4/conf/"+k+"/arp_ignore", "1"), "arp_ignore")
		must(t, h.Sysctl("net/ipv4/conf/"+k+"/arp_announce", "2"), "arp_announce")
	}
	must(t, h.AddAddr("lo", netip.PrefixFrom(vip, 32)), "VIP on lo")
}

// realServer is an HTTP server answering its name on port 80, on every address.
type realServer struct {
	t    *testing.T
	name string
	host *netlab.Host
	addr netip.Addr
	mu   sync.Mutex
	srv  *http.Server
}

func (r *realServer) Start() {
	r.t.Helper()
	ln, err := r.host.Listen("tcp4", "0.0.0.0:80")
	must(r.t, err, "listen in "+r.name)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/slow" {
			// A long download: the client reads it while the test changes things.
			for range 40 {
				fmt.Fprintf(w, "%s\n", r.name)
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
			return
		}
		fmt.Fprintf(w, "%s\n", r.name)
	})}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

// Stop closes the listener and every connection, like a crashed web server.
func (r *realServer) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

// ask makes one request on a new connection (curl VIP) and returns who answered.
func ask(h *netlab.Host, url string) (string, error) {
	c := h.HTTPClient()
	c.Timeout = 5 * time.Second
	tr := c.Transport.(*http.Transport)
	tr.DisableKeepAlives = true
	var conns []net.Conn
	var mu sync.Mutex
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialFreshPort(ctx, h, network, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
		return conn, err
	}
	// The connection closes before ask returns: the transport closes a connection it
	// keeps no more from its own goroutine, which may come after the next request's SYN,
	// and a scheduler that counts connections (wlc, as examples/tun-web.hcl) may then
	// count a finished request as active on one real server and not the other, and not
	// alternate (TestExamplesVM/examples/tun_web, once: rs2, rs1, rs2, rs2).
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			conn.Close()
		}
	}()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// freshPorts hands out the local ports of ask's connections, above the kernel's ephemeral
// range (32768-60999): a port a director's table has seen in the last two minutes (a
// closed connection's FIN_WAIT entry, its synced copy on the other director, an attempt
// left in SYN_RECV by a failover) would make IPVS send the connection where that entry
// points, not where the scheduler would. Clients in number do not reuse ports that soon;
// the tests' one client does, so the fresh-connection assertions (rr alternates) take a
// port no entry can name, as long as fewer than 4,500 come within two minutes.
var freshPorts atomic.Uint32

const (
	freshPortLo = 61000
	freshPortN  = 4500
)

// dialFreshPort dials from h on the next fresh port, skipping one still in use.
func dialFreshPort(ctx context.Context, h *netlab.Host, network, addr string) (net.Conn, error) {
	var err error
	for range 16 {
		port := freshPortLo + int(freshPorts.Add(1)%freshPortN)
		var c net.Conn
		err = h.Do(func() (err error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{Port: port}}
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
	return nil, err
}

func askN(t *testing.T, h *netlab.Host, url string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		who, err := ask(h, url)
		must(t, err, "request "+url)
		out = append(out, who)
	}
	return out
}

// vigil is one `vigil run` process inside a namespace.
type vigil struct {
	t    *testing.T
	name string
	host *netlab.Host
	dir  string
	cfg  string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	// env is added to the test's environment; argv, when set, is the whole command
	// instead of `vigil run -f cfg --pid-file ...` (the systemd unit's ExecStart).
	env  []string
	argv []string
}

// syncBuffer collects a daemon's log while the test reads it.
type syncBuffer = testenv.Buffer

// startVigil writes config to a file and runs `vigil run` on it inside h.
func startVigil(t *testing.T, h *netlab.Host, name, config string) *vigil {
	t.Helper()
	v := &vigil{t: t, name: name, host: h, dir: t.TempDir(), log: &syncBuffer{}}
	v.cfg = filepath.Join(v.dir, "vigil.hcl")
	must(t, os.WriteFile(v.cfg, []byte(testenv.PrivateState(config, v.dir)), 0o600), "write config")
	return launch(t, v)
}

// launch starts v and kills it when t ends, printing its log if t failed.
func launch(t *testing.T, v *vigil) *vigil {
	t.Helper()
	v.start()
	t.Cleanup(func() {
		v.Kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", v.name, v.log.String())
		}
	})
	return v
}

func (v *vigil) start() {
	v.t.Helper()
	argv := v.argv
	if argv == nil {
		argv = []string{"vigil", "run", "-f", v.cfg, "--pid-file", filepath.Join(v.dir, "vigil.pid")}
	}
	v.cmd = v.host.Command(context.Background(), argv[0], argv[1:]...)
	v.cmd.Env = append(os.Environ(), v.env...)
	v.cmd.Stdout, v.cmd.Stderr = v.log, v.log
	must(v.t, v.cmd.Start(), "start vigil in "+v.host.Name())
	v.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(v.cmd, v.done)
	v.waitReady()
}

// readyTimeout bounds a vigil's start-up (parse, program the table, serve the API).
var readyTimeout = 30 * time.Second

// waitReady polls /healthz until vigil answers.
func (v *vigil) waitReady() {
	v.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-v.done:
			v.t.Fatalf("%s exited during start:\n%s", v.name, v.log.String())
		default:
		}
		resp, err := v.host.HTTPClient().Get("http://127.0.0.1:9110/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	v.t.Fatalf("%s not ready after %s:\n%s", v.name, readyTimeout, v.log.String())
}

// Status fetches and decodes /status.
func (v *vigil) Status() status.Snapshot {
	v.t.Helper()
	resp, err := v.host.HTTPClient().Get("http://127.0.0.1:9110/status")
	must(v.t, err, "GET /status of "+v.name)
	defer resp.Body.Close()
	var s status.Snapshot
	must(v.t, json.NewDecoder(resp.Body).Decode(&s), "decode /status")
	return s
}

func (v *vigil) get(path string) string {
	v.t.Helper()
	resp, err := v.host.HTTPClient().Get("http://127.0.0.1:9110" + path)
	must(v.t, err, "GET "+path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(v.t, err, "read "+path)
	return string(b)
}

// Signal sends sig to the vigil process.
func (v *vigil) Signal(sig syscall.Signal) {
	v.t.Helper()
	must(v.t, v.cmd.Process.Signal(sig), "signal "+v.name)
}

// Wait waits for the process to exit.
func (v *vigil) Wait(timeout time.Duration) {
	v.t.Helper()
	select {
	case <-v.done:
	case <-time.After(timeout):
		v.t.Fatalf("%s did not exit within %s", v.name, timeout)
	}
}

// Kill ends the process at once (SIGKILL), if it still runs.
func (v *vigil) Kill() {
	select {
	case <-v.done:
		return
	default:
	}
	v.cmd.Process.Kill()
	<-v.done
}

// Restart starts the process again with the same configuration.
func (v *vigil) Restart() { v.start() }

// Reload writes a new configuration, sends SIGHUP and waits until /status shows the
// reload's outcome; it returns the snapshot after it.
func (v *vigil) Reload(config string) status.Snapshot {
	v.t.Helper()
	before := v.Status().Config
	must(v.t, os.WriteFile(v.cfg, []byte(testenv.PrivateState(config, v.dir)), 0o600), "write config")
	v.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := v.Status()
		if s.Config.Generation != before.Generation || s.Config.ReloadsFailed != before.ReloadsFailed {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	v.t.Fatalf("%s: reload not reported within 20s", v.name)
	return status.Snapshot{}
}

// kernelWeights reads the IPVS table of h directly: destination address -> weight.
func kernelWeights(t *testing.T, h *netlab.Host, svc ipvs.ServiceKey) map[netip.AddrPort]int {
	t.Helper()
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: h.Path(), NoModprobe: true})
	must(t, err, "open IPVS in "+h.Name())
	defer k.Close()
	out := map[netip.AddrPort]int{}
	dests, err := k.Destinations(context.Background(), svc)
	if err != nil {
		return out
	}
	for _, d := range dests {
		out[d.Addr] = d.Weight
	}
	return out
}

// waitFor polls cond until it holds or timeout passes, and returns how long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
	return 0
}
