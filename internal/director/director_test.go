package director

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

// backend is a real TCP listener a tcp check can reach; Stop and Start flip its health.
type backend struct {
	t    *testing.T
	addr netip.AddrPort
	mu   sync.Mutex
	ln   net.Listener
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{t: t, addr: netip.MustParseAddrPort(ln.Addr().String())}
	b.serve(ln)
	t.Cleanup(b.Stop)
	return b
}

func (b *backend) serve(ln net.Listener) {
	b.mu.Lock()
	b.ln = ln
	b.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

func (b *backend) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln != nil {
		b.ln.Close()
		b.ln = nil
	}
}

func (b *backend) Start() {
	ln, err := net.Listen("tcp", b.addr.String())
	if err != nil {
		b.t.Fatalf("restart backend %s: %v", b.addr, err)
	}
	b.serve(ln)
}

// config renders a configuration with one virtual server on the given backends, each with
// a fast tcp check.
func config(t *testing.T, extra string, onFailure string, backends ...*backend) *conf.Config {
	t.Helper()
	var rs strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&rs, `
  real_server "rs%d" {
    address = "%s"
    weight  = %d
    check "tcp" {
      interval = "200ms"
      timeout  = "200ms"
      rise     = 1
      fall     = 3
    }
  }`, i+1, b.addr, i+2)
	}
	src := fmt.Sprintf(`
global {
  resync_interval = "24h"
}
virtual_server "web" {
  address    = "198.18.0.254:80"
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "nat"
  on_failure = %q
  %s
  %s
}
`, onFailure, extra, rs.String())
	cfg, diags := conf.Parse([]byte(src), "test.hcl")
	if diags.HasErrors() {
		t.Fatalf("config: %v\n%s", diags, src)
	}
	return cfg
}

var vip = ipvs.AddrKey(ipvs.TCP, netip.MustParseAddrPort("198.18.0.254:80"))

// fixture is a director on a fake clock whose checks probe real loopback backends: time
// moves only when the test steps it, and each step runs the probes that fall due.
type fixture struct {
	*Director
	t     *testing.T
	clk   *clock.Fake
	table ipvs.Table
}

func start(t *testing.T, table ipvs.Table, cfg *conf.Config) *fixture {
	t.Helper()
	return startWith(t, table, cfg, Options{})
}

// startWith starts a fixture with the options of o that start does not set.
func startWith(t *testing.T, table ipvs.Table, cfg *conf.Config, o Options) *fixture {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o.Table, o.Logger, o.Dataplane, o.Clock, o.CheckGoroutines = table, slog.New(slog.DiscardHandler), "kernel", clk, true
	d := New(o)
	if err := d.Start(context.Background(), cfg); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { d.Stop(context.Background(), false) })
	return &fixture{Director: d, t: t, clk: clk, table: table}
}

