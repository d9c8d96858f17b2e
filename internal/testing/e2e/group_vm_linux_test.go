package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/ipvs"
)

// groupConfig is the DR web cluster of drWebConfig on a virtual_server_group of the given
// addresses: one IPVS service per address, two real servers checked once each.
func groupConfig(addresses string) string {
	web := drWebConfig(2, "")
	const addr = `address    = "198.18.0.254:80"`
	if !strings.Contains(web, addr) {
		panic("drWebConfig no longer has " + addr)
	}
	return fmt.Sprintf("virtual_server_group \"vips\" {\n  addresses = [%s]\n}\n", addresses) +
		strings.Replace(web, addr, `group      = "vips"`, 1)
}

// testGroupQuiesce: a virtual_server_group of two addresses in Debian's kernel IPVS. Real
// traffic reaches both real servers through both addresses; one real server's failure,
// seen by its one check, quiesces it in both services at once; a reload that drops an
// address deletes that service alone while the other keeps serving.
func testGroupQuiesce(t *testing.T) {
	x := newDRLab(t, 1, 2, true)
	lb := x.directors[0]
	// The second group address: on the director, and on the real servers' lo (DR).
	must(t, lb.AddAddr("eth0", pfx("198.18.0.253/32")), "second VIP on the director")
	for _, rs := range x.rs {
		must(t, rs.host.AddAddr("lo", pfx("198.18.0.253/32")), "second VIP on "+rs.name)
	}
	v := startVigil(t, lb, "vigil", groupConfig(`"198.18.0.253-254:80"`))
	keys := []ipvs.ServiceKey{ipvs.AddrKey(ipvs.TCP, ap("198.18.0.253:80")), ipvs.AddrKey(ipvs.TCP, ap("198.18.0.254:80"))}
	weights := func(rs int) []int {
		var out []int
		for _, k := range keys {
			w, ok := kernelWeights(t, lb, k)[rsAddr(rs)]
			if !ok {
				w = -1
			}
			out = append(out, w)
		}
		return out
	}
	waitFor(t, 20*time.Second, "both real servers up in both services", func() bool {
		return fmt.Sprint(weights(0), weights(1)) == "[1 1] [1 1]"
	})
	for _, url := range []string{"http://198.18.0.253/", "http://198.18.0.254/"} {
		assertAlternates(t, askN(t, x.client, url, 10))
	}

	x.rs[0].Stop()
	took := waitFor(t, 20*time.Second, "rs1 quiesced in both services", func() bool { return fmt.Sprint(weights(0)) == "[0 0]" })
	t.Logf("failure to weight 0 in both services: %s", took)
	if w := weights(1); fmt.Sprint(w) != "[1 1]" {
		t.Errorf("rs2's weights %v, want 1 in both services", w)
	}
	for _, url := range []string{"http://198.18.0.253/", "http://198.18.0.254/"} {
		for i, who := range askN(t, x.client, url, 6) {
			if who != "rs2" {
				t.Fatalf("%s: request %d after the quiesce went to %s, want rs2 only", url, i+1, who)
			}
		}
	}
	s := v.Status()
	vs := s.VirtualServers[0]
	if vs.Group != "vips" || len(vs.Services) != 2 || !vs.Present {
		t.Fatalf("status of the group's virtual server: %+v", vs)
	}
	for _, rs := range vs.RealServers {
		if len(rs.Checks) != 1 {
			t.Errorf("%s has %d checks, want 1: a real server is checked once, not once per service", rs.Name, len(rs.Checks))
		}
	}
	if rs := vs.RealServers[0]; rs.Health != "down" || rs.AppliedWeight == nil || *rs.AppliedWeight != 0 || !rs.InTable {
		t.Errorf("rs1 status %+v, want down at weight 0", rs)
	}
	metrics := v.get("/metrics")
	for _, a := range []string{`local_address="198.18.0.253"`, `local_address="198.18.0.254"`} {
		if !strings.Contains(metrics, "vigil_real_server_info{"+a) || !strings.Contains(metrics, "vigil_ipvs_service_connections_total{"+a) {
			t.Errorf("/metrics has no series for the group service %s", a)
		}
	}

	// Drop .253 from the group: its service goes, .254 keeps serving without a pause.
	x.rs[0].Start()
	waitFor(t, 20*time.Second, "rs1 back in both services", func() bool { return fmt.Sprint(weights(0)) == "[1 1]" })
	tr := startTraffic(x)
	s = v.Reload(groupConfig(`"198.18.0.254:80"`))
	if ok := s.Config.LastReloadOK; ok == nil || !*ok || len(s.Config.LastReloadDiff) != 1 || !strings.Contains(s.Config.LastReloadDiff[0], "services - TCP 198.18.0.253:80") {
		t.Fatalf("reload: %+v", s.Config)
	}
	time.Sleep(time.Second)
	tr.Stop(t)
	k, err := ipvs.OpenKernel(ipvs.KernelOptions{Netns: lb.Path(), NoModprobe: true})
	must(t, err, "open IPVS")
	defer k.Close()
	svcs, err := k.Services(context.Background())
	must(t, err, "list services")
	if len(svcs) != 1 || svcs[0].ServiceKey != keys[1] {
		t.Errorf("after the reload the kernel holds %v, want only %s", svcs, keys[1])
	}
	if w := kernelWeights(t, lb, keys[1]); w[rsAddr(0)] != 1 || w[rsAddr(1)] != 1 {
		t.Errorf("after the reload %s holds %v, want both real servers at 1", keys[1], w)
	}
}
