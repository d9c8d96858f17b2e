package director

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/bgp"
	"github.com/vigil-lb/vigil/internal/state"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

const announceConf = `
bgp {
  asn            = 65000
  router_id      = "198.18.20.11"
  withdraw_delay = "%DELAY%"
  neighbor "198.18.20.1" {
    asn      = 65001
    password = "md5-in-director-test"
  }
}
virtual_server "web" {
  address  = "198.18.30.1:80"
  protocol = "tcp"
  announce = true
  %QUORUM%
  real_server "a" {
    address = "198.18.31.1:80"
  }
  real_server "b" {
    address = "198.18.31.2:80"
  }
}
virtual_server "tls" {
  address  = "198.18.30.1:443"
  protocol = "tcp"
  real_server "a" {
    address = "198.18.31.1:443"
  }
}
virtual_server "api" {
  address  = "198.18.30.2:80"
  protocol = "tcp"
  announce = true
  real_server "a" {
    address = "198.18.31.3:80"
  }
}
virtual_server "local" {
  address  = "198.18.30.3:80"
  protocol = "tcp"
  real_server "a" {
    address = "198.18.31.4:80"
  }
}
`

func announceConfig(t *testing.T, delay, quorum string) *conf.Config {
	t.Helper()
	src := strings.NewReplacer("%DELAY%", delay, "%QUORUM%", quorum).Replace(announceConf)
	cfg, diags := conf.Parse([]byte(src), "announce.hcl")
	if diags.HasErrors() {
		t.Fatalf("config: %v", diags)
	}
	return cfg
}

var (
	vip1 = netip.MustParsePrefix("198.18.30.1/32")
	vip2 = netip.MustParsePrefix("198.18.30.2/32")
)

// TestWantRoutes is the announce rule, on views built by hand.
func TestWantRoutes(t *testing.T) {
	cfg := announceConfig(t, "0s", "")
	up := vsPlan{healthy: 2, ready: 2, quorumUp: true}
	all := func() []vsPlan { return []vsPlan{up, up, up, up} }
	programmedAll := func(*conf.VirtualServer) bool { return true }
	tests := []struct {
		name       string
		phase      phase
		plans      func() []vsPlan
		programmed func(*conf.VirtualServer) bool
		want       map[netip.Prefix]string // prefix -> reason; "up" means announced
	}{
		{"all up", phaseRunning, all, programmedAll, map[netip.Prefix]string{vip1: "up", vip2: "up"}},
		{"quorum lost", phaseRunning, func() []vsPlan { p := all(); p[0].quorumUp = false; return p }, programmedAll,
			map[netip.Prefix]string{vip1: "virtual server web down (quorum lost)", vip2: "up"}},
		{"one of two virtual servers on the VIP down (the one without announce)", phaseRunning,
			func() []vsPlan { p := all(); p[1].quorumUp = false; return p }, programmedAll,
			map[netip.Prefix]string{vip1: "virtual server tls down (quorum lost)", vip2: "up"}},
		{"drained whole", phaseRunning, func() []vsPlan { p := all(); p[2] = vsPlan{healthy: 1, ready: 0}; return p }, programmedAll,
			map[netip.Prefix]string{vip1: "up", vip2: "virtual server api drained"}},
		{"drained counts before quorum", phaseRunning, func() []vsPlan { p := all(); p[2] = vsPlan{ready: 0, quorumUp: true}; return p }, programmedAll,
			map[netip.Prefix]string{vip1: "up", vip2: "virtual server api drained"}},
		{"not programmed", phaseRunning, all, func(vs *conf.VirtualServer) bool { return vs.Name != "api" },
			map[netip.Prefix]string{vip1: "up", vip2: "virtual server api not programmed"}},
		{"stopping", phaseStopping, all, programmedAll,
			map[netip.Prefix]string{vip1: "director stopping", vip2: "director stopping"}},
		// A virtual server that does not announce keeps its address off BGP (local).
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plans := tt.plans()
			v := &view{phase: tt.phase, cfg: cfg, services: makeServiceList(len(plans))}
			for i, p := range plans {
				v.services.set(i, &serviceView{plan: p})
			}
			got := map[netip.Prefix]string{}
			for p, w := range wantRoutes(v, tt.programmed) {
				if w.announce != (w.reason == "up") {
					t.Errorf("%s: announce %v with reason %q", p, w.announce, w.reason)
				}
				got[p] = w.reason
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// fakeLoopback records lo's addresses; pre are there before vigil starts.
type fakeLoopback struct {
	mu    sync.Mutex
	addrs map[netip.Prefix]bool
	log   *[]string
	lock  *sync.Mutex
}

func (l *fakeLoopback) Add(p netip.Prefix) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record("lo add " + p.String())
	if l.addrs[p] {
		return false, nil
	}
	l.addrs[p] = true
	return true, nil
}

func (l *fakeLoopback) Remove(p netip.Prefix) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record("lo del " + p.String())
	delete(l.addrs, p)
	return nil
}

func (l *fakeLoopback) record(s string) {
	l.lock.Lock()
	*l.log = append(*l.log, s)
	l.lock.Unlock()
}

func (l *fakeLoopback) has(p netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addrs[p]
}

// orderedTable records the moment the data plane loses a service, with what was
// announced then.
type orderedTable struct {
	*ipvstest.Table
	sp   *bgp.Fake
	log  *[]string
	lock *sync.Mutex
}

func (o *orderedTable) DeleteService(ctx context.Context, k ipvs.ServiceKey) error {
	o.lock.Lock()
	*o.log = append(*o.log, "table delete "+k.String()+" announced="+strings.Trim(strings.Join(prefixStrings(o.sp.Announced()), ","), " "))
	o.lock.Unlock()
	return o.Table.DeleteService(ctx, k)
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

type announceRig struct {
	d     *Director
	sp    *bgp.Fake
	lo    *fakeLoopback
	table *orderedTable
	log   []string
	lock  sync.Mutex
	cfgs  []bgp.Config
}

func newAnnounceRig(t *testing.T, cfg *conf.Config, onLo ...netip.Prefix) *announceRig {
	t.Helper()
	r := &announceRig{sp: bgp.NewFake()}
	r.lo = &fakeLoopback{addrs: map[netip.Prefix]bool{}, log: &r.log, lock: &r.lock}
	for _, p := range onLo {
		r.lo.addrs[p] = true
	}
	r.table = &orderedTable{Table: ipvstest.New(), sp: r.sp, log: &r.log, lock: &r.lock}
	r.d = New(Options{Table: r.table, Logger: slog.New(slog.DiscardHandler), Dataplane: "kernel", Loopback: r.lo,
		NewSpeaker: func(_ context.Context, c bgp.Config, _ *slog.Logger) (bgp.Speaker, error) {
			r.cfgs = append(r.cfgs, c)
			if len(r.cfgs) > 1 { // a restart: a new speaker
				r.sp = bgp.NewFake()
				r.table.sp = r.sp
			}
			return r.sp, nil
		}})
	if err := r.d.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *announceRig) events() []string {
	r.lock.Lock()
	defer r.lock.Unlock()
	out := r.log
	r.log = nil
	return out
}

func wantAnnounced(t *testing.T, sp *bgp.Fake, want ...netip.Prefix) {
	t.Helper()
	if got := sp.Announced(); !cmp.Equal(got, want, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })) {
		t.Fatalf("announced %v, want %v", got, want)
	}
}

