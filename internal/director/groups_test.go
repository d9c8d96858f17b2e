package director

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// groupConfig is a virtual server on a virtual_server_group of the given addresses (and
// fwmark 7) with the backends as real servers, each with a fast tcp check.
func groupConfig(t *testing.T, addresses string, backends ...*backend) *conf.Config {
	t.Helper()
	var rs strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&rs, `
  real_server "rs%d" {
    address = "%s"
    check "tcp" {
      interval = "100ms"
      timeout  = "100ms"
      rise     = 1
      fall     = 1
    }
  }`, i+1, b.addr)
	}
	src := fmt.Sprintf(`
global {
  resync_interval = "24h"
}
virtual_server_group "vips" {
  addresses = [%s]
  fwmarks   = [7]
}
virtual_server "web" {
  group     = "vips"
  protocol  = "tcp"
  scheduler = "rr"
  %s
}
`, addresses, rs.String())
	cfg, diags := conf.Parse([]byte(src), "group.hcl")
	if diags.HasErrors() {
		t.Fatalf("config: %v\n%s", diags, src)
	}
	return cfg
}

// groupWeights reads addr's weight in every service of keys (-1: absent).
func groupWeights(table ipvs.Table, keys []ipvs.ServiceKey, addr netip.AddrPort) []int {
	var out []int
	for _, k := range keys {
		w := -1
		dests, _ := table.Destinations(context.Background(), k)
		for _, d := range dests {
			if d.Addr == addr {
				w = d.Weight
			}
		}
		out = append(out, w)
	}
	return out
}

// waitGroupWeights steps the clock until addr has weight want in every service of keys,
// for at most a minute of the fake clock.
func (f *fixture) waitGroupWeights(keys []ipvs.ServiceKey, addr netip.AddrPort, want int) {
	f.t.Helper()
	var got []int
	for range 300 {
		got = groupWeights(f.table, keys, addr)
		ok := true
		for _, w := range got {
			ok = ok && w == want
		}
		if ok {
			return
		}
		f.step(200 * time.Millisecond)
	}
	f.t.Fatalf("weights of %s in %v = %v, want %d in each", addr, keys, got, want)
}

func addrKey(s string) ipvs.ServiceKey {
	return ipvs.AddrKey(ipvs.TCP, netip.MustParseAddrPort(s))
}

