package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/vmtest"
)

// TestHAPairVM runs the HA director pair of examples/ha-pair end to end in one VM boot:
// directors A (priority 150) and B (100), each `vigil run` in its own namespace with its
// own kernel IPVS table, two DR real servers and a client on one bridge. One story, a
// subtest per scenario; each starts from the state the previous one left (A master).
// In the same boot, n_directors_ecmp scales out instead: three active directors behind
// ECMP, connection sync between all of them (syncn_vm_linux_test.go).
func TestHAPairVM(t *testing.T) {
	vmtest.Run(t, vmtest.Options{
		Binaries:     map[string]string{"vigil": "github.com/vigil-lb/vigil/cmd/vigil"},
		HostBinaries: []string{"nft", "ip"},
		Files:        haExampleFiles(t),
		Timeout:      12 * time.Minute,
	}, map[string]func(*testing.T){
		"pair":             testHAPair,
		"n_directors_ecmp": testSyncNDirectors,
	})
}

// The example configurations are copied into the guest: what the operator reads is what
// is proven.
const haExampleDir = "/ha-pair"

func haExampleFiles(t *testing.T) map[string]string {
	files := map[string]string{}
	if vmtest.InGuest() {
		return files
	}
	for _, n := range []string{"director-a.hcl", "director-b.hcl"} {
		p, err := filepath.Abs(filepath.Join("..", "..", "..", "examples", "ha-pair", n))
		must(t, err, "example path")
		files[haExampleDir+"/"+n] = p
	}
	return files
}

// haTiming replaces the example's timers for a test: faster checks, so that a failed real
// server is seen in about a second, and optionally another VRRP version and interval.
type haTiming struct {
	version  int           // 0: the example's
	interval time.Duration // 0: the example's
}

// exampleConfig reads an example from the guest and applies the substitutions; each must
// match, so a changed example fails here instead of silently testing something else.
func exampleConfig(t testing.TB, name string, tm haTiming, subs ...string) string {
	t.Helper()
	b, err := os.ReadFile(haExampleDir + "/" + name)
	must(t, err, "read example")
	s := string(b)
	replace := func(old, new string) {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("%s no longer contains %q; update the HA e2e test", name, old)
		}
		s = strings.ReplaceAll(s, old, new)
	}
	replace(`interval = "2s"`, `interval = "1s"`)
	replace(`timeout  = "1s"`, `timeout  = "800ms"`)
	replace(`fall     = 3`, `fall     = 2`)
	if tm.version != 0 {
		replace(`version             = 3`, fmt.Sprintf(`version             = %d`, tm.version))
	}
	if tm.interval != 0 {
		replace(`advert_interval     = "1s"`, fmt.Sprintf(`advert_interval     = "%s"`, tm.interval))
	}
	for i := 0; i+1 < len(subs); i += 2 {
		replace(subs[i], subs[i+1])
	}
	return s
}

// Check timing after exampleConfig: a failure is seen within fall x interval + timeout.
// (Tighter timeouts flap in a TCG guest busy with two daemons and a client loop.)
const haCheckFailAfter = 2*time.Second + 800*time.Millisecond

// poll is waitFor with a coarser step: the conditions here make HTTP requests to both
// daemons, which a 10 ms loop would turn into load on the 2-core TCG guest.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	if !pollFor(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
	return time.Since(start)
}

// pollFor reports whether cond held within timeout, trying every 25 ms.
func pollFor(timeout time.Duration, cond func() bool) bool {
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}

// haPair is the running pair and its lab.
type haPair struct {
	x        *drLab
	a, b     *vigil
	interval time.Duration
	version  int
}

func (p *haPair) skew(prio int) time.Duration {
	if p.version == 2 {
		return time.Duration(256-prio) * time.Second / 256
	}
	return time.Duration(256-prio) * p.interval / 256
}

func (p *haPair) masterDown(prio int) time.Duration { return 3*p.interval + p.skew(prio) }

// bind makes the daemons report failures to the running subtest.
func (p *haPair) bind(t *testing.T) {
	p.a.t, p.b.t = t, t
}

