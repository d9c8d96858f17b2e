//go:build bench

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/internal/testing/vmtest"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrplab"
)

// TestHAWholeBenchVM measures the dead-director takeover when each implementation is the
// whole director: vigil running examples/ha-pair as it is (VRRP, IPVS and HTTP checks)
// against keepalived doing VRRP and LVS itself (HTTP_GET checks, inhibit_on_failure), in
// the DR pair topology of TestHAPairBenchVM, v3 / 0.1 s, A's daemon killed and its link
// down. Both pairs run at once on their own bridges and their trials alternate (one of
// each per round, keepalived first or last by turns), so that both see the same load. Run it
// with GOFLAGS=-tags=bench VIGIL_BENCH=1; see docs/benchmarks.md (whole director).
// -ha.trials sets the rounds. VIGIL_HA_BEFORE=path (an earlier static vigil build) makes
// the vigil pair run that build too, by turns in every round, for a before/after in one
// boot (a third pair at once overloads the 2-vCPU guest: checks time out).
func TestHAWholeBenchVM(t *testing.T) {
	if !vmtest.InGuest() && os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("benchmark: run with VIGIL_BENCH=1")
	}
	files := haExampleFiles(t)
	if b := os.Getenv("VIGIL_HA_BEFORE"); b != "" && !vmtest.InGuest() {
		files[haBeforeBin] = b
	}
	vmtest.Run(t, vmtest.Options{
		Binaries:     map[string]string{"vigil": "github.com/vigil-lb/vigil/cmd/vigil"},
		HostBinaries: []string{"keepalived"},
		Files:        files,
		Timeout:      40 * time.Minute,
	}, map[string]func(*testing.T){
		"whole": benchHAWhole,
	})
}

const wholeKind = "SIGKILL + link down"

// haBeforeBin is where VIGIL_HA_BEFORE's binary lands in the guest.
const haBeforeBin = "/vigil-before"

