package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-lb/vigil/internal/testing/vmtest"
	"github.com/vigil-lb/vigil/ipvs"
)

// TestDaemonVM runs `vigil run` against Debian's kernel IPVS in a VM: the DR web cluster
// of the seeds with HTTP health checks, quiesce and recovery, reloads under traffic, a
// restart that resets no connection, the observability endpoints, a
// virtual_server_group whose services quiesce together, and drain / ready / restart
// under the systemd unit's privileges. One boot.
func TestDaemonVM(t *testing.T) {
	vmtest.Run(t, vmtest.Options{
		Binaries: map[string]string{
			"vigil":   "github.com/vigil-lb/vigil/cmd/vigil",
			"capexec": "github.com/vigil-lb/vigil/internal/testing/e2e/capexec",
		},
		Files:   unitGuestFiles(t),
		Timeout: 10 * time.Minute,
	}, map[string]func(*testing.T){
		"admin_under_unit":           testAdminUnderUnit,
		"dr_web_quiesce_and_recover": testQuiesceAndRecover,
		"reload_under_traffic":       testReloadUnderTraffic,
		"restart_resets_nothing":     testRestartResetsNothing,
		"observability_no_secrets":   testObservability,
		"virtual_server_group":       testGroupQuiesce,
	})
}

// Check timing of the DR web config: a failure is seen within fall x interval + timeout.
const (
	checkInterval = 1 * time.Second
	checkTimeout  = 800 * time.Millisecond
	checkFall     = 2
	checkRise     = 2
)

const secret = "e2e-Sup3r-s3cret-pa55"

// drWebConfig is examples/dr-web.hcl with fast checks, optionally a third real server and
// a MySQL virtual server whose check carries a password (for the no-secrets test).
func drWebConfig(realServers int, extra string) string {
	var rs strings.Builder
	for i := range realServers {
		fmt.Fprintf(&rs, `
  real_server "rs%d" {
    address = "198.18.0.%d:80"
    weight  = 1
    check "http" {
      path     = "/"
      interval = "%s"
      timeout  = "%s"
      rise     = %d
      fall     = %d
    }
  }`, i+1, 21+i, checkInterval, checkTimeout, checkRise, checkFall)
	}
	return fmt.Sprintf(`
global {
  router_id       = "lb1"
  listen          = "127.0.0.1:9110"
  dataplane       = "kernel"
  resync_interval = "1s"
}
virtual_server "web" {
  address    = "198.18.0.254:80"
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "dr"
  %s
}
%s
`, rs.String(), extra)
}

var webKey = ipvs.AddrKey(ipvs.TCP, ap("198.18.0.254:80"))

func rsAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(21 + i)}), 80)
}

func testQuiesceAndRecover(t *testing.T) {
	x := newDRLab(t, 1, 2, true)
	v := startVigil(t, x.directors[0], "vigil", drWebConfig(2, ""))
	lb := x.directors[0]
	up := func() bool {
		w := kernelWeights(t, lb, webKey)
		return w[rsAddr(0)] == 1 && w[rsAddr(1)] == 1
	}
	waitFor(t, 20*time.Second, "both real servers up", up)

	got := askN(t, x.client, "http://198.18.0.254/", 10)
	assertAlternates(t, got)

	x.rs[0].Stop()
	bound := checkFall*checkInterval + checkTimeout
	took := waitFor(t, 20*time.Second, "rs1 quiesced", func() bool { return kernelWeights(t, lb, webKey)[rsAddr(0)] == 0 })
	t.Logf("failure to weight 0 in the kernel: %s (bound fall x interval + timeout = %s)", took, bound)
	if took > bound+2*time.Second { // slack for a loaded 2-core TCG guest
		t.Errorf("quiesce took %s, want within %s plus slack", took, bound)
	}
	for i, who := range askN(t, x.client, "http://198.18.0.254/", 10) {
		if who != "rs2" {
			t.Fatalf("request %d after quiesce went to %s, want rs2 only", i+1, who)
		}
	}
	if rs := v.Status().VirtualServers[0].RealServers[0]; rs.Health != "down" || rs.AppliedWeight == nil || *rs.AppliedWeight != 0 || !strings.Contains(rs.Checks[0].LastReason, "198.18.0.21") {
		t.Errorf("status of rs1 = %+v, want down, applied weight 0 and a reason naming it", rs)
	}

	x.rs[0].Start()
	took = waitFor(t, 20*time.Second, "rs1 restored", up)
	t.Logf("recovery to configured weight: %s (rise %d x interval %s)", took, checkRise, checkInterval)
	assertAlternates(t, askN(t, x.client, "http://198.18.0.254/", 10))
}

