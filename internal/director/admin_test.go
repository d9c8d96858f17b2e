package director

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/state"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

func startWithState(t *testing.T, table ipvs.Table, cfg *conf.Config, stateFile string) *fixture {
	t.Helper()
	return startWith(t, table, cfg, Options{StateFile: stateFile})
}

func rsStatus(t *testing.T, d *Director, name string) (admin, health string, checks int) {
	t.Helper()
	for _, rs := range d.Snapshot().VirtualServers[0].RealServers {
		if rs.Name == name {
			return rs.AdminState, rs.Health, len(rs.Checks)
		}
	}
	t.Fatalf("no real server %s", name)
	return
}

func TestAdminDrainMaintReady(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	table := ipvstest.New()
	d := start(t, table, config(t, "", "quiesce", a, b))
	d.waitWeight(a.addr, 2)
	d.waitWeight(b.addr, 3)
	ctx := context.Background()

	// drain: weight 0 at once, one write, checks keep running.
	table.ResetOps()
	ch, err := d.SetAdmin(ctx, "web/rs1", Drain, false)
	if err != nil || len(ch) != 1 || !ch[0].Changed || ch[0].From != "ready" || ch[0].To != "drain" {
		t.Fatalf("drain: %+v, %v", ch, err)
	}
	d.waitWeight(a.addr, 0)
	if ops := table.Ops(); len(ops) != 1 || ops[0].Kind != ipvstest.UpdateDestination {
		t.Errorf("drain wrote %v, want one update", ops)
	}
	if adm, h, n := rsStatus(t, d.Director, "rs1"); adm != "drain" || h != "up" || n != 1 {
		t.Errorf("drained rs1: admin %s health %s checks %d; want drain, up, its check running", adm, h, n)
	}
	// Health changes do not undo a drain.
	a.Stop()
	d.step(time.Second)
	a.Start()
	d.step(500 * time.Millisecond)
	d.waitWeight(a.addr, 0)
	// Again: nothing changes.
	if ch, _ := d.SetAdmin(ctx, "web/rs1", Drain, false); ch[0].Changed {
		t.Errorf("a second drain changed %+v", ch)
	}

	// maint by address: checks paused.
	if _, err := d.SetAdmin(ctx, "web/"+b.addr.String(), Maint, false); err != nil {
		t.Fatal(err)
	}
	d.waitWeight(b.addr, 0)
	if adm, _, n := rsStatus(t, d.Director, "rs2"); adm != "maint" || n != 0 {
		t.Errorf("rs2 in maint: admin %s, %d checks; want maint and no check running", adm, n)
	}
	// maint --remove: out of the table.
	if _, err := d.SetAdmin(ctx, "web/rs2", Maint, true); err != nil {
		t.Fatal(err)
	}
	d.waitWeight(b.addr, -1)

	// ready for the whole virtual server: rs1 back at once, rs2 once its check passes.
	ch, err = d.SetAdmin(ctx, "web/*", Ready, false)
	if err != nil || len(ch) != 2 {
		t.Fatalf("ready web/*: %+v, %v", ch, err)
	}
	d.waitWeight(a.addr, 2)
	d.waitWeight(b.addr, 3)
	if adm, h, n := rsStatus(t, d.Director, "rs2"); adm != "ready" || h != "up" || n != 1 {
		t.Errorf("rs2 after ready: %s %s %d checks", adm, h, n)
	}
	// The history says why.
	for _, rs := range d.Snapshot().VirtualServers[0].RealServers {
		if rs.Name != "rs2" {
			continue
		}
		var kinds []string
		for _, tr := range rs.History {
			kinds = append(kinds, tr.Kind+":"+tr.From+">"+tr.To)
		}
		got := strings.Join(kinds, " ")
		for _, want := range []string{"admin:ready>maint", "admin:maint>maint (removed)", "admin:maint (removed)>ready", "health:unknown>up"} {
			if !strings.Contains(got, want) {
				t.Errorf("rs2 history %q lacks %q", got, want)
			}
		}
	}
}

func TestAdminSelectors(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	table := ipvstest.New()
	d := start(t, table, config(t, "", "quiesce", a, b))
	ctx := context.Background()
	for _, tc := range []struct {
		sel     string
		matches int
		err     string
	}{
		{"web/rs1", 1, ""},
		{"web/*", 2, ""},
		{"*/rs2", 1, ""},
		{"*/" + a.addr.Addr().String(), 2, ""}, // a host: both listen on 127.0.0.1
		{"web/" + b.addr.String(), 1, ""},
		{"nope/rs1", 0, `no virtual server "nope" (have: web)`},
		{"web/rs9", 0, `no real server is named "rs9"`},
		{"*/*", 0, "name a virtual server"},
		{"web", 0, "is not VS/RS"},
	} {
		ch, err := d.SetAdmin(ctx, tc.sel, Drain, false)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error with %q", tc.sel, err, tc.err)
			}
			continue
		}
		if err != nil || len(ch) != tc.matches {
			t.Errorf("%s: %d matches (%v), want %d", tc.sel, len(ch), err, tc.matches)
		}
		d.SetAdmin(ctx, "web/*", Ready, false)
	}
	if _, err := d.SetAdmin(ctx, "web/rs9", Drain, false); !errors.Is(err, ErrNoMatch) {
		t.Errorf("no match: %v, want ErrNoMatch", err)
	}
}

