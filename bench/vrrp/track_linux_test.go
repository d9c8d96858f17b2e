//go:build bench

package vrrpbench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrplab"
)

// TestScriptFailover measures issue 16's figure: the time from a tracked script's
// failure to the peer's first advert as master. d1 runs the tracking master at priority
// 150 with a vrrp_script (weight -60, interval 1 s, rise 2, fall 2), either `vigil run`
// or keepalived with the same script; d2 runs keepalived at 100 in every trial, so only
// the tracking master differs. Blocks of trials alternate between the two in one run.
//
// The script logs the start of every run with its verdict, so the failure's time is the
// start of its first failing run, and the test removes the script's flag right after a
// passing run, so every trial starts at the same phase of the script's schedule. The end
// is d2's first advert with a non-zero priority in a capture in the client's namespace.
//
//	GOFLAGS=-tags=bench VIGIL_BENCH=1 go test -v -run TestScriptFailover ./bench/vrrp/
func TestScriptFailover(t *testing.T) {
	gate(t)
	trials := envInt("VIGIL_BENCH_TRIALS", 10)
	block := envInt("VIGIL_BENCH_BLOCK", 5)
	lab := vrrplab.New(t)
	capt := lab.Capture(lab.Client)
	bin := vrrplab.BuildVigil(t)
	dir := t.TempDir()
	flag, script := filepath.Join(dir, "ok"), filepath.Join(dir, "chk.sh")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
t=$(date +%s%N)
if [ -e `+flag+` ]; then echo "$t 0" >> "$CHK_LOG"; exit 0; fi
echo "$t 1" >> "$CHK_LOG"
exit 1
`), 0o755); err != nil {
		t.Fatal(err)
	}
	lab.StartKeepalived(lab.D2, vrrplab.KeepalivedConfig{Priority: 100, Version: 3, Interval: 100 * time.Millisecond})

	// Each implementation's script gets its own log through a wrapper that sets CHK_LOG
	// (vigil gives a vrrp_script only PATH; keepalived its own environment).
	wrapper := func(log string) string {
		p := filepath.Join(dir, filepath.Base(log)+".sh")
		os.WriteFile(p, []byte("#!/bin/sh\nCHK_LOG="+log+" exec "+script+"\n"), 0o755)
		return p
	}
	startD1 := func(vigil bool, log string) *vrrplab.Daemon {
		w := wrapper(log)
		if vigil {
			return lab.StartVigilRun(lab.D1, bin, vrrplab.VigilRunConfig(fmt.Sprintf(`vrrp_script "chk" {
  command  = [%q]
  interval = "1s"
  rise     = 2
  fall     = 2
  weight   = -60
}`, w), fmt.Sprintf("[%q]", vrrplab.VIP), `  handover = false
  track_script "chk" {}`))
		}
		return lab.StartKeepalivedConf(lab.D1, fmt.Sprintf(`global_defs {
    router_id d1
    vrrp_version 3
    script_user root
}
vrrp_script chk {
    script "%s"
    interval 1
    rise 2
    fall 2
    weight -60
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.1
    virtual_ipaddress {
        %s
    }
    track_script {
        chk
    }
}
`, w, vrrplab.VIP))
	}
	holds := func(want string) func() bool {
		return func() bool { h := lab.Holders(); return len(h) == 1 && h[0] == want }
	}

	results := map[bool][]time.Duration{}  // from the first failing run's start
	reaction := map[bool][]time.Duration{} // from the fall-th failing run's start
	for b := 0; len(results[true]) < trials || len(results[false]) < trials; b++ {
		vigil := b%2 == 0
		if len(results[vigil]) >= trials {
			continue
		}
		log := filepath.Join(dir, fmt.Sprintf("runs-%d", b))
		if err := os.WriteFile(flag, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		d1 := startD1(vigil, log)
		for i := 0; i < block && len(results[vigil]) < trials; i++ {
			vrrplab.WaitFor(t, 30*time.Second, "d1 master", holds("d1"))
			time.Sleep(1500 * time.Millisecond) // two passing runs: the script is settled
			// Fail right after a passing run, at the same phase of the schedule each time.
			n := len(readRuns(t, log))
			vrrplab.WaitFor(t, 5*time.Second, "a passing run", func() bool { r := readRuns(t, log); return len(r) > n && !r[len(r)-1].failed })
			if err := os.Remove(flag); err != nil {
				t.Fatal(err)
			}
			removed := time.Now()
			var adv vrrplab.Frame
			vrrplab.WaitFor(t, 20*time.Second, "d2's first advert as master", func() bool {
				f, ok := capt.FirstAdvertAfter(vrrplab.D2Addr.Addr(), removed)
				adv = f
				return ok
			})
			var fails []time.Time
			for _, r := range readRuns(t, log) {
				if r.failed && r.at.After(removed) {
					fails = append(fails, r.at)
				}
			}
			if len(fails) < 2 {
				t.Fatalf("%s: d2 took over after %d failing runs, want 2 (fall)", impl(vigil), len(fails))
			}
			results[vigil] = append(results[vigil], adv.T.Sub(fails[0]))
			reaction[vigil] = append(reaction[vigil], adv.T.Sub(fails[1]))
			t.Logf("%s trial %d: %s from the first failing run, %s from the second", impl(vigil), len(results[vigil]),
				sec(adv.T.Sub(fails[0])), sec(adv.T.Sub(fails[1])))
			if err := os.WriteFile(flag, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		vrrplab.WaitFor(t, 30*time.Second, "d1 master again", holds("d1"))
		d1.Term()
		if err := d1.Wait(15 * time.Second); err != nil {
			t.Logf("%s on d1: %v", impl(vigil), err)
		}
		vrrplab.WaitFor(t, 30*time.Second, "d2 master between blocks", holds("d2"))
	}
	report(t, "| tracking master | script failure -> peer's first advert (median [min-max]) | from the fall-th failing run |")
	report(t, "| --- | --- | --- |")
	for _, v := range []bool{true, false} {
		report(t, "| %s | %s | %s |", impl(v), summary(results[v]), summary(reaction[v]))
	}
	report(t, "ratio vigil/keepalived of the medians: %.3f (from the first failing run), %.3f (from the fall-th)",
		median(results[true]).Seconds()/median(results[false]).Seconds(),
		median(reaction[true]).Seconds()/median(reaction[false]).Seconds())
}

func impl(vigil bool) string {
	if vigil {
		return "vigil"
	}
	return "keepalived"
}

type scriptRun struct {
	at     time.Time
	failed bool
}

// readRuns reads the script's log: one "UNIX_NANOSECONDS CODE" line per run.
func readRuns(t *testing.T, path string) []scriptRun {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []scriptRun
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ts, code, ok := strings.Cut(sc.Text(), " ")
		ns, err := strconv.ParseInt(ts, 10, 64)
		if !ok || err != nil {
			continue
		}
		out = append(out, scriptRun{at: time.Unix(0, ns), failed: code != "0"})
	}
	return out
}