// tryStatus fetches /status without failing the test (the daemon may be dead).
func tryStatus(v *vigil) (status.Snapshot, error) {
	var s status.Snapshot
	c := v.host.HTTPClient()
	c.Timeout = 2 * time.Second
	resp, err := c.Get("http://127.0.0.1:9110/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// vrrpState is the state of the daemon's only VRRP instance, "" when it does not answer.
func vrrpState(v *vigil) (string, status.VRRPInstance) {
	s, err := tryStatus(v)
	if err != nil || len(s.VRRP) != 1 {
		return "", status.VRRPInstance{}
	}
	return s.VRRP[0].State, s.VRRP[0]
}

// hasVIP reports whether h holds the VIP on eth0.
func hasVIP(t testing.TB, h *netlab.Host) bool {
	t.Helper()
	l, err := h.Handle().LinkByName("eth0")
	must(t, err, "eth0 of "+h.Name())
	addrs, err := h.Handle().AddrList(l, netlink.FAMILY_V4)
	must(t, err, "addresses of "+h.Name())
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr("198.18.0.254") {
			return true
		}
	}
	return false
}

// waitRoles waits until master is MASTER holding the VIP and backup is BACKUP without it.
func (p *haPair) waitRoles(t *testing.T, master, backup *vigil, timeout time.Duration) time.Duration {
	t.Helper()
	return poll(t, timeout, master.name+" master with the VIP, "+backup.name+" backup without it", func() bool {
		ms, _ := vrrpState(master)
		bs, _ := vrrpState(backup)
		return ms == "master" && bs == "backup" && hasVIP(t, master.host) && !hasVIP(t, backup.host)
	})
}

// bothUp waits until both real servers have weight 1 in the given directors' tables.
func bothUp(t *testing.T, timeout time.Duration, dirs ...*netlab.Host) {
	t.Helper()
	waitFor(t, timeout, "both real servers at weight 1 in every director's table", func() bool {
		for _, h := range dirs {
			w := kernelWeights(t, h, webKey)
			if w[rsAddr(0)] != 1 || w[rsAddr(1)] != 1 {
				return false
			}
		}
		return true
	})
}

// newHAPair builds the lab and starts A, then B, from the example configurations.
func newHAPair(t *testing.T, tm haTiming, aSubs ...string) *haPair {
	t.Helper()
	x := newDRLab(t, 2, 2, false)
	p := &haPair{x: x, interval: time.Second, version: 3}
	if tm.interval != 0 {
		p.interval = tm.interval
	}
	if tm.version != 0 {
		p.version = tm.version
	}
	p.a = startVigil(t, x.directors[0], "director-a", exampleConfig(t, "director-a.hcl", tm, aSubs...))
	p.b = startVigil(t, x.directors[1], "director-b", exampleConfig(t, "director-b.hcl", tm))
	return p
}

// connectLoop opens a new connection to the VIP from the client every attemptEvery (one
// HTTP/1.0 request each, whether or not earlier attempts are still waiting) and records
// when each succeeded, to measure the longest gap in successful new connections to within
// about attemptEvery. An attempt that has no answer after attemptTimeout counts as failed:
// its SYN was lost while the VIP moved, and a real client would wait 1 s for the kernel
// to retransmit it. At most maxInFlight attempts run at once, so that a long outage does
// not pile up goroutines and threads in a 2-core TCG guest.
type connectLoop struct {
	began  time.Time
	mu     sync.Mutex
	ok     []time.Time
	who    map[string]int
	failed int
	slow   int
	errs   map[string]int
	stop   chan struct{}
	wg     sync.WaitGroup
}

const (
	attemptEvery   = 30 * time.Millisecond
	attemptTimeout = 500 * time.Millisecond
	slowAttempt    = 200 * time.Millisecond
	maxInFlight    = 24
)

// loopResult is what the client saw.
type loopResult struct {
	OK, Failed, Slow int
	Gap              time.Duration // longest time between two consecutive successes (or the loop's start or end)
	GapEnd           time.Time     // the success that ended it
	Who              map[string]int
	Errs             map[string]int
}

func (r loopResult) String() string {
	return fmt.Sprintf("%d ok (%d slower than %s), %d failed %v, longest gap %s, answered by %v",
		r.OK, r.Slow, slowAttempt, r.Failed, r.Errs, r.Gap.Round(time.Millisecond), r.Who)
}

func startConnectLoop(h *netlab.Host) *connectLoop {
	return startConnectLoopEvery(h, attemptEvery, attemptTimeout)
}

// startConnectLoopEvery is startConnectLoop with another cadence and attempt timeout.
func startConnectLoopEvery(h *netlab.Host, every, timeout time.Duration) *connectLoop {
	l := &connectLoop{began: time.Now(), who: map[string]int{}, errs: map[string]int{}, stop: make(chan struct{})}
	sem := make(chan struct{}, max(maxInFlight, int(timeout/every)+1))
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // every slot waits on a lost SYN; the next tick tries again
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer func() { <-sem }()
				began := time.Now()
				who, err := connectOnce(h, timeout)
				now := time.Now()
				l.mu.Lock()
				defer l.mu.Unlock()
				if err != nil {
					l.failed++
					l.errs[shortErr(err)]++
					return
				}
				l.ok = append(l.ok, now)
				l.who[who]++
				if now.Sub(began) > slowAttempt {
					l.slow++
				}
			}()
		}
	}()
	return l
}