// TestStateSurvivesReloadAndRestart: a drained real server stays drained across a reload
// and a restart; the state file says so, and a service vigil owned that the
// configuration dropped while it was stopped is deleted at the next start.
func TestStateSurvivesReloadAndRestart(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	table := ipvstest.New()
	path := filepath.Join(t.TempDir(), state.FileName)
	withExtra := func() *conf.Config {
		cfg := config(t, "", "quiesce", a, b)
		x, diags := conf.Parse([]byte(`virtual_server "extra" {
  address  = "198.18.0.253:80"
  protocol = "tcp"
  real_server "x" {
    address = "198.18.0.30:80"
  }
}`), "extra.hcl")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		cfg.VirtualServers = append(cfg.VirtualServers, x.VirtualServers...)
		return cfg
	}
	d := startWithState(t, table, withExtra(), path)
	d.waitWeight(b.addr, 3)
	ctx := context.Background()
	if _, err := d.SetAdmin(ctx, "web/rs2", Drain, false); err != nil {
		t.Fatal(err)
	}
	d.waitWeight(b.addr, 0)
	f, err := state.Read(path)
	if err != nil || len(f.Admin) != 1 || f.Admin[0].State != "drain" || f.Admin[0].RealServer != "rs2" || len(f.Owned) != 2 {
		t.Fatalf("state file after drain: %+v, %v", f, err)
	}

	// A reload (rs2 renamed: same address, same state).
	cfg := withExtra()
	cfg.VirtualServers[0].RealServers[1].Name = "renamed"
	if err := d.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	d.step(500 * time.Millisecond)
	d.waitWeight(b.addr, 0)
	if adm, _, _ := rsStatus(t, d.Director, "renamed"); adm != "drain" {
		t.Errorf("after a reload: %s, want drain", adm)
	}

	// A restart with the extra virtual server removed from the file meanwhile.
	d.Stop(ctx, false)
	d2 := startWithState(t, table, config(t, "", "quiesce", a, b), path)
	d2.step(500 * time.Millisecond)
	d2.waitWeight(b.addr, 0)
	if adm, _, _ := rsStatus(t, d2.Director, "rs2"); adm != "drain" {
		t.Errorf("after a restart: %s, want drain", adm)
	}
	svcs, _ := table.Services(ctx)
	if len(svcs) != 1 || svcs[0].ServiceKey != vip {
		t.Errorf("after the restart the table holds %v, want only web (extra was dropped from the file)", svcs)
	}
	if f, _ := state.Read(path); len(f.Owned) != 1 {
		t.Errorf("state file owns %v, want web only", f.Owned)
	}
}

func TestCorruptStateFile(t *testing.T) {
	a := newBackend(t)
	table := ipvstest.New()
	dir := t.TempDir()
	path := filepath.Join(dir, state.FileName)
	os.WriteFile(path, []byte(`{"version": 1, "admin_states": [`), 0o600)
	d := startWithState(t, table, config(t, "", "quiesce", a), path)
	s := d.Snapshot()
	if len(s.Warnings) == 0 || !strings.Contains(s.Warnings[0], "starting without it") {
		t.Errorf("warnings %q, want the corrupt state file named", s.Warnings)
	}
	ents, _ := filepath.Glob(path + ".corrupt-*")
	if len(ents) != 1 {
		t.Errorf("corrupt file kept aside as %v, want one", ents)
	}
	if _, err := state.Read(path); err != nil {
		t.Errorf("a new state file was not written: %v", err)
	}
}

func TestPlan(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	table := ipvstest.New()
	cfg := config(t, "", "quiesce", a, b)
	d := start(t, table, cfg)
	d.waitWeight(a.addr, 2)
	d.waitWeight(b.addr, 3)
	ctx := context.Background()

	p, err := d.Plan(ctx, config(t, "", "quiesce", a, b))
	if err != nil || p.Changes() {
		t.Fatalf("plan of the same file: %+v, %v; want no change", p, err)
	}
	writes := d.Snapshot().IPVS.Writes
	p, err = d.Plan(ctx, config(t, "", "quiesce", a))
	if err != nil || !p.Changes() {
		t.Fatalf("plan without rs2: %+v, %v", p, err)
	}
	if len(p.Diff) != 1 || !strings.Contains(p.Diff[0], `- real_server "rs2"`) {
		t.Errorf("diff %q, want rs2 removed", p.Diff)
	}
	if len(p.Impact) != 1 || !strings.Contains(p.Impact[0], `real_server "rs2"`) || !strings.Contains(p.Impact[0], "removed") {
		t.Errorf("impact %q, want rs2 removed with its connections", p.Impact)
	}
	// Weight 0 in the file quiesces.
	q := config(t, "", "quiesce", a, b)
	q.VirtualServers[0].RealServers[0].Weight = 0
	p, _ = d.Plan(ctx, q)
	if len(p.Impact) != 1 || !strings.Contains(p.Impact[0], "quiesced (weight 2 -> 0)") {
		t.Errorf("impact %q, want rs1 quiesced", p.Impact)
	}
	// Nothing was applied.
	d.waitWeight(a.addr, 2)
	d.waitWeight(b.addr, 3)
	if s := d.Snapshot(); s.IPVS.Writes != writes || s.Config.Generation != 1 {
		t.Errorf("plan changed something: writes %d -> %d, generation %d", writes, s.IPVS.Writes, s.Config.Generation)
	}
}