// step moves the clock on by d, which runs every probe that falls due on the way (against
// the backends, at once), and returns once the director has applied what they reported.
func (f *fixture) step(d time.Duration) {
	f.t.Helper()
	f.clk.Advance(d)
	err := f.do(context.Background(), func(ctx context.Context) {
		evs := f.mail.take()
		f.applyHealth(ctx, evs)
		f.mail.done(evs)
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// waitWeight steps the clock a check interval at a time until addr has weight want in the
// table (is absent when want < 0), for at most a minute of the fake clock.
func (f *fixture) waitWeight(addr netip.AddrPort, want int) {
	f.t.Helper()
	got := -2
	for range 300 {
		got = -1
		dests, _ := f.table.Destinations(context.Background(), vip)
		for _, d := range dests {
			if d.Addr == addr {
				got = d.Weight
			}
		}
		if got == want {
			return
		}
		f.step(200 * time.Millisecond)
	}
	f.t.Fatalf("weight of %s = %d, want %d", addr, got, want)
}

func TestHealthToWeightIsOneWrite(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	table := ipvstest.New()
	f := start(t, table, config(t, "", "quiesce", a, b))
	f.waitWeight(a.addr, 2)
	f.waitWeight(b.addr, 3)

	table.ResetOps()
	a.Stop()
	f.waitWeight(a.addr, 0)
	f.step(time.Second) // more probes fail; they must not write again
	if ops := table.Ops(); len(ops) != 1 || ops[0].Kind != ipvstest.UpdateDestination || ops[0].Dest != a.addr {
		t.Fatalf("quiesce wrote %v, want exactly one update-destination of %s", ops, a.addr)
	}

	table.ResetOps()
	a.Start()
	f.waitWeight(a.addr, 2)
	if ops := table.Ops(); len(ops) != 1 || ops[0].Kind != ipvstest.UpdateDestination {
		t.Fatalf("recovery wrote %v, want exactly one update-destination", ops)
	}
}

func TestOnFailureRemove(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	table := ipvstest.New()
	f := start(t, table, config(t, "", "remove", a, b))
	f.waitWeight(a.addr, 2)
	f.waitWeight(b.addr, 3)

	table.ResetOps()
	a.Stop()
	f.waitWeight(a.addr, -1)
	a.Start()
	f.waitWeight(a.addr, 2)
	got := fmt.Sprint(table.Ops())
	want := fmt.Sprint([]ipvstest.Op{
		{Kind: ipvstest.DeleteDestination, Service: vip, Dest: a.addr},
		{Kind: ipvstest.AddDestination, Service: vip, Dest: a.addr},
	})
	if got != want {
		t.Fatalf("ops = %s, want %s", got, want)
	}
}

func TestRestartAdoptsWithoutWrites(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	table := ipvstest.New()
	cfg := config(t, "", "quiesce", a, b)
	// What an earlier vigil left behind; a is quiesced there.
	table.Seed(ipvs.Service{ServiceKey: vip, Scheduler: "rr"},
		ipvs.Destination{Addr: a.addr, Weight: 0, Forwarding: ipvs.NAT},
		ipvs.Destination{Addr: b.addr, Weight: 3, Forwarding: ipvs.NAT})
	a.Stop()
	f := start(t, table, cfg)
	if ops := table.Ops(); len(ops) != 0 {
		t.Fatalf("start over an identical table wrote %v, want nothing", ops)
	}
	f.step(time.Second) // first results agree with the table
	if ops := table.Ops(); len(ops) != 0 {
		t.Fatalf("first check results wrote %v, want nothing", ops)
	}
}

func TestReloadAppliesOnlyTheDifference(t *testing.T) {
	a, b, c := newBackend(t), newBackend(t), newBackend(t)
	table := ipvstest.New()
	d := start(t, table, config(t, "", "quiesce", a, b))
	d.waitWeight(a.addr, 2)
	d.waitWeight(b.addr, 3)
	ctx := context.Background()

	table.ResetOps()
	if err := d.Reload(ctx, config(t, "", "quiesce", a, b)); err != nil {
		t.Fatal(err)
	}
	d.step(time.Second)
	if ops := table.Ops(); len(ops) != 0 {
		t.Fatalf("unchanged reload wrote %v, want nothing", ops)
	}
	if s := d.Snapshot(); s.Config.Generation != 2 || s.Config.ReloadsOK != 1 {
		t.Fatalf("generation %d reloads_ok %d, want 2 and 1", s.Config.Generation, s.Config.ReloadsOK)
	}

	table.ResetOps()
	if err := d.Reload(ctx, config(t, "", "quiesce", a, b, c)); err != nil {
		t.Fatal(err)
	}
	d.waitWeight(c.addr, 4)
	got := fmt.Sprint(table.Ops())
	want := fmt.Sprint([]ipvstest.Op{
		{Kind: ipvstest.AddDestination, Service: vip, Dest: c.addr},    // weight 0 until its check passes
		{Kind: ipvstest.UpdateDestination, Service: vip, Dest: c.addr}, // its configured weight
	})
	if got != want {
		t.Fatalf("adding one real server wrote %s, want %s", got, want)
	}
	if diff := d.Snapshot().Config.LastReloadDiff; len(diff) != 1 || !strings.Contains(diff[0], `+ real_server "rs3"`) {
		t.Errorf("reload diff = %q", diff)
	}

	table.ResetOps()
	if err := d.Reload(ctx, config(t, "", "quiesce", a, b)); err != nil {
		t.Fatal(err)
	}
	if ops := table.Ops(); len(ops) != 1 || ops[0].Kind != ipvstest.DeleteDestination || ops[0].Dest != c.addr {
		t.Fatalf("removing one real server wrote %v, want one delete-destination of %s", ops, c.addr)
	}
}

func TestReloadFailedKeepsRunning(t *testing.T) {
	a := newBackend(t)
	table := ipvstest.New()
	d := start(t, table, config(t, "", "quiesce", a))
	d.waitWeight(a.addr, 2)
	d.ReloadFailed(fmt.Errorf("test.hcl:3,1: Unsupported argument"))
	s := d.Snapshot()
	if s.Config.Generation != 1 || s.Config.ReloadsFailed != 1 || s.Config.LastReloadOK == nil || *s.Config.LastReloadOK || s.Config.LastReloadResult != status.ReloadRejected {
		t.Fatalf("config status = %+v", s.Config)
	}
	if aw := s.VirtualServers[0].RealServers[0].AppliedWeight; aw == nil || *aw != 2 {
		t.Fatalf("applied weight changed after a failed reload: %+v", s.VirtualServers[0].RealServers[0])
	}
}

func TestResyncRepairsFlush(t *testing.T) {
	a := newBackend(t)
	table := ipvstest.New()
	d := start(t, table, config(t, "", "quiesce", a))
	d.waitWeight(a.addr, 2)
	table.Flush()
	n, err := d.Resync(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Resync() = %d, %v; want 2 repairs (service and destination)", n, err)
	}
	d.waitWeight(a.addr, 2)
	if got := d.Snapshot().IPVS.Repairs; got != 2 {
		t.Errorf("repairs counter = %d, want 2", got)
	}
}

func TestSorryServerOnQuorumLoss(t *testing.T) {
	a := newBackend(t)
	table := ipvstest.New()
	f := start(t, table, config(t, `sorry_server = "198.18.0.30:80"`, "quiesce", a))
	sorry := netip.MustParseAddrPort("198.18.0.30:80")
	f.waitWeight(a.addr, 2)
	f.waitWeight(sorry, -1)
	a.Stop()
	f.waitWeight(sorry, 1)
	f.waitWeight(a.addr, 0)
	a.Start()
	f.waitWeight(sorry, -1)
	f.waitWeight(a.addr, 2)
}

// fakeVRRP builds instances on an in-memory link, so tracking is observable. Notify
// commands are not run.
func fakeVRRP(link *vrrptest.Link) VRRPFactory {
	return func(cfg vrrp.Config, log *slog.Logger, onTransition func(string, vrrp.State, vrrp.State)) (*vrrp.Instance, error) {
		return vrrp.NewInstance(cfg, vrrp.Deps{
			Transport:    link.NewPort(netip.MustParseAddr("198.18.0.11")),
			Addresses:    &vrrptest.Addresses{},
			Announcer:    &vrrptest.Announcer{},
			Logger:       log,
			OnTransition: onTransition,
			Notify:       func(context.Context, []string, []string) error { return nil },
		})
	}
}

func TestVirtualServerTrackingLowersPriority(t *testing.T) {
	a := newBackend(t)
	src := fmt.Sprintf(vrrpHCL(`  track_virtual_server "web" { weight = -60 }`)+`
virtual_server "web" {
  address = "198.18.0.254:80"
  protocol = "tcp"
  real_server "a" {
    address = "%s"
    check "tcp" {
      interval = "100ms"
      timeout = "100ms"
      rise = 1
      fall = 1
    }
  }
}`, a.addr)
	cfg, diags := conf.Parse([]byte(src), "vrrp.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler), NewVRRP: fakeVRRP(&vrrptest.Link{})})
	if err := d.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background(), false)
	waitPriority := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		var got int
		for time.Now().Before(deadline) {
			s := d.Snapshot()
			if len(s.VRRP) == 1 {
				if got = s.VRRP[0].EffectivePriority; got == want {
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("effective priority = %d, want %d", got, want)
	}
	waitPriority(150)
	a.Stop()
	waitPriority(90)
	a.Start()
	waitPriority(150)
}

// ipvs_sync: the kernel's sync daemons follow the instance (backup, then master when it
// takes over), a daemon a killed vigil left behind is replaced, a reload that removes the
// block stops them, and Stop stops them.
func TestIPVSSyncFollowsVRRP(t *testing.T) {
	// In a bubble, as TestReloadHandoverOnlyKeepsInstance.
	synctest.Test(t, func(t *testing.T) {
		src := vrrpHCL
		cfg := parseHCL(t, src("  ipvs_sync {\n    interface = \"eth1\"\n  }"))
		// Left by an earlier, killed run with another sync ID.
		sd := startSyncDirector(t, cfg, ipvs.SyncDaemon{State: ipvs.SyncMaster, Interface: "eth1", SyncID: 9})
		d, waitDaemons := sd.d, sd.wait
		// Alone on its link, the instance is backup for 3 x 100 ms + skew, then master.
		waitDaemons("master after the takeover", ipvs.SyncDaemon{State: ipvs.SyncMaster, Interface: "eth1", SyncID: 51})
		s := d.Snapshot()
		if sy := s.VRRP[0].IPVSSync; sy == nil || sy.Daemon != "master" || sy.Interface != "eth1" || sy.SyncID != 51 {
			t.Errorf("status ipvs_sync %+v, want master on eth1, id 51", sy)
		}

		if err := d.Reload(context.Background(), parseHCL(t, src(""))); err != nil {
			t.Fatal(err)
		}
		waitDaemons("none after the block was removed")
		if diff := d.Snapshot().Config.LastReloadDiff; !slices.Contains(diff, `- ipvs_sync (vrrp_instance "VI_1")`) {
			t.Errorf("reload diff %q does not name the ipvs_sync change", diff)
		}
		if err := d.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		waitDaemons("master again", ipvs.SyncDaemon{State: ipvs.SyncMaster, Interface: "eth1", SyncID: 51})
		sd.stop()
		waitDaemons("none after Stop")
	})
}

// A reload that changes only handover sets it on the running instance: no restart, so
// the addresses do not move.
func TestReloadHandoverOnlyKeepsInstance(t *testing.T) {
	// In a bubble: the instance's 100 ms adverts and the wait after the reload run on
	// synctest's clock, not the machine's.
	synctest.Test(t, func(t *testing.T) {
		src := func(extra string) *conf.Config {
			t.Helper()
			cfg, diags := conf.Parse([]byte(vrrpHCL(extra)), "handover.hcl")
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			return cfg
		}
		d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler), NewVRRP: fakeVRRP(&vrrptest.Link{})})
		if err := d.Start(context.Background(), src("")); err != nil {
			t.Fatal(err)
		}
		defer d.Stop(context.Background(), false)
		deadline := time.Now().Add(10 * time.Second)
		for d.Snapshot().VRRP[0].State != "master" {
			if time.Now().After(deadline) {
				t.Fatal("the instance never became master")
			}
			time.Sleep(10 * time.Millisecond)
		}
		before := d.Snapshot().VRRP[0].Transitions
		if err := d.Reload(context.Background(), src("  handover = false")); err != nil {
			t.Fatal(err)
		}
		s := d.Snapshot()
		if !slices.Contains(s.Config.LastReloadDiff, `~ vrrp_instance "VI_1" handover = false (not restarted)`) {
			t.Errorf("reload diff %q", s.Config.LastReloadDiff)
		}
		time.Sleep(200 * time.Millisecond)
		if v := d.Snapshot().VRRP[0]; v.State != "master" || v.Transitions != before {
			t.Errorf("after the reload: %s with %d transitions, want master with %d (not restarted)", v.State, v.Transitions, before)
		}
	})
}

// vrrpHCL is the tests' VRRP instance VI_1 (priority 150, 100 ms adverts) with body added.
func vrrpHCL(body string) string {
	return `
vrrp_instance "VI_1" {
  interface = "eth0"
  virtual_router_id = 51
  priority = 150
  advert_interval = "100ms"
  virtual_ipaddresses = ["198.18.0.254/24"]
` + body + `
}`
}
