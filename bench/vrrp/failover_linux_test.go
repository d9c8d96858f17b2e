//go:build bench

// vrrpbench measures VRRP failover time and robustness of vigil beside
// keepalived in network namespaces. It builds only with the bench tag and runs with VIGIL_BENCH=1 (as root):
//
//	GOFLAGS=-tags=bench VIGIL_BENCH=1 go test -v -timeout 60m ./bench/vrrp/
//
// VIGIL_BENCH_TRIALS (default 10), VIGIL_BENCH_V2_TRIALS (default the same), VIGIL_BENCH_NICE,
// VIGIL_BENCH_LOAD (default 5m) and VIGIL_BENCH_OUT (a file for the markdown tables)
// tune it.
package vrrpbench

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp/fsm"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrpd"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrplab"
)

func TestMain(m *testing.M) {
	vrrpd.MaybeRun()
	if os.Getenv("VRRPBENCH_SPIN") != "" {
		for {
		}
	}
	os.Exit(m.Run())
}

func gate(t *testing.T) {
	if os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("benchmark: set VIGIL_BENCH=1")
	}
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "keepalived")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

var (
	outMu sync.Mutex
	out   strings.Builder
)

func report(t *testing.T, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	outMu.Lock()
	out.WriteString(line + "\n")
	if p := os.Getenv("VIGIL_BENCH_OUT"); p != "" {
		os.WriteFile(p, []byte(out.String()), 0o644)
	}
	outMu.Unlock()
}

type failure int

const (
	sigterm failure = iota
	sigkill
	linkDown
)

func (f failure) String() string { return [...]string{"SIGTERM", "SIGKILL", "link down"}[f] }

// pair runs d1 (priority 150) and d2 (100) of one implementation in a lab.
type pair struct {
	t        *testing.T
	lab      *vrrplab.Lab
	cap      *vrrplab.Capture
	vigil    bool
	version  int
	interval time.Duration
	d1, d2   *vrrplab.Daemon
	nice     int // for both implementations; 0: default
	rt       int // SCHED_RR priority for both; 0: none
}

func (p *pair) start(name string, prio uint8) *vrrplab.Daemon {
	h := p.lab.Director(name)
	if p.vigil {
		return p.lab.StartVigil(h, vrrplab.VigilConfig(name, prio, p.version, p.interval))
	}
	return p.lab.StartKeepalived(h, vrrplab.KeepalivedConfig{Priority: prio, Version: p.version, Interval: p.interval, Nice: p.nice, RTPriority: p.rt})
}

func (p *pair) settled() {
	mdi := fsm.MasterDownInterval(p.version, 100, p.interval)
	vrrplab.WaitFor(p.t, 2*mdi+20*time.Second, "d1 alone holding the VIP", func() bool {
		h := p.lab.Holders()
		return len(h) == 1 && h[0] == "d1"
	})
	// Let d2 hear a few adverts so that its down timer runs from a fresh advert.
	time.Sleep(3*p.interval + 200*time.Millisecond)
}