func shortErr(err error) string {
	s := err.Error()
	for _, k := range []string{"i/o timeout", "connection refused", "connection reset", "no route to host", "EOF", "deadline exceeded"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return s
}

// connectOnce is one new TCP connection and one HTTP/1.0 request to the VIP.
func connectOnce(h *netlab.Host, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := h.Dial(ctx, "tcp4", "198.18.0.254:80")
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	_, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok || !strings.HasPrefix(string(b), "HTTP/1.") {
		return "", fmt.Errorf("bad response %q", b)
	}
	return strings.TrimSpace(body), nil
}

// Stop ends the loop and returns what it saw.
func (l *connectLoop) Stop() loopResult {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := loopResult{OK: len(l.ok), Failed: l.failed, Slow: l.slow, Who: l.who, Errs: l.errs}
	// The loop's start and end bound the first and last gap: a window without any
	// success is one gap as long as the window.
	ok := append([]time.Time{l.began}, l.ok...)
	slices.SortFunc(ok, func(a, b time.Time) int { return a.Compare(b) })
	ok = append(ok, time.Now())
	for i := 1; i < len(ok); i++ {
		if g := ok[i].Sub(ok[i-1]); g > r.Gap {
			r.Gap, r.GapEnd = g, ok[i]
		}
	}
	return r
}

func testHAPair(t *testing.T) {
	p := newHAPair(t, haTiming{})
	x, a, b := p.x, p.a, p.b
	lbA, lbB := x.directors[0], x.directors[1]
	slack := 3 * time.Second // a loaded 2-core TCG guest; figures are logged, benchmarks measure them

	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"steady_state", func(t *testing.T) {
			took := p.waitRoles(t, a, b, 30*time.Second)
			t.Logf("A master, B backup %s after start", took.Round(time.Millisecond))
			bothUp(t, 20*time.Second, lbA, lbB)
			// B's table is A's: same service, same real servers, same weights.
			if wa, wb := kernelWeights(t, lbA, webKey), kernelWeights(t, lbB, webKey); fmt.Sprint(wa) != fmt.Sprint(wb) {
				t.Errorf("IPVS tables differ: A %v, B %v", wa, wb)
			}
			assertAlternates(t, askN(t, x.client, "http://198.18.0.254/", 10))
			// The traffic went through A; B's table stayed idle.
			poll(t, 10*time.Second, "A's IPVS counters to show the requests", func() bool {
				s, err := tryStatus(a)
				return err == nil && s.VirtualServers[0].Stats.Conns >= 10
			})
			sb, err := tryStatus(b)
			must(t, err, "status of B")
			if vs := sb.VirtualServers[0]; vs.Stats.Conns != 0 || vs.Stats.InPkts != 0 {
				t.Errorf("B's virtual server saw traffic while backup: %+v", vs.Stats)
			}
			for _, s := range []*vigil{a, b} {
				st, err := tryStatus(s)
				must(t, err, "status")
				if st.Dataplane != "kernel" {
					t.Errorf("%s data plane %q, want kernel", s.name, st.Dataplane)
				}
				if v := st.VRRP[0]; v.EffectivePriority != v.BasePriority {
					t.Errorf("%s effective priority %d, want its base %d with every real server up", s.name, v.EffectivePriority, v.BasePriority)
				}
			}
		}},
		{"real_server_fails_both_quiesce", func(t *testing.T) {
			x.rs[0].Stop()
			took := waitFor(t, 20*time.Second, "rs1 at weight 0 in both tables", func() bool {
				return kernelWeights(t, lbA, webKey)[rsAddr(0)] == 0 && kernelWeights(t, lbB, webKey)[rsAddr(0)] == 0
			})
			t.Logf("rs1 quiesced on both directors %s after it stopped (bound %s)", took.Round(time.Millisecond), haCheckFailAfter)
			for i, who := range askN(t, x.client, "http://198.18.0.254/", 6) {
				if who != "rs2" {
					t.Fatalf("request %d went to %s with rs1 down, want rs2", i+1, who)
				}
			}
			if s, _ := vrrpState(a); s != "master" {
				t.Errorf("A is %q with one real server left, want still master", s)
			}
			x.rs[0].Start()
			bothUp(t, 20*time.Second, lbA, lbB)
		}},
		{"sigkill_A_B_takes_over", func(t *testing.T) {
			loop := startConnectLoop(x.client)
			time.Sleep(300 * time.Millisecond)
			killed := time.Now()
			a.Kill()
			took := poll(t, 20*time.Second, "B master with the VIP", func() bool {
				s, _ := vrrpState(b)
				return s == "master" && hasVIP(t, lbB)
			})
			time.Sleep(1 * time.Second)
			r := loop.Stop()
			bound := p.masterDown(100)
			t.Logf("SIGKILL: B master %s after the kill (Master_Down_Interval %s); client: %s",
				took.Round(time.Millisecond), bound, r)
			if took > bound+slack {
				t.Errorf("B took over after %s, want about %s", took, bound)
			}
			if r.Gap > bound+50*time.Millisecond+slack {
				t.Errorf("longest gap in new connections %s (ended %s after the kill), want at most %s + slack", r.Gap, r.GapEnd.Sub(killed), bound+50*time.Millisecond)
			}
			if r.Who["rs1"] == 0 || r.Who["rs2"] == 0 {
				t.Errorf("answers %v: want both real servers", r.Who)
			}
			// As with keepalived: the killed daemon cannot remove its address.
			t.Logf("A still holds the VIP after SIGKILL: %v", hasVIP(t, lbA))
			assertAlternates(t, askN(t, x.client, "http://198.18.0.254/", 10))
		}},
		{"A_returns_preempts", func(t *testing.T) {
			loop := startConnectLoop(x.client)
			start := time.Now()
			a.Restart()
			// The SIGKILL left the VIP on A's eth0. Like keepalived, A releases it when
			// it starts as backup: a backup holding it would answer ARP beside B.
			st, _ := vrrpState(a)
			held := hasVIP(t, lbA)
			t.Logf("A restarted as %q; holds the VIP its killed run left: %v", st, held)
			if st == "backup" && held {
				t.Errorf("A restarted as backup and still holds the VIP its killed run left")
			}
			took := p.waitRoles(t, a, b, 30*time.Second)
			time.Sleep(1 * time.Second)
			r := loop.Stop()
			t.Logf("A master again %s after its restart; client: %s", took.Round(time.Millisecond), r)
			if r.Gap > p.interval+slack {
				t.Errorf("longest gap in new connections %s (ended %s after A's restart), want within one advert interval %s + slack", r.Gap, r.GapEnd.Sub(start), p.interval)
			}
			bothUp(t, 20*time.Second, lbA, lbB)
			assertAlternates(t, askN(t, x.client, "http://198.18.0.254/", 10))
		}},
		{"established_connection_survives_failover", func(t *testing.T) {
			// ipvs_sync: the kernel's sync daemons run master on A, backup on B.
			for _, c := range []struct {
				v    *vigil
				want string
			}{{a, "master"}, {b, "backup"}} {
				poll(t, 20*time.Second, c.v.name+"'s sync daemon "+c.want, func() bool {
					_, vi := vrrpState(c.v)
					return vi.IPVSSync != nil && vi.IPVSSync.Daemon == c.want && vi.IPVSSync.Error == ""
				})
			}
			// The client reuses the port of a connection that has just closed, as a busy
			// client may for two minutes while both directors keep the closed one's entry
			// (FIN_WAIT: in DR a director sees only the client's half). A reschedules the
			// new connection (conn_reuse_mode bit 2), rr to the other real server, so B's
			// copy of the old entry points at the wrong one until A's sync message for the
			// new connection arrives: an entry for the client's port is not proof of sync.
			port, old := closedConn(t, x.client)
			kc := newKeepAliveFrom(t, x.client, port)
			defer kc.Close()
			// A failure names its cause: the frames of this connection (and ARP, VRRP,
			// sync) on the client, B and the real servers, and the state of every part.
			macs := hostMACs(append([]*netlab.Host{x.client, lbA, lbB}, x.rsHosts...)...)
			traced := time.Now()
			var taps []*frameTap
			for _, h := range append([]*netlab.Host{x.client, lbB}, x.rsHosts...) {
				if f := startTap(t, h, kc.local().Port(), macs, traced); f != nil {
					taps = append(taps, f)
				}
			}
			stopTaps := func() string {
				var out []string
				for _, f := range taps {
					out = append(out, f.stop())
				}
				taps = nil
				return strings.Join(out, "\n")
			}
			defer stopTaps()
			first := kc.get(t)
			for range 5 {
				time.Sleep(200 * time.Millisecond)
				if who := kc.get(t); who != first {
					t.Fatalf("one connection answered by %s, then %s", first, who)
				}
			}
			if first == old {
				t.Logf("the connection from port %d went to %s as the closed one did: rr did not alternate", port, first)
			}
			// B learns the connection from A's sync daemon: its entry is A's, ESTABLISHED to
			// the same real server (what an operator compares in `ipvsadm -Lnc` on both). The
			// master sends its queue within 2 s; A must not die before (the kernel's limit,
			// see README: a connection opened in the last moments before a crash may break).
			took := poll(t, 20*time.Second, "the client's connection in B's IPVS table as in A's", func() bool {
				return sameConnEntry(t, kc, lbA, lbB)
			})
			t.Logf("connection %s (to %s; the closed one from that port to %s) synced to B within %s (%.3fs into the trace):\n    %s",
				kc.local(), first, old, took.Round(time.Millisecond), time.Since(traced).Seconds(), linesWith(ipvsConns(t, lbB), kc.localHex()))

			// A dies (daemon and link); B takes over; the same connection goes on.
			must(t, lbA.SetLinkDown("eth0"), "A's link down")
			a.Kill()
			poll(t, 20*time.Second, "B master with the VIP", func() bool {
				s, _ := vrrpState(b)
				return s == "master" && hasVIP(t, lbB)
			})
			mastered := time.Since(traced)
			nbBefore := neighbours(x.client, macs)
			before := x.connState(kc, macs)
			_, bi := vrrpState(b)
			for i := range 3 {
				sent := time.Since(traced)
				who, err := kc.tryGet(10 * time.Second)
				if err != nil {
					timedOut := x.connState(kc, macs)
					time.Sleep(4 * time.Second) // the client's next retransmission, if it has one
					later := x.connState(kc, macs)
					_, bl := vrrpState(b)
					t.Fatalf("request %d after the failover (sent %.3fs into the trace; B master with the VIP at %.3fs): %v\n"+
						"B's sync daemon at takeover %+v, now %+v; B's sysctls: %s\n"+
						"before the request:\n%s\nat the timeout:\n%s\n4 s later:\n%s\n%s",
						i+1, sent.Seconds(), mastered.Seconds(), err, bi.IPVSSync, bl.IPVSSync, ipvsSysctls(lbB),
						before, timedOut, later, stopTaps())
				}
				if who != first {
					t.Fatalf("request %d after the failover answered by %s, want %s on the same connection", i+1, who, first)
				}
			}
			t.Logf("the established connection kept working through B (B master %.3fs into the trace); client neighbours before: %s",
				mastered.Seconds(), nbBefore)
			stopTaps()

			must(t, lbA.SetLinkUp("eth0"), "A's link up")
			a.Restart()
			p.waitRoles(t, a, b, 30*time.Second)
			bothUp(t, 20*time.Second, lbA, lbB)
		}},
		{"A_checks_cut_A_yields_by_tracking", func(t *testing.T) {
			// Drop only what A itself sends to the real servers' port 80 (its health
			// checks, from A's own address); the client's packets that A's IPVS forwards
			// keep the client's source address and pass.
			nft(t, lbA, `
table ip vigil_e2e_cut {
  chain out {
    type filter hook output priority 0; policy accept;
    ip saddr 198.18.0.11 ip daddr 198.18.0.21 tcp dport 80 drop
    ip saddr 198.18.0.11 ip daddr 198.18.0.22 tcp dport 80 drop
  }
}`)
			loop := startConnectLoop(x.client)
			took := poll(t, 30*time.Second, "A yields: B master with the VIP, A backup", func() bool {
				as, ai := vrrpState(a)
				bs, _ := vrrpState(b)
				return as == "backup" && bs == "master" && ai.EffectivePriority == 90 && hasVIP(t, lbB) && !hasVIP(t, lbA)
			})
			time.Sleep(500 * time.Millisecond)
			r := loop.Stop()
			t.Logf("checks cut on A: B master %s later (checks fail within %s, then Master_Down_Interval %s); client: %s",
				took.Round(time.Millisecond), haCheckFailAfter, p.masterDown(100), r)
			// A quiesced both real servers in its own table only; B's still balances.
			if w := kernelWeights(t, lbA, webKey); w[rsAddr(0)] != 0 || w[rsAddr(1)] != 0 {
				t.Errorf("A's table %v, want both real servers quiesced (A cannot reach them)", w)
			}
			if w := kernelWeights(t, lbB, webKey); w[rsAddr(0)] != 1 || w[rsAddr(1)] != 1 {
				t.Errorf("B's table %v, want both real servers up", w)
			}
			assertAlternates(t, askN(t, x.client, "http://198.18.0.254/", 10))
			if took > haCheckFailAfter+p.masterDown(100)+slack {
				t.Errorf("A yielded after %s", took)
			}

			nft(t, lbA, `delete table ip vigil_e2e_cut`)
			took = p.waitRoles(t, a, b, 30*time.Second)
			t.Logf("checks restored on A: A master again %s later", took.Round(time.Millisecond))
			bothUp(t, 20*time.Second, lbA, lbB)
		}},
		{"sigterm_A_B_takes_over_after_skew", func(t *testing.T) {
			loop := startConnectLoop(x.client)
			time.Sleep(300 * time.Millisecond)
			stopped := time.Now()
			a.Signal(syscall.SIGTERM)
			took := poll(t, 20*time.Second, "B master with the VIP", func() bool {
				s, _ := vrrpState(b)
				return s == "master" && hasVIP(t, lbB)
			})
			a.Wait(15 * time.Second)
			time.Sleep(1 * time.Second)
			r := loop.Stop()
			skew := p.skew(100)
			t.Logf("SIGTERM: B master %s after the signal (skew %s); client: %s", took.Round(time.Millisecond), skew, r)
			if hasVIP(t, lbA) {
				t.Errorf("A still holds the VIP after a clean stop")
			}
			if took > skew+slack {
				t.Errorf("B took over after %s, want about the skew %s", took, skew)
			}
			if r.Gap > skew+50*time.Millisecond+slack {
				t.Errorf("longest gap in new connections %s (ended %s after SIGTERM), want at most %s + slack", r.Gap, r.GapEnd.Sub(stopped), skew+50*time.Millisecond)
			}
		}},
		{"A_returns_without_preempt", func(t *testing.T) {
			// preempt = false: a returning A (started as backup, as every vigil instance
			// starts) defers to B although its priority is higher.
			a.Kill()
			must(t, os.WriteFile(a.cfg, []byte(exampleConfig(t, "director-a.hcl", haTiming{}, "preempt             = true", "preempt             = false")), 0o600), "write A's config")
			loop := startConnectLoop(x.client)
			restarted := time.Now()
			a.Restart()
			poll(t, 20*time.Second, "A backup at full priority", func() bool {
				s, v := vrrpState(a)
				return s == "backup" && v.EffectivePriority == 150
			})
			// Several Master_Down_Intervals: A must not take over.
			hold := time.Now().Add(2*p.masterDown(150) + time.Second)
			for time.Now().Before(hold) {
				as, _ := vrrpState(a)
				bs, _ := vrrpState(b)
				if as != "backup" || bs != "master" {
					t.Fatalf("with preempt = false on A: A %q, B %q; want A backup, B master", as, bs)
				}
				time.Sleep(100 * time.Millisecond)
			}
			r := loop.Stop()
			t.Logf("A back without preempt: client %s; longest gap ended %s after A's restart", r, r.GapEnd.Sub(restarted).Round(time.Millisecond))
			if hasVIP(t, lbA) {
				t.Errorf("A holds the VIP as backup")
			}
			// Nothing moved, so nothing may refuse or reset a connection. (An attempt that
			// times out is the TCG guest busy starting A; the gap bound allows for it.)
			if r.Errs["connection refused"] > 0 || r.Errs["connection reset"] > 0 || r.Gap > p.interval+slack {
				t.Errorf("client saw an outage while nothing should move: %s", r)
			}

			// A real server fails while B is master: both directors quiesce it.
			x.rs[1].Stop()
			took := waitFor(t, 20*time.Second, "rs2 at weight 0 in both tables", func() bool {
				return kernelWeights(t, lbA, webKey)[rsAddr(1)] == 0 && kernelWeights(t, lbB, webKey)[rsAddr(1)] == 0
			})
			t.Logf("rs2 quiesced on both directors %s after it stopped, B master", took.Round(time.Millisecond))
			for i, who := range askN(t, x.client, "http://198.18.0.254/", 6) {
				if who != "rs1" {
					t.Fatalf("request %d went to %s with rs2 down, want rs1", i+1, who)
				}
			}
			x.rs[1].Start()
			bothUp(t, 20*time.Second, lbA, lbB)
			if as, _ := vrrpState(a); as != "backup" {
				t.Errorf("A is %q after the real server came back, want backup (preempt = false)", as)
			}
		}},
	}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			p.bind(t)
			s.fn(t)
		})
		if !ok {
			return // later scenarios start from the state this one should have left
		}
	}
}