// TestAnnounceLifecycle: the VIPs go on lo and are announced once programmed and up;
// draining a whole service, losing quorum or failing to program it withdraws; a VIP shared
// by two virtual servers needs both; stopping withdraws, waits withdraw_delay, and only
// then lets the data plane go.
func TestAnnounceLifecycle(t *testing.T) {
	ctx := context.Background()
	// 198.18.30.2 is on lo already (the operator's): vigil uses it and leaves it there.
	r := newAnnounceRig(t, announceConfig(t, "300ms", ""), vip2)
	if len(r.cfgs) != 1 || r.cfgs[0].ASN != 65000 || r.cfgs[0].Neighbors[0].Password != "md5-in-director-test" {
		t.Fatalf("speaker config %+v", r.cfgs)
	}
	wantAnnounced(t, r.sp, vip1, vip2)
	ev := r.events()
	if !r.lo.has(vip1) || len(ev) != 2 || !strings.HasPrefix(ev[0], "lo add") {
		t.Errorf("lo: %v", ev)
	}
	if got := r.sp.Log(); !cmp.Equal(got, []string{"announce 198.18.30.1/32", "announce 198.18.30.2/32"}) {
		t.Errorf("speaker log %v", got)
	}
	snap := r.d.Snapshot()
	if snap.BGP == nil || len(snap.BGP.Routes) != 2 || !snap.BGP.Routes[0].Announced || snap.BGP.Routes[0].Reason != "up" ||
		!cmp.Equal(snap.BGP.Routes[0].VirtualServers, []string{"web", "tls"}) {
		t.Errorf("status %+v", snap.BGP)
	}

	// Draining one real server of web changes nothing; draining both withdraws.
	if _, err := r.d.SetAdmin(ctx, "web/a", Drain, false); err != nil {
		t.Fatal(err)
	}
	wantAnnounced(t, r.sp, vip1, vip2)
	if _, err := r.d.SetAdmin(ctx, "web/*", Drain, false); err != nil {
		t.Fatal(err)
	}
	wantAnnounced(t, r.sp, vip2)
	if !r.lo.has(vip1) {
		t.Error("a withdrawn VIP left lo; flows still arriving during convergence would be dropped")
	}
	if _, err := r.d.SetAdmin(ctx, "web/*", Ready, false); err != nil {
		t.Fatal(err)
	}
	wantAnnounced(t, r.sp, vip1, vip2)
	// tls (443 on the same VIP, not announcing itself) drained: the VIP goes.
	if _, err := r.d.SetAdmin(ctx, "tls/a", Maint, false); err != nil {
		t.Fatal(err)
	}
	wantAnnounced(t, r.sp, vip2)
	if got := r.d.Snapshot().BGP.Routes[0].Reason; got != "virtual server tls drained" {
		t.Errorf("reason %q", got)
	}
	if _, err := r.d.SetAdmin(ctx, "tls/a", Ready, false); err != nil {
		t.Fatal(err)
	}
	wantAnnounced(t, r.sp, vip1, vip2)

	// A reload that loses web's quorum withdraws; one back to normal announces again.
	if err := r.d.Reload(ctx, announceConfig(t, "300ms", "quorum = 100")); err != nil {
		t.Fatal(err)
	}
	wantAnnounced(t, r.sp, vip2)
	if err := r.d.Reload(ctx, announceConfig(t, "300ms", "")); err != nil {
		t.Fatal(err)
	}
	wantAnnounced(t, r.sp, vip1, vip2)
	if len(r.cfgs) != 1 {
		t.Errorf("the speaker was restarted by a reload that kept its identity: %d starts", len(r.cfgs))
	}
	r.events()
	r.sp.Log()

	// Stop with remove: withdrawn, withdraw_delay, then the table goes.
	began := time.Now()
	r.d.Stop(ctx, true)
	took := time.Since(began)
	if took < 300*time.Millisecond {
		t.Errorf("Stop took %v, less than withdraw_delay", took)
	}
	ev = r.events()
	var deletes int
	for _, e := range ev {
		if strings.HasPrefix(e, "table delete") {
			deletes++
			if !strings.HasSuffix(e, "announced=") {
				t.Errorf("data plane stopped with routes announced: %s", e)
			}
		}
	}
	if deletes != 4 {
		t.Errorf("events %v: want 4 table deletes", ev)
	}
	if r.lo.has(vip1) || !r.lo.has(vip2) {
		t.Errorf("after stop: vigil's VIP on lo %v (want removed), the operator's %v (want kept)", r.lo.has(vip1), r.lo.has(vip2))
	}
	if got := r.sp.Log(); !cmp.Equal(got[:2], []string{"withdraw 198.18.30.1/32", "withdraw 198.18.30.2/32"}) || got[len(got)-1] != "close" {
		t.Errorf("speaker log at stop %v", got)
	}
}

