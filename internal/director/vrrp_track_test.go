package director

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

func waitVRRP(t *testing.T, d *Director, what string, cond func([]status.VRRPInstance) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last []status.VRRPInstance
	for time.Now().Before(deadline) {
		if last = d.Snapshot().VRRP; cond(last) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; VRRP status %+v", what, last)
}

// The operator's vrrp_script, track_file and a sync group's track_script reach the
// instances with keepalived's weights; a reload that changes only the script restarts
// the script and not the instance; /status names what is tracked.
func TestTrackersFromConfig(t *testing.T) {
	dir := t.TempDir()
	flag, prio := filepath.Join(dir, "haproxy-up"), filepath.Join(dir, "prio")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := func(interval string) *conf.Config {
		t.Helper()
		cfg, diags := conf.Parse([]byte(fmt.Sprintf(`
vrrp_script "chk" {
  command  = ["test", "-e", %q]
  interval = %q
  weight   = -60
}
vrrp_script "group_chk" {
  command  = ["test", "-e", %q]
  interval = "100ms"
}
track_file "prio" {
  path = %q
  init = 5
}
`, flag, interval, flag, prio)+vrrpHCL(`  track_script "chk" {}
  track_file "prio" { weight = 2 }`)+`
vrrp_instance "VI_2" {
  interface = "eth0"
  virtual_router_id = 52
  priority = 100
  advert_interval = "100ms"
  virtual_ipaddresses = ["198.18.0.253/24"]
}
vrrp_sync_group "G" {
  instances = ["VI_2"]
  track_script "group_chk" {}
}
`), "track.hcl")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg
	}
	d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler), NewVRRP: fakeVRRP(&vrrptest.Link{})})
	if err := d.Start(context.Background(), src("100ms")); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background(), false)
	byName := func(vs []status.VRRPInstance, n string) status.VRRPInstance {
		i := slices.IndexFunc(vs, func(v status.VRRPInstance) bool { return v.Name == n })
		if i < 0 {
			return status.VRRPInstance{}
		}
		return vs[i]
	}
	// 150 + 5 x 2 from the file; the script passes (a negative weight adds nothing).
	waitVRRP(t, d, "VI_1 at 160, VI_2 master", func(vs []status.VRRPInstance) bool {
		return byName(vs, "VI_1").EffectivePriority == 160 && byName(vs, "VI_2").State == "master"
	})
	want := []status.Tracked{{Kind: "script", Name: "chk", Up: true, Weight: -60}, {Kind: "file", Name: "prio", Up: true, Weight: 2}}
	if got := byName(d.Snapshot().VRRP, "VI_1").Tracked; !slices.Equal(got, want) {
		t.Errorf("VI_1 tracked %+v, want %+v", got, want)
	}
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	// VI_1: 150 - 60 + 10 = 100; VI_2 in FAULT: its group's script has weight 0.
	waitVRRP(t, d, "VI_1 at 100 and VI_2 in fault", func(vs []status.VRRPInstance) bool {
		return byName(vs, "VI_1").EffectivePriority == 100 && byName(vs, "VI_2").State == "fault"
	})
	os.WriteFile(flag, nil, 0o644)
	waitVRRP(t, d, "VI_2 master again", func(vs []status.VRRPInstance) bool { return byName(vs, "VI_2").State == "master" })

	before := byName(d.Snapshot().VRRP, "VI_1").Transitions
	if err := d.Reload(context.Background(), src("200ms")); err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	if !slices.Contains(s.Config.LastReloadDiff, `~ vrrp_script "chk" (restarted)`) || slices.ContainsFunc(s.Config.LastReloadDiff, func(l string) bool { return l == `~ vrrp_instance "VI_1" (restarted)` }) {
		t.Errorf("reload diff %q: want the script restarted, not the instance", s.Config.LastReloadDiff)
	}
	time.Sleep(300 * time.Millisecond)
	if v := byName(d.Snapshot().VRRP, "VI_1"); v.Transitions != before || v.EffectivePriority != 160 {
		t.Errorf("after the reload VI_1 has %d transitions (was %d), priority %d", v.Transitions, before, v.EffectivePriority)
	}
}

// A tracker that cannot be built (an unknown user) fails the start, naming the block.
func TestTrackerConfigError(t *testing.T) {
	cfg, diags := conf.Parse([]byte(`
vrrp_script "chk" {
  command = ["true"]
  user    = "no-such-user-vigil"
}
`+vrrpHCL(`  track_script "chk" {}`)), "bad.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler), NewVRRP: fakeVRRP(&vrrptest.Link{})})
	err := d.Start(context.Background(), cfg)
	if err == nil {
		d.Stop(context.Background(), false)
		t.Fatal("started with an unknown script user")
	}
	if want := `vrrp_script "chk"`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}