// nft runs an nftables script inside h.
func nft(t *testing.T, h *netlab.Host, script string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "rules.nft")
	must(t, os.WriteFile(f, []byte(script+"\n"), 0o600), "write nft script")
	out, err := h.Command(context.Background(), "nft", "-f", f).CombinedOutput()
	if err != nil {
		t.Fatalf("nft -f in %s: %v\n%s", h.Name(), err, out)
	}
}

// keepAlive is one HTTP/1.1 connection from the client to the VIP, reused for every
// request.
type keepAlive struct {
	c  net.Conn
	br *bufio.Reader
}

func newKeepAlive(t *testing.T, h *netlab.Host) *keepAlive {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.Dial(ctx, "tcp4", "198.18.0.254:80")
	must(t, err, "connect to the VIP")
	return &keepAlive{c: c, br: bufio.NewReader(c)}
}

// newKeepAliveFrom is newKeepAlive from a given local port of h's eth0 address, retried
// while the port is still bound (a closing socket).
func newKeepAliveFrom(t *testing.T, h *netlab.Host, port uint16) *keepAlive {
	t.Helper()
	local := &net.TCPAddr{IP: net.IPv4(198, 18, 0, 100), Port: int(port)}
	var c net.Conn
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		err = h.Do(func() (err error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			d := net.Dialer{LocalAddr: local}
			c, err = d.DialContext(ctx, "tcp4", "198.18.0.254:80")
			return err
		})
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	must(t, err, fmt.Sprintf("connect to the VIP from port %d", port))
	return &keepAlive{c: c, br: bufio.NewReader(c)}
}

