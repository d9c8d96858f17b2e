//go:build bench

package e2e

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/vmtest"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrplab"
)

// TestHAPairBenchVM measures the client-visible outage of an HA pair failover (the longest
// gap in successful new connections to the VIP) for vigil and, side by side in the same
// VM boot, keepalived (VRRP only, with vigil programming IPVS and checking the real
// servers without VRRP), at v3 / 0.1 s and v2 / 1 s. Run it with GOFLAGS=-tags=bench VIGIL_BENCH=1; see
// docs/benchmarks.md (HA pair). -ha.trials (through VIGIL_VMTEST_ARGS='-ha.trials=N', which
// reaches the guest) overrides the 10 trials per case.
func TestHAPairBenchVM(t *testing.T) {
	if !vmtest.InGuest() && os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("benchmark: run with VIGIL_BENCH=1")
	}
	vmtest.Run(t, vmtest.Options{
		Binaries:     map[string]string{"vigil": "github.com/vigil-lb/vigil/cmd/vigil"},
		HostBinaries: []string{"keepalived"},
		Files:        haExampleFiles(t),
		Timeout:      40 * time.Minute,
	}, map[string]func(*testing.T){
		"failover": benchHAFailover,
	})
}

var (
	haTrials = flag.Int("ha.trials", 10, "trials per case in TestHAPairBenchVM")
	haKinds  = flag.String("ha.kinds", strings.Join(append(slices.Clone(benchKinds), benchBaseline), ","), "comma-separated failure kinds for TestHAPairBenchVM")
	haVRRP   = flag.String("ha.vrrp", "3,2", "comma-separated VRRP versions for TestHAPairBenchVM: 3 runs v3 / 0.1 s, 2 runs v2 / 1 s")
)

// benchNode is director A or B of a pair under test.
type benchNode struct {
	host    *netlab.Host
	kill    func()
	term    func()
	restart func()
}

type benchPair struct {
	impl     string
	x        *drLab
	a, b     benchNode
	version  int
	interval time.Duration
	// cap records the adverts and gratuitous ARPs on the client's link, with kernel
	// timestamps, to split each takeover into its parts.
	cap *vrrplab.Capture
	// trace, when set, returns what B logged about its takeover since the last call.
	trace func() string
	// goOnStuck makes a trial in which B does not take the VIP within 30 s a stuck
	// trial (recorded, A put back) instead of the end of the benchmark.
	goOnStuck bool
	// out: with goOnStuck, A could not be put back after a trial (its daemon did not
	// take the VIP again within 60 s); the pair takes no further trials and the
	// benchmark reports the ones it has.
	out bool
}

var (
	benchAddrA = netip.MustParseAddr("198.18.0.11")
	benchAddrB = netip.MustParseAddr("198.18.0.12")
	benchVIP   = netip.MustParseAddr("198.18.0.254")
)

func (p *benchPair) skew() time.Duration {
	if p.version == 2 {
		return 156 * time.Second / 256 // B's priority 100
	}
	return 156 * p.interval / 256
}

type trial struct {
	takeover time.Duration // the failure to the VIP on B's interface
	gap      time.Duration
	failed   int
	ok       int
	// On the wire: wire is A's last advert before the failure to B's first advert (the
	// RFC's Master_Down_Interval after a kill); announce is B's first advert to its first
	// gratuitous ARP (adding the VIP); client is that ARP to the success that ended the
	// longest gap. Zero when not seen.
	wire, announce, client time.Duration
	// stuck: B did not take the VIP within 30 s (benchPair.goOnStuck); the other
	// fields are then not measured.
	stuck bool
}

// Failure kinds: the daemon on A stopped cleanly, killed, or A's whole machine gone (the
// daemon killed and its link down, so its kernel stops answering for the VIP too).
var benchKinds = []string{"SIGTERM", "SIGKILL", "SIGKILL + link down"}

// benchBaseline fails nothing: the longest gap the client sees anyway over the window a
// SIGKILL trial lasts, which is the noise floor of the gap measurement in this VM.
const benchBaseline = "none"