// trial fails d1 and returns the time from the failure to d2's first advert on the wire,
// and from d1's last advert before the failure to that advert (the Master_Down_Interval
// the backup actually ran).
func (p *pair) trial(f failure) (time.Duration, time.Duration, error) {
	p.settled()
	// A random phase within the advert interval: otherwise the failure would fall at
	// the same point of the master's cycle in every trial and bias the medians.
	time.Sleep(time.Duration(rand.Int64N(int64(p.interval))))
	t0 := time.Now()
	switch f {
	case sigterm:
		p.d1.Term()
	case sigkill:
		p.d1.Kill()
	case linkDown:
		if err := p.lab.D1.SetLinkDown("eth0"); err != nil {
			return 0, 0, err
		}
	}
	mdi := fsm.MasterDownInterval(p.version, 100, p.interval)
	deadline := time.Now().Add(mdi + 10*time.Second)
	var took, sinceLast time.Duration
	for {
		if fr, ok := p.cap.FirstAdvertAfter(vrrplab.D2Addr.Addr(), t0); ok {
			took = fr.T.Sub(t0)
			var last time.Time
			for _, g := range p.cap.Frames() {
				if g.VRRP && g.Src == vrrplab.D1Addr.Addr() && g.Prio > 0 && g.T.Before(t0) {
					last = g.T
				}
			}
			sinceLast = fr.T.Sub(last)
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("no advert from d2 within %v of %v", mdi+10*time.Second, f)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Restore d1 as master.
	switch f {
	case sigterm, sigkill:
		p.d1.Kill()
		// A crashed master leaves its VIP behind, as a real crash would.
		p.lab.D1.Handle().AddrDel(mustLink(p.t, p.lab.D1), vipAddr())
		p.d1 = p.start("d1", 150)
	case linkDown:
		if err := p.lab.D1.SetLinkUp("eth0"); err != nil {
			return 0, 0, err
		}
	}
	return took, sinceLast, nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func sec(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

func summary(d []time.Duration) string {
	if len(d) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s [%s-%s] n=%d", sec(median(d)), sec(slices.Min(d)), sec(slices.Max(d)), len(d))
}

// TestFailover measures failover time for vigil and keepalived, interleaving the two
// implementations trial by trial so that both see the same machine noise.
func TestFailover(t *testing.T) {
	gate(t)
	trials := envInt("VIGIL_BENCH_TRIALS", 10)
	rows := []struct {
		version  int
		interval time.Duration
		trials   int
		peer     bool
	}{
		{3, 100 * time.Millisecond, trials, true},
		{3, 10 * time.Millisecond, trials, false},
		{2, time.Second, envInt("VIGIL_BENCH_V2_TRIALS", trials), true},
	}
	report(t, "| VRRP / advert | failure | RFC bound (skew; 3 x int + skew) | vigil median [min-max] s | keepalived median [min-max] s | vigil / keepalived | d1's last advert to d2's first: vigil / keepalived median s |")
	report(t, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, row := range rows {
		impls := []bool{true}
		if row.peer {
			impls = append(impls, false)
		}
		pairs := map[bool]*pair{}
		for _, vigil := range impls {
			lab := vrrplab.New(t)
			p := &pair{t: t, lab: lab, cap: lab.Capture(lab.Client), vigil: vigil, version: row.version, interval: row.interval}
			p.d1 = p.start("d1", 150)
			p.d2 = p.start("d2", 100)
			pairs[vigil] = p
		}
		for _, f := range []failure{sigterm, sigkill, linkDown} {
			res, gap := map[bool][]time.Duration{}, map[bool][]time.Duration{}
			for i := 0; i < row.trials; i++ {
				for _, vigil := range impls {
					d, g, err := pairs[vigil].trial(f)
					if err != nil {
						t.Errorf("v%d/%v %v vigil=%v trial %d: %v", row.version, row.interval, f, vigil, i, err)
						continue
					}
					res[vigil] = append(res[vigil], d)
					gap[vigil] = append(gap[vigil], g)
				}
			}
			bound := fsm.MasterDownInterval(row.version, 100, row.interval)
			if f == sigterm {
				bound = fsm.SkewTime(row.version, 100, row.interval)
			}
			kv, ratio := "not run", ""
			if row.peer {
				kv = summary(res[false])
				if m := median(res[false]); m > 0 {
					ratio = fmt.Sprintf("%.2f", float64(median(res[true]))/float64(m))
				}
			}
			gaps := "-"
			if f != sigterm {
				gaps = sec(median(gap[true]))
				if row.peer {
					gaps += " / " + sec(median(gap[false]))
				}
			}
			report(t, "| v%d / %v | %v | %s | %s | %s | %s | %s |", row.version, row.interval, f, sec(bound), summary(res[true]), kv, ratio, gaps)
		}
		for _, p := range pairs {
			p.d1.Kill()
			p.d2.Kill()
		}
	}
}

// TestStarvation runs a vigil pair and a keepalived pair at v3 / 0.1 s side by side
// while 4 busy processes saturate both cores, and counts transitions after settling
// (every one is spurious: nothing fails) and samples with other than one VIP holder.
func TestStarvation(t *testing.T) {
	gate(t)
	dur := 5 * time.Minute
	if v, err := time.ParseDuration(os.Getenv("VIGIL_BENCH_LOAD")); err == nil {
		dur = v
	}
	// VIGIL_BENCH_NICE runs both implementations at that nice value (vigil through
	// vrrp.SetNice, keepalived through vrrp_priority).
	nice, _ := strconv.Atoi(os.Getenv("VIGIL_BENCH_NICE"))
	if nice != 0 {
		t.Setenv(vrrpd.EnvNice, strconv.Itoa(nice))
	}
	// VIGIL_BENCH_RT runs both at SCHED_RR with that priority (vrrp.SetRealtime,
	// keepalived's vrrp_rt_priority).
	rt, _ := strconv.Atoi(os.Getenv("VIGIL_BENCH_RT"))
	if rt != 0 {
		t.Setenv(vrrpd.EnvRT, strconv.Itoa(rt))
	}
	const iv = 100 * time.Millisecond
	pairs := map[bool]*pair{}
	for _, vigil := range []bool{true, false} {
		lab := vrrplab.New(t)
		p := &pair{t: t, lab: lab, vigil: vigil, version: 3, interval: iv, nice: nice, rt: rt}
		p.d1 = p.start("d1", 150)
		p.d2 = p.start("d2", 100)
		pairs[vigil] = p
	}
	for _, p := range pairs {
		p.settled()
	}
	self, _ := os.Executable()
	var spinners []*exec.Cmd
	for range 4 {
		c := exec.Command(self)
		c.Env = append(os.Environ(), "VRRPBENCH_SPIN=1")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		spinners = append(spinners, c)
	}
	defer func() {
		for _, c := range spinners {
			c.Process.Kill()
			c.Wait()
		}
	}()
	before := map[bool][2]int{}
	for vigil, p := range pairs {
		before[vigil] = [2]int{transitions(p.d1), transitions(p.d2)}
	}
	bad := map[bool]int{}
	samples := 0
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		samples++
		for vigil, p := range pairs {
			if len(p.lab.Holders()) != 1 {
				bad[vigil]++
			}
		}
	}
	for _, vigil := range []bool{true, false} {
		p := pairs[vigil]
		n := transitions(p.d1) - before[vigil][0] + transitions(p.d2) - before[vigil][1]
		name := "keepalived"
		if vigil {
			name = "vigil"
		}
		report(t, "| v3 / 0.1 s, 4 busy processes on 2 cores, %v, nice %d, SCHED_RR %d | %s | spurious transitions: %d | samples without exactly one VIP holder: %d of %d |", dur, nice, rt, name, n, bad[vigil], samples)
	}
}

// transitions counts state changes so far: vigil's status counter, or keepalived's
// "Entering ... STATE" log lines.
func transitions(d *vrrplab.Daemon) int {
	if d.Keepalived {
		return strings.Count(d.Output(), "Entering ")
	}
	s, err := d.Status()
	if err != nil {
		return -1
	}
	return int(s.Transitions)
}

func mustLink(t *testing.T, h *netlab.Host) netlink.Link {
	t.Helper()
	l, err := h.Handle().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func vipAddr() *netlink.Addr {
	p := vrrplab.VIP
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
}
