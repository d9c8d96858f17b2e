package director

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
	"github.com/vigil-lb/vigil/vrrp/vrrptest"
)

// syncDirector is a director on a fake table in which an earlier, killed vigil left a
// sync daemon running.
type syncDirector struct {
	t       *testing.T
	d       *Director
	tbl     *ipvstest.Table
	stopped bool
}

func parseHCL(t *testing.T, src string) *conf.Config {
	t.Helper()
	cfg, diags := conf.Parse([]byte(src), "sync.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

func startSyncDirector(t *testing.T, cfg *conf.Config, leftover ipvs.SyncDaemon) *syncDirector {
	t.Helper()
	sd := &syncDirector{t: t, tbl: ipvstest.New()}
	if err := sd.tbl.StartSyncDaemon(context.Background(), leftover); err != nil {
		t.Fatal(err)
	}
	sd.d = New(Options{Table: sd.tbl, Logger: slog.New(slog.DiscardHandler), NewVRRP: fakeVRRP(&vrrptest.Link{})})
	if err := sd.d.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !sd.stopped {
			sd.stop()
		}
	})
	return sd
}

func (sd *syncDirector) stop() {
	sd.d.Stop(context.Background(), false)
	sd.stopped = true
}

// wait waits until the kernel runs exactly the wanted daemons (master first).
func (sd *syncDirector) wait(what string, want ...ipvs.SyncDaemon) {
	sd.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := sd.tbl.SyncDaemons(context.Background())
		slices.SortFunc(got, func(a, b ipvs.SyncDaemon) int { return int(a.State) - int(b.State) })
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			sd.t.Fatalf("%s: sync daemons %+v, want %+v", what, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The top-level ipvs_sync block: both daemons run at once, whatever VRRP does, a daemon a
// killed vigil left behind with another sync ID is replaced, a reload to the pair's
// instance block leaves the one role VRRP gives, and Stop stops both.
func TestIPVSSyncActiveRunsBoth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		active := parseHCL(t, "ipvs_sync {\n  interface = \"eth1\"\n  sync_id = 7\n}\n"+vrrpHCL(""))
		sd := startSyncDirector(t, active, ipvs.SyncDaemon{State: ipvs.SyncBackup, Interface: "eth1", SyncID: 9})
		d, waitDaemons := sd.d, sd.wait
		both := []ipvs.SyncDaemon{{State: ipvs.SyncMaster, Interface: "eth1", SyncID: 7}, {State: ipvs.SyncBackup, Interface: "eth1", SyncID: 7}}
		waitDaemons("both at start", both...)
		// The instance becomes master after 3 x 100 ms + skew: nothing changes.
		time.Sleep(time.Second)
		waitDaemons("both while the instance is master", both...)
		s := d.Snapshot()
		if sy := s.IPVSSync; sy == nil || sy.Daemon != "master+backup" || sy.Interface != "eth1" || sy.SyncID != 7 || sy.Error != "" {
			t.Errorf("status ipvs_sync %+v, want master+backup on eth1, id 7", sy)
		}
		if s.VRRP[0].IPVSSync != nil {
			t.Errorf("the instance reports ipvs_sync %+v; the top-level block drives the daemons", s.VRRP[0].IPVSSync)
		}

		// To the pair's block: the instance is master, so only the master daemon stays.
		if err := d.Reload(context.Background(), parseHCL(t, vrrpHCL("  ipvs_sync {\n    interface = \"eth1\"\n  }"))); err != nil {
			t.Fatal(err)
		}
		waitDaemons("master after the reload to the instance's block", ipvs.SyncDaemon{State: ipvs.SyncMaster, Interface: "eth1", SyncID: 51})
		if diff := d.Snapshot().Config.LastReloadDiff; !slices.Contains(diff, `~ ipvs_sync (vrrp_instance "VI_1", eth1, sync id 51)`) {
			t.Errorf("reload diff %q does not name the ipvs_sync change", diff)
		}
		if d.Snapshot().IPVSSync != nil {
			t.Errorf("top-level ipvs_sync still in status after the reload")
		}
		if err := d.Reload(context.Background(), active); err != nil {
			t.Fatal(err)
		}
		waitDaemons("both again", both...)
		sd.stop()
		waitDaemons("none after Stop")
	})
}