func benchHAFailover(t *testing.T) {
	trials := *haTrials
	kinds := strings.Split(*haKinds, ",")
	type key struct{ cfg, kind, impl string }
	results := map[key][]trial{}
	var configs []haTiming
	for _, v := range strings.Split(*haVRRP, ",") {
		switch v {
		case "3":
			configs = append(configs, haTiming{version: 3, interval: 100 * time.Millisecond})
		case "2":
			configs = append(configs, haTiming{version: 2, interval: time.Second})
		default:
			t.Fatalf("-ha.vrrp: unknown version %q", v)
		}
	}
	for _, tm := range configs {
		cfgName := fmt.Sprintf("v%d / %s", tm.version, tm.interval)
		for _, impl := range []string{"vigil", "keepalived"} {
			t.Run(fmt.Sprintf("v%d_%s_%s", tm.version, tm.interval, impl), func(t *testing.T) {
				p := newBenchPair(t, impl, tm)
				for i := range trials {
					for _, kind := range kinds {
						r := p.trial(t, kind)
						t.Logf("%s %s %s trial %d: takeover %s, gap %s, %d ok, %d failed; A's last advert to B's first %s, to B's GARP +%s, to the client's next success +%s",
							impl, cfgName, kind, i+1, r.takeover.Round(time.Millisecond), r.gap.Round(time.Millisecond), r.ok, r.failed,
							r.wire.Round(time.Millisecond), r.announce.Round(time.Millisecond), r.client.Round(time.Millisecond))
						k := key{cfgName, kind, impl}
						results[k] = append(results[k], r)
					}
				}
			})
		}
	}
	t.Logf("bench| | VRRP / advert | failure | target | vigil gap median [min-max] | vigil / target | keepalived gap median [min-max] | vigil / keepalived | vigil failed attempts median [max] | keepalived failed median [max] | takeover vigil / keepalived median | A's last advert to B's first, vigil / keepalived | B's advert to its GARP | GARP to the client's next success |")
	t.Logf("bench| | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, tm := range configs {
		cfgName := fmt.Sprintf("v%d / %s", tm.version, tm.interval)
		p := benchPair{version: tm.version, interval: tm.interval}
		for _, kind := range kinds {
			target := p.skew() + 50*time.Millisecond
			if kind != "SIGTERM" {
				target += 3 * tm.interval
			}
			v, k := results[key{cfgName, kind, "vigil"}], results[key{cfgName, kind, "keepalived"}]
			if len(v) == 0 || len(k) == 0 {
				continue
			}
			vg, kg := gaps(v), gaps(k)
			part := func(rs []trial, f func(trial) time.Duration) string {
				var ds []time.Duration
				for _, r := range rs {
					ds = append(ds, f(r))
				}
				return ms(median(ds))
			}
			wire := func(r trial) time.Duration { return r.wire }
			ann := func(r trial) time.Duration { return r.announce }
			cl := func(r trial) time.Duration { return r.client }
			t.Logf("bench| | %s | %s | %s | %s | %.2f | %s | %.2f | %d [%d] | %d [%d] | %s / %s | %s / %s | %s / %s | %s / %s |", cfgName, kind, ms(target),
				spread(vg), float64(median(vg))/float64(target), spread(kg), float64(median(vg))/float64(median(kg)),
				medianInt(v, func(r trial) int { return r.failed }), maxInt(v, func(r trial) int { return r.failed }),
				medianInt(k, func(r trial) int { return r.failed }), maxInt(k, func(r trial) int { return r.failed }),
				ms(median(takeovers(v))), ms(median(takeovers(k))),
				part(v, wire), part(k, wire), part(v, ann), part(k, ann), part(v, cl), part(k, cl))
		}
	}
}

// gaps are the gaps of rs's trials that were not stuck.
func gaps(rs []trial) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		if !r.stuck {
			out = append(out, r.gap)
		}
	}
	return out
}

func takeovers(rs []trial) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		if !r.stuck {
			out = append(out, r.takeover)
		}
	}
	return out
}