func benchHAWhole(t *testing.T) {
	tm := haTiming{version: 3, interval: 100 * time.Millisecond}
	bins := []wholeBin{{"vigil", "vigil"}}
	if _, err := os.Stat(haBeforeBin); err == nil {
		bins = append(bins, wholeBin{"vigil before", haBeforeBin})
	}
	vp := newWholeVigilPair(t, bins, tm)
	kp := newWholeKeepalivedPair(t, tm)
	vp.pair.goOnStuck, kp.goOnStuck = true, true
	results := map[string][]trial{}
	run := func(p *benchPair, i int) {
		if p.out {
			return
		}
		r := p.trial(t, wholeKind)
		if r.stuck {
			t.Logf("%s whole director trial %d: stuck (B did not take the VIP within 30 s)", p.impl, i+1)
			results[p.impl] = append(results[p.impl], r)
			return
		}
		t.Logf("%s whole director trial %d: takeover %s, gap %s, %d ok, %d failed; A's last advert to B's first %s, to B's GARP +%s, to the client's next success +%s",
			p.impl, i+1, r.takeover.Round(time.Millisecond), r.gap.Round(time.Millisecond), r.ok, r.failed,
			r.wire.Round(time.Millisecond), r.announce.Round(time.Millisecond), r.client.Round(time.Millisecond))
		if p.trace != nil {
			if s := p.trace(); s != "" {
				t.Logf("%s trace: %s", p.impl, s)
			}
		}
		results[p.impl] = append(results[p.impl], r)
	}
	for i := range *haTrials {
		// Each round: keepalived and every vigil build once, keepalived first or last by
		// turns; the vigil pair swaps builds between its trials (A restarts with the next
		// build as every trial restarts it; B is swapped while A is master).
		if i%2 == 0 {
			run(kp, i)
		}
		for range bins {
			vp.prepare()
			run(vp.pair, i)
			vp.next(t)
		}
		if i%2 == 1 {
			run(kp, i)
		}
	}
	v, k := results["vigil"], results["keepalived"]
	vg, kg := gaps(v), gaps(k)
	rows := []string{"vigil", "keepalived"}
	if len(results["vigil before"]) > 0 {
		rows = append(rows, "vigil before")
	}
	part := func(rs []trial, f func(trial) time.Duration) string {
		var ds []time.Duration
		for _, r := range rs {
			ds = append(ds, f(r))
		}
		return ms(median(ds))
	}
	t.Logf("bench| | implementation | stuck trials | gap median [min-max] | gap p90 | failed median [max] | takeover median | A's last advert to B's first | B's advert to its GARP | GARP to the client's next success |")
	t.Logf("bench| | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, name := range rows {
		all := results[name]
		rs := measured(all)
		if len(rs) == 0 {
			t.Logf("bench| | %s | %d of %d | - | - | - | - | - | - | - |", name, len(all), len(all))
			continue
		}
		t.Logf("bench| | %s | %d of %d | %s | %s | %d [%d] | %s | %s | %s | %s |", name, len(all)-len(rs), len(all), spread(gaps(rs)), ms(quantile(gaps(rs), 0.9)),
			medianInt(rs, func(r trial) int { return r.failed }), maxInt(rs, func(r trial) int { return r.failed }),
			ms(median(takeovers(rs))),
			part(rs, func(r trial) time.Duration { return r.wire }),
			part(rs, func(r trial) time.Duration { return r.announce }),
			part(rs, func(r trial) time.Duration { return r.client }))
	}
	if len(vg) == 0 || len(kg) == 0 {
		t.Logf("bench| vigil / keepalived: no ratio, every trial of one side was stuck")
		return
	}
	t.Logf("bench| vigil / keepalived: gap median %.2f, worst %.2f (%d rounds; stuck trials left out, counted above)",
		float64(median(vg))/float64(median(kg)), float64(slices.Max(vg))/float64(slices.Max(kg)), len(v))
	if bg := gaps(results["vigil before"]); len(bg) > 0 {
		t.Logf("bench| vigil before / keepalived: gap median %.2f, worst %.2f", float64(median(bg))/float64(median(kg)), float64(slices.Max(bg))/float64(slices.Max(kg)))
	}
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// keepalivedWholeConf is keepalived doing what examples/ha-pair/director-X.hcl does: the
// VRRP instance (the example's VRID, priority, VIP; the bench's version and interval), the
// IPVS sync daemon on eth0 following it, and the virtual server with an HTTP_GET check per
// real server at the bench's check timings (1 s, 800 ms, fall 2 = one retry), a failed
// server kept at weight 0 (inhibit_on_failure, as vigil does). lvs_flush clears the
// table a killed predecessor left, as vigil's start does. vrrp_rt_priority and
// checker_rt_priority 10 match vigil's default (the whole daemon at SCHED_RR 10): without
// them keepalived's adverts starve in the loaded guest and the pair flaps. Their
// rlimit_rttime is raised from keepalived's 10 ms of CPU without a block to 1 s: in the
// loaded TCG guest the checker child ran past 10 ms, was killed (SIGKILL from
// RLIMIT_RTTIME, "has rlimit_rttime been exceeded?") and respawned with growing delays,
// and A never got the VIP back (2026-12-03, two runs); vigil at SCHED_RR has no such
// limit.
func keepalivedWholeConf(name string, prio int, tm haTiming) string {
	var rs strings.Builder
	for i := range 2 {
		fmt.Fprintf(&rs, `    real_server %s 80 {
        weight 1
        inhibit_on_failure
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 0.8
            retry 1
            delay_before_retry 1
        }
    }
`, rsAddr(i).Addr())
	}
	return fmt.Sprintf(`global_defs {
    router_id %s
    vrrp_version %d
    lvs_flush
    lvs_sync_daemon eth0 VI_1 id 51
    vrrp_rt_priority 10
    checker_rt_priority 10
    vrrp_rlimit_rttime 1000000
    checker_rlimit_rttime 1000000
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int %s
    virtual_ipaddress {
        198.18.0.254/24
    }
}
virtual_server 198.18.0.254 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
%s}
`, name, tm.version, prio, fmt.Sprint(tm.interval.Seconds()), rs.String())
}

// wholeKeepalived is one keepalived (parent, VRRP and checker children) in a namespace,
// killed as a machine dies: every process of its group at once.
type wholeKeepalived struct {
	t    *testing.T
	host *netlab.Host
	conf string
	dir  string
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
}

func startWholeKeepalived(t *testing.T, h *netlab.Host, conf string) *wholeKeepalived {
	t.Helper()
	k := &wholeKeepalived{t: t, host: h, dir: t.TempDir(), out: &testenv.Buffer{}}
	k.conf = filepath.Join(k.dir, "keepalived.conf")
	must(t, os.WriteFile(k.conf, []byte(conf), 0o644), "write keepalived.conf")
	k.start()
	t.Cleanup(func() {
		k.kill()
		if t.Failed() {
			t.Logf("keepalived on %s:\n%s", h.Name(), k.out.String())
		}
	})
	return k
}

func (k *wholeKeepalived) start() {
	k.t.Helper()
	k.cmd = k.host.Command(context.Background(), "keepalived", "-n", "-l", "-D", "-G", "-f", k.conf,
		"-p", filepath.Join(k.dir, "keepalived.pid"), "-r", filepath.Join(k.dir, "vrrp.pid"),
		"-c", filepath.Join(k.dir, "checkers.pid"), "-b", filepath.Join(k.dir, "bfd.pid"))
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(k.t, k.cmd.Start(), "start keepalived in "+k.host.Name())
	k.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(k.cmd, k.done)
}

func (k *wholeKeepalived) kill() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		k.t.Errorf("keepalived on %s did not exit after SIGKILL", k.host.Name())
	}
	// The children may outlive the parent's exit by a moment.
	for range 100 {
		if syscall.Kill(-k.cmd.Process.Pid, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newWholeKeepalivedPair is the keepalived side: the same lab as the vigil pair, with
// keepalived as the whole director on A and B.
func newWholeKeepalivedPair(t *testing.T, tm haTiming) *benchPair {
	t.Helper()
	x := newDRLab(t, 2, 2, false)
	p := &benchPair{impl: "keepalived", x: x, version: tm.version, interval: tm.interval}
	ka := startWholeKeepalived(t, x.directors[0], keepalivedWholeConf("director-a", 150, tm))
	startWholeKeepalived(t, x.directors[1], keepalivedWholeConf("director-b", 100, tm))
	p.a = benchNode{host: x.directors[0], kill: ka.kill, restart: ka.start,
		term: func() { ka.cmd.Process.Signal(syscall.SIGTERM); <-ka.done }}
	p.b = benchNode{host: x.directors[1]}
	p.cap = (&vrrplab.Lab{T: t}).Capture(x.client)
	bothUp(t, 60*time.Second, x.directors...)
	poll(t, 60*time.Second, "A holds the VIP, B not", func() bool { return hasVIP(t, p.a.host) && !hasVIP(t, p.b.host) })
	time.Sleep(3*tm.interval + 500*time.Millisecond)
	return p
}

// wholeBin is a vigil build under test: its name in the results and its binary.
type wholeBin struct{ impl, bin string }

// wholeVigil is the vigil pair, which runs its builds by turns.
type wholeVigil struct {
	pair   *benchPair
	x      *drLab
	tm     haTiming
	bins   []wholeBin
	cur    int
	a, b   *vigil
	hp     *haPair
	seen   int
	config map[string]string
}

func (w *wholeVigil) start(t *testing.T, h *netlab.Host, name string) *vigil {
	t.Helper()
	v := &vigil{t: t, name: name, host: h, dir: t.TempDir(), log: &syncBuffer{}}
	v.cfg = filepath.Join(v.dir, "vigil.hcl")
	must(t, os.WriteFile(v.cfg, []byte(w.config[name]), 0o600), "write config")
	v.argv = []string{w.bins[w.cur].bin, "run", "-f", v.cfg, "--pid-file", filepath.Join(v.dir, "vigil.pid")}
	return launch(t, v)
}

// prepare makes the trial's restart of A start the next build.
func (w *wholeVigil) prepare() {
	w.a.argv[0] = w.bins[(w.cur+1)%len(w.bins)].bin
}

// next moves the pair to the next build: A runs it since the trial restarted it, and B
// is swapped while A is master.
func (w *wholeVigil) next(t *testing.T) {
	t.Helper()
	if len(w.bins) == 1 {
		return
	}
	w.cur = (w.cur + 1) % len(w.bins)
	w.pair.impl = w.bins[w.cur].impl
	bin := w.bins[w.cur].bin
	if w.b.argv[0] != bin {
		w.b.Kill()
		w.b.argv[0] = bin
		w.seen = 0
		w.b.log = &syncBuffer{}
		w.b.start()
	}
	w.hp.waitRoles(t, w.a, w.b, 60*time.Second)
	bothUp(t, 60*time.Second, w.x.directors...)
	time.Sleep(3*w.tm.interval + 500*time.Millisecond)
}

// newWholeVigilPair is the vigil pair, running examples/ha-pair as the HA bench changes
// it, first as bins[0]; its trace is what B logged about taking the VIP.
func newWholeVigilPair(t *testing.T, bins []wholeBin, tm haTiming) *wholeVigil {
	t.Helper()
	w := &wholeVigil{x: newDRLab(t, 2, 2, false), tm: tm, bins: bins, config: map[string]string{
		"director-a": exampleConfig(t, "director-a.hcl", tm),
		"director-b": exampleConfig(t, "director-b.hcl", tm),
	}}
	w.a = w.start(t, w.x.directors[0], "director-a")
	w.b = w.start(t, w.x.directors[1], "director-b")
	w.hp = &haPair{x: w.x, a: w.a, b: w.b, interval: tm.interval, version: tm.version}
	p := &benchPair{impl: bins[0].impl, x: w.x, version: tm.version, interval: tm.interval}
	p.a = benchNode{host: w.x.directors[0], kill: func() { w.a.Kill() }, restart: func() { w.a.start() },
		term: func() { w.a.Signal(syscall.SIGTERM); w.a.Wait(15 * time.Second) }}
	p.b = benchNode{host: w.x.directors[1]}
	p.trace = func() string {
		all := w.b.log.String()
		fresh := all[min(w.seen, len(all)):]
		w.seen = len(all)
		var lines []string
		for _, l := range strings.Split(fresh, "\n") {
			if strings.Contains(l, "took the virtual addresses") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "; ")
	}
	w.pair = p
	w.hp.waitRoles(t, w.a, w.b, 60*time.Second)
	p.cap = (&vrrplab.Lab{T: t}).Capture(w.x.client)
	bothUp(t, 60*time.Second, w.x.directors...)
	poll(t, 60*time.Second, "A holds the VIP, B not", func() bool { return hasVIP(t, p.a.host) && !hasVIP(t, p.b.host) })
	time.Sleep(3*tm.interval + 500*time.Millisecond)
	return w
}