// TestAnnounceNotProgrammed: a service whose write the table refused is withdrawn, and
// announced again once a resync has written it.
func TestAnnounceNotProgrammed(t *testing.T) {
	ctx := context.Background()
	r := newAnnounceRig(t, announceConfig(t, "0s", ""))
	t.Cleanup(func() { r.d.Stop(ctx, false) })
	wantAnnounced(t, r.sp, vip1, vip2)
	r.table.Fail(ipvstest.AddDestination, errors.New("injected"))
	more := strings.Replace(announceConf, `    address = "198.18.31.3:80"
  }`, `    address = "198.18.31.3:80"
  }
  real_server "b" {
    address = "198.18.31.5:80"
  }`, 1)
	cfg, diags := conf.Parse([]byte(strings.NewReplacer("%DELAY%", "0s", "%QUORUM%", "").Replace(more)), "more.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := r.d.Reload(ctx, cfg); err == nil {
		t.Fatal("reload with a refused write reported no error")
	}
	wantAnnounced(t, r.sp, vip1)
	if got := r.d.Snapshot().BGP.Routes[1].Reason; got != "virtual server api not programmed" {
		t.Errorf("reason %q", got)
	}
	r.table.Fail(ipvstest.AddDestination, nil)
	if _, err := r.d.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	wantAnnounced(t, r.sp, vip1, vip2)
}

// TestAnnounceSpeakerFails: a speaker that cannot start announces nothing and says why in
// the status; the director runs on.
func TestAnnounceSpeakerFails(t *testing.T) {
	lo := &fakeLoopback{addrs: map[netip.Prefix]bool{}, log: new([]string), lock: new(sync.Mutex)}
	d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler), Dataplane: "kernel", Loopback: lo,
		NewSpeaker: func(context.Context, bgp.Config, *slog.Logger) (bgp.Speaker, error) {
			return nil, errors.New("no router id")
		}})
	if err := d.Start(context.Background(), announceConfig(t, "0s", "")); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background(), false)
	st := d.Snapshot().BGP
	if st == nil || st.Error != "no router id" || len(st.Routes) != 2 || st.Routes[0].Announced || st.Routes[0].Reason != "BGP speaker not running" {
		t.Errorf("status %+v", st)
	}
}