// closedConn makes one HTTP/1.0 request from h on a new connection and returns its local
// port and the real server that answered. The server closes first (so it holds the
// TIME_WAIT and h may reuse the port at once).
func closedConn(t *testing.T, h *netlab.Host) (uint16, string) {
	t.Helper()
	k := newKeepAlive(t, h)
	defer k.Close()
	port := k.local().Port()
	k.c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(k.c, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
	must(t, err, "request on a new connection")
	b, err := io.ReadAll(k.br)
	must(t, err, "response on a new connection")
	_, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok {
		t.Fatalf("bad response %q", b)
	}
	return port, strings.TrimSpace(body)
}

func (k *keepAlive) Close() { k.c.Close() }

func (k *keepAlive) local() netip.AddrPort { return k.c.LocalAddr().(*net.TCPAddr).AddrPort() }

// localHex is the client's address and port as /proc/net/ip_vs_conn writes them.
func (k *keepAlive) localHex() string {
	l := k.local()
	b := l.Addr().As4()
	return fmt.Sprintf("%02X%02X%02X%02X %04X", b[0], b[1], b[2], b[3], l.Port())
}

// get sends one request on the connection and returns the real server that answered.
func (k *keepAlive) get(t *testing.T) string {
	t.Helper()
	who, err := k.tryGet(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return who
}

// tryGet is get for a connection that may have broken: the error says how.
func (k *keepAlive) tryGet(timeout time.Duration) (string, error) {
	k.c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return "", fmt.Errorf("request on the kept-alive connection: %w", err)
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return "", fmt.Errorf("response on the kept-alive connection: %w", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("response %d %q: %v", resp.StatusCode, b, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// connEntry is the real server and state of the entry for the client address and port
// hex (keepAlive.localHex) in h's /proc/net/ip_vs_conn; ok is false without one.
func connEntry(t *testing.T, h *netlab.Host, hex string) (dest, state string, ok bool) {
	t.Helper()
	for _, l := range strings.Split(ipvsConns(t, h), "\n") {
		// Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires ...
		f := strings.Fields(l)
		if len(f) >= 8 && f[1]+" "+f[2] == hex {
			return f[5] + ":" + f[6], f[7], true
		}
	}
	return "", "", false
}

// sameConnEntry reports whether every host holds k's entry ESTABLISHED to one real
// server. An entry for k's address and port alone may be an earlier connection's from
// the same port: another real server, FIN_WAIT.
func sameConnEntry(t *testing.T, k *keepAlive, hosts ...*netlab.Host) bool {
	t.Helper()
	var want string
	for i, h := range hosts {
		dest, state, ok := connEntry(t, h, k.localHex())
		if !ok || state != "ESTABLISHED" || (i > 0 && dest != want) {
			return false
		}
		want = dest
	}
	return true
}

// ipvsConns is /proc/net/ip_vs_conn in h's namespace.
func ipvsConns(t *testing.T, h *netlab.Host) string {
	t.Helper()
	var b []byte
	err := h.Do(func() error {
		var err error
		b, err = os.ReadFile("/proc/thread-self/net/ip_vs_conn") // this thread is in h's namespace
		return err
	})
	must(t, err, "read /proc/net/ip_vs_conn in "+h.Name())
	return string(b)
}