// measured are rs's trials that were not stuck.
func measured(rs []trial) []trial {
	var out []trial
	for _, r := range rs {
		if !r.stuck {
			out = append(out, r)
		}
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func spread(ds []time.Duration) string {
	return fmt.Sprintf("%s [%s-%s]", ms(median(ds)), ms(slices.Min(ds)), ms(slices.Max(ds)))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func medianInt(rs []trial, f func(trial) int) int {
	var s []int
	for _, r := range rs {
		s = append(s, f(r))
	}
	slices.Sort(s)
	return s[len(s)/2]
}

func maxInt(rs []trial, f func(trial) int) int {
	m := 0
	for _, r := range rs {
		m = max(m, f(r))
	}
	return m
}

// stripVRRP removes the vrrp_instance block from an example: vigil then only programs
// IPVS and checks, and keepalived moves the VIP.
func stripVRRP(t testing.TB, s string) string {
	t.Helper()
	i := strings.Index(s, "vrrp_instance \"VI_1\" {")
	j := strings.Index(s[i:], "\n}\n")
	if i < 0 || j < 0 {
		t.Fatalf("example has no vrrp_instance block")
	}
	return s[:i] + s[i+j+3:]
}

func newBenchPair(t *testing.T, impl string, tm haTiming) *benchPair {
	t.Helper()
	p := &benchPair{impl: impl, version: tm.version, interval: tm.interval}
	if impl == "vigil" {
		hp := newHAPair(t, tm)
		p.x = hp.x
		p.a = benchNode{host: hp.x.directors[0], kill: hp.a.Kill, restart: hp.a.Restart,
			term: func() { hp.a.Signal(syscall.SIGTERM); hp.a.Wait(15 * time.Second) }}
		p.b = benchNode{host: hp.x.directors[1]}
		hp.waitRoles(t, hp.a, hp.b, 60*time.Second)
	} else {
		x := newDRLab(t, 2, 2, false)
		p.x = x
		startVigil(t, x.directors[0], "vigil-a", stripVRRP(t, exampleConfig(t, "director-a.hcl", tm)))
		startVigil(t, x.directors[1], "vigil-b", stripVRRP(t, exampleConfig(t, "director-b.hcl", tm)))
		kl := &vrrplab.Lab{T: t, Net: x.lab, D1: x.directors[0], D2: x.directors[1], Client: x.client, Dir: t.TempDir()}
		kc := func(prio uint8) vrrplab.KeepalivedConfig {
			return vrrplab.KeepalivedConfig{Priority: prio, Version: tm.version, Interval: tm.interval}
		}
		ka := kl.StartKeepalived(x.directors[0], kc(150))
		kl.StartKeepalived(x.directors[1], kc(100))
		p.a = benchNode{host: x.directors[0],
			kill:    func() { ka.Kill() },
			term:    func() { ka.Term(); ka.Wait(15 * time.Second) },
			restart: func() { ka = kl.StartKeepalived(x.directors[0], kc(150)) }}
		p.b = benchNode{host: x.directors[1]}
	}
	p.cap = (&vrrplab.Lab{T: t}).Capture(p.x.client)
	bothUp(t, 30*time.Second, p.x.directors...)
	poll(t, 60*time.Second, "A holds the VIP, B not", func() bool { return hasVIP(t, p.a.host) && !hasVIP(t, p.b.host) })
	time.Sleep(3*tm.interval + 500*time.Millisecond)
	return p
}

// trial fails A in the given way while the client connects, and puts A back afterwards.
func (p *benchPair) trial(t *testing.T, kind string) trial {
	t.Helper()
	loop := startConnectLoopEvery(p.x.client, 20*time.Millisecond, 500*time.Millisecond)
	// The failure lands at a random point of A's advert interval. Without this, the fixed
	// sleeps after A takes the VIP back put every failure at the same phase of A's
	// advert timer, and the time from A's last advert to the failure (which the takeover
	// does not have to wait for) would differ between implementations by their order of
	// advert and VIP add rather than by anything they do at failover.
	time.Sleep(300*time.Millisecond + rand.N(p.interval))
	bHas := make(chan time.Time, 1)
	stopWatch := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			if hasVIP(t, p.b.host) {
				bHas <- time.Now()
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if kind == benchBaseline {
		time.Sleep(3*p.interval + p.skew() + max(500*time.Millisecond, 2*p.interval))
		close(stopWatch)
		r := loop.Stop()
		return trial{gap: r.Gap, failed: r.Failed, ok: r.OK}
	}
	t0 := time.Now()
	switch kind {
	case "SIGTERM":
		p.a.term()
	case "SIGKILL":
		p.a.kill()
	case "SIGKILL + link down":
		must(t, p.a.host.SetLinkDown("eth0"), "A's link down")
		p.a.kill()
	}
	var took time.Duration
	select {
	case at := <-bHas:
		took = at.Sub(t0)
	case <-time.After(30 * time.Second):
		close(stopWatch)
		loop.Stop()
		if !p.goOnStuck {
			t.Fatalf("%s %s: B did not take the VIP within 30s", p.impl, kind)
		}
		t.Logf("%s %s: B did not take the VIP within 30s: a stuck trial; A is put back and the benchmark goes on", p.impl, kind)
		p.restore(t, kind)
		return trial{stuck: true}
	}
	time.Sleep(max(500*time.Millisecond, 2*p.interval))
	r := loop.Stop()

	tr := trial{takeover: took, gap: r.Gap, failed: r.Failed, ok: r.OK}
	firstB, okB := p.cap.FirstAdvertAfter(benchAddrB, t0)
	if okB {
		// A may still advertise between t0 and its link going down.
		if lastA, ok := p.cap.LastAdvertBefore(benchAddrA, firstB.T); ok {
			tr.wire = firstB.T.Sub(lastA.T)
		}
	}
	if okB {
		if g, ok := p.cap.FirstGARPAfter(benchVIP, firstB.T); ok {
			tr.announce = g.T.Sub(firstB.T)
			if r.GapEnd.After(g.T) {
				tr.client = r.GapEnd.Sub(g.T)
			}
		}
	}

	p.restore(t, kind)
	return tr
}

// restore puts A back after a trial of kind and waits until it holds the VIP again.
func (p *benchPair) restore(t *testing.T, kind string) {
	t.Helper()
	if kind == "SIGKILL + link down" {
		must(t, p.a.host.SetLinkUp("eth0"), "A's link up")
	}
	p.a.restart()
	back := func() bool { return hasVIP(t, p.a.host) && !hasVIP(t, p.b.host) }
	if !p.goOnStuck {
		poll(t, 60*time.Second, "A holds the VIP again, B not", back)
	} else if !pollFor(60*time.Second, back) {
		t.Errorf("%s: A does not hold the VIP again 60 s after its restart (B not): the pair takes no more trials", p.impl)
		p.out = true
		return
	}
	time.Sleep(3*p.interval + 300*time.Millisecond) // B hears A's adverts again
}