// TestAnnounceReloadBGP: a reload that changes only the neighbors keeps the speaker and
// sets them; one that changes the AS restarts it (and announces again); one without the
// bgp block closes it and takes vigil's addresses off lo.
func TestAnnounceReloadBGP(t *testing.T) {
	ctx := context.Background()
	r := newAnnounceRig(t, announceConfig(t, "0s", ""))
	t.Cleanup(func() { r.d.Stop(ctx, false) })
	r.sp.Log()
	reload := func(old, new string) {
		t.Helper()
		src := strings.Replace(strings.NewReplacer("%DELAY%", "0s", "%QUORUM%", "").Replace(announceConf), old, new, 1)
		cfg, diags := conf.Parse([]byte(src), "reload.hcl")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if err := r.d.Reload(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	reload(`neighbor "198.18.20.1" {`, `neighbor "198.18.20.2" {`)
	if got := r.sp.Log(); !cmp.Equal(got, []string{"neighbors"}) || len(r.cfgs) != 1 {
		t.Errorf("neighbor change: speaker log %v, %d starts", got, len(r.cfgs))
	}
	if n := r.sp.Neighbors(); len(n) != 1 || n[0].Address != netip.MustParseAddr("198.18.20.2") {
		t.Errorf("neighbors %+v", n)
	}
	old := r.sp
	reload("asn            = 65000", "asn            = 65010")
	if len(r.cfgs) != 2 || r.cfgs[1].ASN != 65010 {
		t.Fatalf("AS change: %d starts, %+v", len(r.cfgs), r.cfgs)
	}
	if got := old.Log(); len(got) == 0 || got[len(got)-1] != "close" {
		t.Errorf("AS change: the old speaker's log %v, want it closed", got)
	}
	wantAnnounced(t, r.sp, vip1, vip2)
	// Without the bgp block (and announce), the speaker goes and so do vigil's addresses.
	src := strings.NewReplacer("%DELAY%", "0s", "%QUORUM%", "", "announce = true", "").Replace(announceConf)
	src = src[strings.Index(src, "virtual_server"):]
	cfg, diags := conf.Parse([]byte(src), "nobgp.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if err := r.d.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if r.lo.has(vip1) || r.lo.has(vip2) {
		t.Error("addresses left on lo after the bgp block went")
	}
	if r.d.Snapshot().BGP != nil {
		t.Error("status shows BGP without a bgp block")
	}
}

// TestAnnounceAdoptsLoFromStateFile: a director killed before it could take its virtual
// IPs off lo finds them in its state file at the next start: it adopts the one still
// announced (and removes it at its stop) and removes the one no longer configured; an
// address the operator put on lo is neither recorded nor removed.
func TestAnnounceAdoptsLoFromStateFile(t *testing.T) {
	ctx := context.Background()
	gone := netip.MustParsePrefix("198.18.30.9/32")
	path := state.Path(t.TempDir())
	if err := state.Write(path, state.File{Loopback: []netip.Prefix{vip1, gone}}); err != nil {
		t.Fatal(err)
	}
	var log []string
	var mu sync.Mutex
	lo := &fakeLoopback{addrs: map[netip.Prefix]bool{vip1: true, vip2: true, gone: true}, log: &log, lock: &mu}
	d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler), Dataplane: "kernel", Loopback: lo,
		StateFile:  path,
		NewSpeaker: func(context.Context, bgp.Config, *slog.Logger) (bgp.Speaker, error) { return bgp.NewFake(), nil }})
	if err := d.Start(ctx, announceConfig(t, "0s", "")); err != nil {
		t.Fatal(err)
	}
	if lo.has(gone) || !lo.has(vip1) || !lo.has(vip2) {
		t.Errorf("after start: %s on lo %v (want removed), %s %v, %s %v (want kept)", gone, lo.has(gone), vip1, lo.has(vip1), vip2, lo.has(vip2))
	}
	f, err := state.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := prefixStrings(f.Loopback); !cmp.Equal(got, []string{vip1.String()}) {
		t.Errorf("state file's loopback_addresses %v, want only the adopted %s", got, vip1)
	}
	d.Stop(ctx, false)
	if lo.has(vip1) || !lo.has(vip2) {
		t.Errorf("after stop: the adopted %s on lo %v (want removed), the operator's %s %v (want kept)", vip1, lo.has(vip1), vip2, lo.has(vip2))
	}
	if f, err := state.Read(path); err != nil || len(f.Loopback) != 0 {
		t.Errorf("state file after stop: %v, %v; want no loopback address", f.Loopback, err)
	}
}