// TestGroupOneCheckPerRealServer: a virtual server on a group is one IPVS service per
// member; each real server is checked once, and its failure quiesces it in every service
// at once. A reload that changes the members creates and deletes only those services, with
// the real servers at the weights their health gives, and restarts no check.
func TestGroupOneCheckPerRealServer(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	table := ipvstest.New()
	d := start(t, table, groupConfig(t, `"198.18.0.10-12:80"`, a, b))
	keys := []ipvs.ServiceKey{addrKey("198.18.0.10:80"), addrKey("198.18.0.11:80"), addrKey("198.18.0.12:80"), ipvs.MarkKey(7, ipvs.Inet4)}
	d.waitGroupWeights(keys, a.addr, 1)
	d.waitGroupWeights(keys, b.addr, 1)
	svcs, _ := table.Services(context.Background())
	if len(svcs) != 4 {
		t.Fatalf("the table holds %d services, want the group's 4", len(svcs))
	}
	if n := len(d.sched.Snapshot()); n != 2 {
		t.Errorf("%d checks run, want 2: one per real server, not one per service", n)
	}

	a.Stop()
	d.waitGroupWeights(keys, a.addr, 0)
	if w := groupWeights(table, keys, b.addr); w[0] != 1 || w[3] != 1 {
		t.Errorf("rs2's weights %v, want 1 everywhere", w)
	}

	// Status: the virtual server adds its services up; each service is shown on its own.
	snap := d.Snapshot()
	vs := snap.VirtualServers[0]
	if vs.Group != "vips" || vs.Key != `group "vips" TCP` || len(vs.Services) != 4 || !vs.Present {
		t.Fatalf("status %+v", vs)
	}
	if rs := vs.RealServers[0]; rs.Health != "down" || !rs.InTable || rs.AppliedWeight == nil || *rs.AppliedWeight != 0 {
		t.Errorf("rs1 status %+v, want down, in the table at weight 0", rs)
	}
	if s := vs.Services[3]; s.Key != "FWM 7" || s.FWMark != 7 || len(s.Destinations) != 2 || weightOf(s.Destinations[0].AppliedWeight) != 0 || weightOf(s.Destinations[1].AppliedWeight) != 1 {
		t.Errorf("fwmark service status %+v", s)
	}
	probesBefore := d.sched.Snapshot()[1].Passes

	// Members change: .12 leaves, .13 joins; rs1 is still down, rs2 up.
	before := len(table.Ops())
	if err := d.Reload(context.Background(), groupConfig(t, `"198.18.0.10-11:80", "198.18.0.13:80"`, a, b)); err != nil {
		t.Fatal(err)
	}
	keys = []ipvs.ServiceKey{addrKey("198.18.0.10:80"), addrKey("198.18.0.11:80"), addrKey("198.18.0.13:80"), ipvs.MarkKey(7, ipvs.Inet4)}
	if w := groupWeights(table, keys, a.addr); fmt.Sprint(w) != "[0 0 0 0]" {
		t.Errorf("rs1 (down) after the reload: %v, want 0 in every service", w)
	}
	if w := groupWeights(table, keys, b.addr); fmt.Sprint(w) != "[1 1 1 1]" {
		t.Errorf("rs2 (up) after the reload: %v, want 1 in every service", w)
	}
	if w := groupWeights(table, []ipvs.ServiceKey{addrKey("198.18.0.12:80")}, b.addr); w[0] != -1 {
		t.Errorf("the removed member's service still holds rs2")
	}
	var ops []string
	for _, op := range table.Ops()[before:] {
		ops = append(ops, op.String())
	}
	if len(ops) != 4 { // add .13, its two destinations; delete .12
		t.Errorf("the reload made %d writes %v, want 4: add a service and its 2 destinations, delete a service", len(ops), ops)
	}
	diff := d.Snapshot().Config.LastReloadDiff
	if len(diff) != 1 || diff[0] != `~ virtual_server "web" (group "vips" TCP): services + TCP 198.18.0.13:80, - TCP 198.18.0.12:80` {
		t.Errorf("reload diff %q", diff)
	}
	if s := d.sched.Snapshot(); len(s) != 2 || s[1].Passes < probesBefore {
		t.Errorf("checks after the reload %+v: want the same two, not restarted", s)
	}

	a.Start()
	d.waitGroupWeights(keys, a.addr, 1)
}

// TestGroupAdoption: at start-up the weights a group's services already hold are adopted,
// so a restart writes nothing.
func TestGroupAdoption(t *testing.T) {
	a := newBackend(t)
	table := ipvstest.New()
	cfg := groupConfig(t, `"198.18.0.10:80", "198.18.0.11:80"`, a)
	d := start(t, table, cfg)
	keys := []ipvs.ServiceKey{addrKey("198.18.0.10:80"), addrKey("198.18.0.11:80"), ipvs.MarkKey(7, ipvs.Inet4)}
	d.waitGroupWeights(keys, a.addr, 1)
	d.Stop(context.Background(), false)
	table.ResetOps()
	d = start(t, table, groupConfig(t, `"198.18.0.10:80", "198.18.0.11:80"`, a))
	d.step(time.Second) // a few probes, all passing
	if ops := table.Ops(); len(ops) != 0 {
		t.Errorf("restart over the group's table made writes %v, want none", ops)
	}
}