func assertAlternates(t *testing.T, got []string) {
	t.Helper()
	count := map[string]int{}
	for i, g := range got {
		count[g]++
		if i > 0 && got[i-1] == g {
			t.Fatalf("answers %v: request %d went to %s again; rr must alternate", got, i+1, g)
		}
	}
	if count["rs1"] != len(got)/2 || count["rs2"] != len(got)/2 {
		t.Fatalf("answers %v: want half rs1, half rs2", got)
	}
}

// traffic sends requests to the VIP in a loop until stopped, counting failures.
type traffic struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stop       chan struct{}
	done       chan struct{}
}

func startTraffic(x *drLab) *traffic {
	tr := &traffic{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		for {
			select {
			case <-tr.stop:
				return
			default:
			}
			if _, err := ask(x.client, "http://198.18.0.254/"); err != nil {
				tr.failed.Add(1)
				tr.mu.Lock()
				tr.errs = append(tr.errs, err.Error())
				tr.mu.Unlock()
			} else {
				tr.ok.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return tr
}

func (tr *traffic) Stop(t *testing.T) {
	t.Helper()
	close(tr.stop)
	<-tr.done
	t.Logf("traffic: %d requests ok, %d failed", tr.ok.Load(), tr.failed.Load())
	if tr.failed.Load() > 0 {
		t.Errorf("%d client requests failed: %v", tr.failed.Load(), tr.errs)
	}
	if tr.ok.Load() == 0 {
		t.Errorf("no client request succeeded")
	}
}

func testReloadUnderTraffic(t *testing.T) {
	x := newDRLab(t, 1, 3, true)
	lb := x.directors[0]
	v := startVigil(t, lb, "vigil", drWebConfig(2, ""))
	waitFor(t, 20*time.Second, "both real servers up", func() bool {
		w := kernelWeights(t, lb, webKey)
		return w[rsAddr(0)] == 1 && w[rsAddr(1)] == 1
	})
	time.Sleep(1500 * time.Millisecond) // let the first resync pass
	tr := startTraffic(x)

	// Unchanged: zero writes.
	before := v.Status().IPVS.Writes
	s := v.Reload(drWebConfig(2, ""))
	if ok := s.Config.LastReloadOK; ok == nil || !*ok || s.Config.Generation != 2 {
		t.Fatalf("unchanged reload: %+v", s.Config)
	}
	time.Sleep(2 * time.Second) // probes and a resync run; none may write
	if after := v.Status().IPVS.Writes; after != before {
		t.Errorf("unchanged reload: %d writes, want 0", after-before)
	}

	// One added real server: its own operations only (added at weight 0 until its check
	// passes rise times, then its weight: two writes).
	before = v.Status().IPVS.Writes
	s = v.Reload(drWebConfig(3, ""))
	if ok := s.Config.LastReloadOK; ok == nil || !*ok || len(s.Config.LastReloadDiff) != 1 || !strings.Contains(s.Config.LastReloadDiff[0], `+ real_server "rs3"`) {
		t.Fatalf("add rs3: %+v", s.Config)
	}
	waitFor(t, 20*time.Second, "rs3 up", func() bool { return kernelWeights(t, lb, webKey)[rsAddr(2)] == 1 })
	time.Sleep(1500 * time.Millisecond)
	if n := v.Status().IPVS.Writes - before; n != 2 {
		t.Errorf("adding one real server made %d writes, want 2 (add at weight 0, then weight 1)", n)
	}

	// Invalid: nothing changes, the failure is reported.
	before = v.Status().IPVS.Writes
	s = v.Reload(drWebConfig(3, "") + "\nvirtual_server \"broken\" {\n  address = \"198.18.0.254:99999\"\n}\n")
	if s.Config.ReloadsFailed != 1 || s.Config.Generation != 3 || s.Config.LastReloadOK == nil || *s.Config.LastReloadOK || !strings.Contains(s.Config.LastReloadErr, "vigil.hcl") {
		t.Errorf("invalid reload: %+v", s.Config)
	}
	time.Sleep(1 * time.Second)
	if n := v.Status().IPVS.Writes - before; n != 0 {
		t.Errorf("invalid reload made %d writes, want 0", n)
	}
	if w := kernelWeights(t, lb, webKey); len(w) != 3 {
		t.Errorf("after an invalid reload the kernel holds %v, want the 3 real servers", w)
	}
	tr.Stop(t)
}

func testRestartResetsNothing(t *testing.T) {
	x := newDRLab(t, 1, 2, true)
	lb := x.directors[0]
	v := startVigil(t, lb, "vigil", drWebConfig(2, ""))
	waitFor(t, 20*time.Second, "both real servers up", func() bool {
		w := kernelWeights(t, lb, webKey)
		return w[rsAddr(0)] == 1 && w[rsAddr(1)] == 1
	})
	// A long download through the kernel path, and new connections all along.
	conn, err := x.client.Dial(t.Context(), "tcp4", "198.18.0.254:80")
	must(t, err, "dial VIP")
	defer conn.Close()
	fmt.Fprintf(conn, "GET /slow HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
	tr := startTraffic(x)

	v.Signal(syscall.SIGTERM)
	v.Wait(15 * time.Second)
	if w := kernelWeights(t, lb, webKey); w[rsAddr(0)] != 1 || w[rsAddr(1)] != 1 {
		t.Fatalf("after SIGTERM the kernel holds %v, want both real servers left in place", w)
	}
	v.Restart()
	time.Sleep(2 * time.Second) // first check results arrive and agree with the table
	if s := v.Status(); s.IPVS.Writes != 0 {
		t.Errorf("restart over an identical table made %d writes, want 0 (adoption)", s.IPVS.Writes)
	}

	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	body, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Errorf("long download across the restart: %v", err)
	}
	if n := strings.Count(string(body), "\n"); n < 40 {
		t.Errorf("long download across the restart got %d lines, want the whole 40+", n)
	}
	tr.Stop(t)
}

func testObservability(t *testing.T) {
	x := newDRLab(t, 1, 2, true)
	lb := x.directors[0]
	mysql := fmt.Sprintf(`
virtual_server "db" {
  address   = "198.18.0.254:3306"
  protocol  = "tcp"
  scheduler = "wlc"
  forwarding = "dr"
  real_server "db1" {
    address = "198.18.0.21:3306"
    check "mysql" {
      user     = "monitor"
      password = %q
      interval = "500ms"
      timeout  = "300ms"
    }
  }
}`, secret)
	v := startVigil(t, lb, "vigil", drWebConfig(2, mysql))
	waitFor(t, 20*time.Second, "mysql check ran", func() bool {
		for _, vs := range v.Status().VirtualServers {
			if vs.Name == "db" && len(vs.RealServers[0].Checks) > 0 && vs.RealServers[0].Checks[0].Probes > 0 {
				return true
			}
		}
		return false
	})
	metrics := v.get("/metrics")
	statusJSON := v.get("/status")
	for name, text := range map[string]string{"/metrics": metrics, "/status": statusJSON, "log": v.log.String()} {
		if strings.Contains(text, secret) {
			t.Errorf("%s contains the MySQL password", name)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	must(t, err, "parse /metrics")
	for _, want := range []string{"vigil_build_info", "vigil_real_server_healthy", "vigil_real_server_info", "vigil_ipvs_backend_connections_active", "vigil_check_transitions_total"} {
		if families[want] == nil {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	problems, err := promlint.New(strings.NewReader(metrics)).Lint()
	must(t, err, "promlint")
	for _, p := range problems {
		if !strings.HasPrefix(p.Metric, "go_") && !strings.HasPrefix(p.Metric, "process_") && !strings.HasPrefix(p.Metric, "promhttp_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	if s := v.Status(); s.Dataplane != "kernel" || len(s.VirtualServers) != 2 {
		t.Errorf("status: dataplane %q, %d virtual servers", s.Dataplane, len(s.VirtualServers))
	}
}
