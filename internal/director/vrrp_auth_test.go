package director

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
	"github.com/vigil-lb/vigil/vrrp/advert"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

// The authentication block reaches the instance; a new password restarts it; neither
// /status nor the reload diff shows the password.
func TestVRRPAuthenticationFromConfig(t *testing.T) {
	cfg := func(pw string) *conf.Config {
		t.Helper()
		c, diags := conf.Parse([]byte(`
vrrp_instance "VI_1" {
  interface = "eth0"
  virtual_router_id = 51
  version = 2
  virtual_ipaddresses = ["198.18.0.254/24"]
  authentication {
    type     = "ah"
    password = "`+pw+`"
  }
}`), "auth.hcl")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return c
	}
	first := cfg("first-pw")
	if got := vrrpConfig(first.VRRPInstances[0], nil).Auth; got.Type != advert.AuthAH || got.Key.Reveal() != "first-pw" {
		t.Fatalf("vrrp auth %v %q, want ah with the password", got.Type, got.Key.Reveal())
	}
	d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler), NewVRRP: fakeVRRP(&vrrptest.Link{})})
	if err := d.Start(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background(), false)
	if err := d.Reload(context.Background(), cfg("second-p")); err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	if !slices.ContainsFunc(s.Config.LastReloadDiff, func(l string) bool {
		return strings.HasPrefix(l, `~ vrrp_instance "VI_1"`) && strings.Contains(l, "restarted")
	}) {
		t.Errorf("reload diff %q: want the instance restarted for its new password", s.Config.LastReloadDiff)
	}
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "first-pw") || strings.Contains(string(js), "second-p") {
		t.Errorf("status shows a password: %s", js)
	}
}