// TestGroupPlanPorts: in a group on several ports (and a fwmark), a DR real server without
// a port takes each service's port (0 in the fwmark service), and so does the sorry
// server when the quorum is lost.
func TestGroupPlanPorts(t *testing.T) {
	src := `
virtual_server_group "g" {
  addresses = ["198.18.0.10:80", "198.18.0.10:443"]
  fwmarks   = [7]
}
virtual_server "web" {
  group        = "g"
  protocol     = "tcp"
  forwarding   = "dr"
  sorry_server = "198.18.0.30"
  real_server "a" {
    address = "198.18.0.21"
    check "tcp" {
      connect_port = 80
    }
  }
}
`
	cfg, diags := conf.Parse([]byte(src), "g.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	vs := cfg.VirtualServers[0]
	states := []rsState{{health: Up, dynamic: -1}}
	render := func() string {
		_, tmpl := planVirtualServer(vs, states, true)
		var out []string
		for _, svc := range expandServices(vs, tmpl) {
			var ds []string
			for _, d := range svc.Destinations {
				ds = append(ds, fmt.Sprintf("%s w%d", d.Addr, d.Weight))
			}
			out = append(out, svc.ServiceKey.String()+": "+strings.Join(ds, ", "))
		}
		return strings.Join(out, "; ")
	}
	want := "TCP 198.18.0.10:80: 198.18.0.21:80 w1; TCP 198.18.0.10:443: 198.18.0.21:443 w1; FWM 7: 198.18.0.21:0 w1"
	if got := render(); got != want {
		t.Errorf("up:\n got %s\nwant %s", got, want)
	}
	states[0].health = Down
	want = "TCP 198.18.0.10:80: 198.18.0.21:80 w0, 198.18.0.30:80 w1; TCP 198.18.0.10:443: 198.18.0.21:443 w0, 198.18.0.30:443 w1; FWM 7: 198.18.0.21:0 w0, 198.18.0.30:0 w1"
	if got := render(); got != want {
		t.Errorf("down, sorry server serving:\n got %s\nwant %s", got, want)
	}
}

func TestMemberChanges(t *testing.T) {
	parse := func(addrs string) *conf.VirtualServer {
		src := "virtual_server_group \"g\" {\n  addresses = [" + addrs + "]\n}\nvirtual_server \"v\" {\n  group = \"g\"\n  protocol = \"udp\"\n}\n"
		cfg, diags := conf.Parse([]byte(src), "t.hcl")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg.VirtualServers[0]
	}
	a, b := parse(`"198.18.0.1:53"`), parse(`"198.18.0.0/28:53"`)
	got := memberChanges(a, b)
	if len(got) != 1 || !strings.HasPrefix(got[0], "services + UDP 198.18.0.0:53, + UDP 198.18.0.2:53") || !strings.HasSuffix(got[0], "and 7 more") {
		t.Errorf("memberChanges = %q", got)
	}
	if got := memberChanges(b, b); got != nil {
		t.Errorf("no change: %q", got)
	}
}

// TestIntoGroupKeepsHealth: a reload that moves a virtual server's address into a group
// keeps its real servers' health (found by service and address), so the service already
// serving is not drained while the checks start again.
func TestIntoGroupKeepsHealth(t *testing.T) {
	a := newBackend(t)
	table := ipvstest.New()
	single := fmt.Sprintf(`
virtual_server "web" {
  address   = "198.18.0.10:80"
  protocol  = "tcp"
  scheduler = "rr"
  real_server "rs1" {
    address = "%s"
    check "tcp" {
      interval = "100ms"
      timeout  = "100ms"
      rise     = 3
      fall     = 3
    }
  }
}
`, a.addr)
	cfg, diags := conf.Parse([]byte(single), "single.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	d := start(t, table, cfg)
	d.waitGroupWeights([]ipvs.ServiceKey{addrKey("198.18.0.10:80")}, a.addr, 1)
	table.ResetOps()
	group := groupConfig(t, `"198.18.0.10-11:80"`, a)
	group.VirtualServers[0].RealServers[0].Checks[0].Rise = 3
	if err := d.Reload(context.Background(), group); err != nil {
		t.Fatal(err)
	}
	for _, op := range table.Ops() {
		if op.Service == addrKey("198.18.0.10:80") {
			t.Errorf("the service already serving was written to: %s", op)
		}
	}
	keys := []ipvs.ServiceKey{addrKey("198.18.0.10:80"), addrKey("198.18.0.11:80"), ipvs.MarkKey(7, ipvs.Inet4)}
	if w := groupWeights(table, keys, a.addr); fmt.Sprint(w) != "[1 1 1]" {
		t.Errorf("weights after moving into the group: %v, want 1 in each service at once", w)
	}
}

// weightOf is an applied weight, -1 when absent.
func weightOf(w *int) int {
	if w == nil {
		return -1
	}
	return *w
}
