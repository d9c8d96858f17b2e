//go:build bench

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/internal/testing/vmtest"
	"github.com/vigil-lb/vigil/ipvs"
)

// TestDaemonBenchVM measures the daemon figures of docs/benchmarks.md in the VM. It runs
// only with the bench tag and VIGIL_BENCH=1 (GOFLAGS, so the VM build gets the tag too):
//
//	GOFLAGS=-tags=bench VIGIL_BENCH=1 go test -count=1 -run TestDaemonBenchVM -v ./internal/e2e | grep BENCH
func TestDaemonBenchVM(t *testing.T) {
	if !vmtest.InGuest() && os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("benchmark: set VIGIL_BENCH=1")
	}
	vmtest.Run(t, vmtest.Options{
		Binaries: map[string]string{"vigil": "github.com/vigil-lb/vigil/cmd/vigil"},
		Timeout:  20 * time.Minute,
		Memory:   2048,
	}, map[string]func(*testing.T){
		"quiesce_latency": benchQuiesceLatency,
		// run alone with VIGIL_VMTEST_RUN=scale to keep the first from loading the guest
		"scale_1000x4": benchScale,
	})
}

// benchQuiesceLatency: a backend dies -> weight 0 in the kernel, 20 trials.
func benchQuiesceLatency(t *testing.T) {
	x := newDRLab(t, 1, 2, true)
	lb := x.directors[0]
	startVigil(t, lb, "vigil", drWebConfig(2, ""))
	up := func() bool {
		w := kernelWeights(t, lb, webKey)
		return w[rsAddr(0)] == 1 && w[rsAddr(1)] == 1
	}
	waitFor(t, 30*time.Second, "both up", up)
	var took []time.Duration
	for range 20 {
		x.rs[0].Stop()
		took = append(took, waitFor(t, 30*time.Second, "rs1 quiesced", func() bool {
			return kernelWeights(t, lb, webKey)[rsAddr(0)] == 0
		}))
		x.rs[0].Start()
		waitFor(t, 30*time.Second, "rs1 back", up)
		time.Sleep(time.Duration(len(took)*37%500) * time.Millisecond) // vary the phase against the check interval
	}
	slices.Sort(took)
	bound := checkFall*checkInterval + checkTimeout
	t.Logf("BENCH quiesce_latency trials=%d min=%s median=%s p95=%s max=%s bound=%s (fall %d x interval %s + timeout %s)",
		len(took), took[0], took[len(took)/2], took[len(took)*95/100], took[len(took)-1], bound, checkFall, checkInterval, checkTimeout)
}

// benchScale: 1,000 virtual servers x 4 real servers checked every 2 s: time to program,
// reload time with nothing changed (and its writes), idle CPU and RSS.
func benchScale(t *testing.T) {
	const services, perService, basePort = 1000, 4, 10000
	raiseNoFile(t)
	l := netlab.New(t)
	lan := l.Bridge("lan")
	lb := l.Host("lb")
	l.Link(lb, "eth0", lan, pfx("198.18.0.11/24"), pfx("198.18.0.254/32"))
	for i := range perService {
		h := l.Host(fmt.Sprintf("rs%d", i+1))
		l.Link(h, "eth0", lan, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(21 + i)}), 24))
		for p := range services {
			ln, err := h.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", basePort+p))
			must(t, err, "listen")
			t.Cleanup(func() { ln.Close() })
			go acceptAndClose(ln)
		}
	}
	var cfg strings.Builder
	cfg.WriteString("global {\n  listen = \"127.0.0.1:9110\"\n  dataplane = \"kernel\"\n  resync_interval = \"1h\"\n}\n")
	for p := range services {
		fmt.Fprintf(&cfg, "virtual_server \"vs%d\" {\n  address = \"198.18.0.254:%d\"\n  protocol = \"tcp\"\n  scheduler = \"wlc\"\n  forwarding = \"nat\"\n", p, basePort+p)
		for i := range perService {
			fmt.Fprintf(&cfg, "  real_server \"rs%d\" {\n    address = \"198.18.0.%d:%d\"\n    check \"tcp\" {\n      interval = \"2s\"\n      timeout = \"1s\"\n      rise = 1\n      fall = 2\n    }\n  }\n", i+1, 21+i, basePort+p)
		}
		cfg.WriteString("}\n")
	}
	readyTimeout = 5 * time.Minute // a 750 KB file parsed and 5,000 entries programmed under TCG
	defer func() { readyTimeout = 30 * time.Second }()
	began := time.Now()
	v := startVigil(t, lb, "vigil", cfg.String())
	ready := time.Since(began)
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: lb.Path(), NoModprobe: true})
	must(t, err, "open IPVS")
	defer k.Close()
	allUp := func() bool {
		tab, err := ipvs.ReadTable(context.Background(), k)
		if err != nil || len(tab) != services {
			return false
		}
		for _, s := range tab {
			for _, d := range s.Destinations {
				if d.Weight != 1 {
					return false
				}
			}
		}
		return true
	}
	upIn := waitFor(t, 3*time.Minute, "4000 real servers up", allUp)
	t.Logf("BENCH scale programmed+ready=%s all_up_after=%s", ready, upIn)

	time.Sleep(10 * time.Second) // settle
	var durs []time.Duration
	for range 5 {
		before := v.Status()
		s := v.Reload(cfg.String())
		if ok := s.Config.LastReloadOK; ok == nil || !*ok {
			t.Fatalf("reload failed: %s", s.Config.LastReloadErr)
		}
		if n := s.IPVS.Writes - before.IPVS.Writes; n != 0 {
			t.Errorf("unchanged reload of %dx%d: %d writes, want 0", services, perService, n)
		}
		durs = append(durs, s.Config.LastReloadDuration)
	}
	slices.Sort(durs)
	t.Logf("BENCH reload_unchanged services=%d real_servers=%d median=%s min=%s max=%s writes=0", services, services*perService, durs[2], durs[0], durs[4])

	pid := v.cmd.Process.Pid
	cpu0, wall0 := cpuTicks(t, pid), time.Now()
	time.Sleep(30 * time.Second)
	cpu1, wall1 := cpuTicks(t, pid), time.Now()
	cores := float64(cpu1-cpu0) / 100 / wall1.Sub(wall0).Seconds() // CLK_TCK = 100
	t.Logf("BENCH idle services=%d real_servers=%d checks_per_s=%d cpu_cores=%.3f rss_mib=%.1f",
		services, services*perService, services*perService/2, cores, rssMiB(t, pid))
}

func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func raiseNoFile(t *testing.T) {
	lim := syscall.Rlimit{Cur: 65536, Max: 65536}
	must(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim), "raise RLIMIT_NOFILE")
}

// cpuTicks is utime+stime of pid in clock ticks (/proc/PID/stat fields 14 and 15).
func cpuTicks(t *testing.T, pid int) int64 {
	st, err := testenv.ProcStatOf(pid)
	must(t, err, "read stat")
	return int64(st.UTime + st.STime)
}

func rssMiB(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err, "read status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
