package ipvs_test

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/ipvs"
)

// suiteSync starts, lists and stops the kernel's connection-synchronisation daemons in two
// namespaces on one link, and checks that ipvsadm sees what vigil started. (That synced
// connections survive a failover is shown end to end by the HA pair test.)
func suiteSync(t *testing.T) {
	lab := netlab.New(t)
	br := lab.Bridge("sync")
	a, b := lab.Host("synca"), lab.Host("syncb")
	lab.Link(a, "eth0", br, pfx("198.18.0.11/24"))
	lab.Link(b, "eth0", br, pfx("198.18.0.12/24"))
	ka, kb := openIn(t, a), openIn(t, b)
	ctx := bg()

	master := ipvs.SyncDaemon{State: ipvs.SyncMaster, Interface: "eth0", SyncID: 51}
	backup := ipvs.SyncDaemon{State: ipvs.SyncBackup, Interface: "eth0", SyncID: 51}
	mustf(t, ka.StartSyncDaemon(ctx, master), "start master on A")
	mustf(t, kb.StartSyncDaemon(ctx, backup), "start backup on B")
	// A director that changes role runs both for a moment: the kernel allows one of each.
	mustf(t, ka.StartSyncDaemon(ctx, backup), "start backup on A beside its master")

	list := func(k *ipvs.Kernel) []ipvs.SyncDaemon {
		ds, err := k.SyncDaemons(ctx)
		mustf(t, err, "SyncDaemons")
		slices.SortFunc(ds, func(x, y ipvs.SyncDaemon) int { return int(x.State) - int(y.State) })
		return ds
	}
	if got := list(ka); !slices.Equal(got, []ipvs.SyncDaemon{master, backup}) {
		t.Errorf("A runs %+v, want master and backup", got)
	}
	if got := list(kb); !slices.Equal(got, []ipvs.SyncDaemon{backup}) {
		t.Errorf("B runs %+v, want the backup", got)
	}
	out, err := a.Command(ctx, "ipvsadm", "-L", "--daemon").CombinedOutput()
	mustf(t, err, "ipvsadm --daemon")
	for _, want := range []string{"master sync daemon (mcast=eth0, syncid=51", "backup sync daemon (mcast=eth0, syncid=51"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ipvsadm -L --daemon on A:\n%s\nwant a line with %q", out, want)
		}
	}

	if err := ka.StartSyncDaemon(ctx, master); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("second master on A: %v, want EEXIST", err)
	}
	if err := ka.StartSyncDaemon(ctx, ipvs.SyncDaemon{State: ipvs.SyncMaster, Interface: "nosuch0", SyncID: 1}); err == nil {
		t.Error("a daemon on a missing interface started")
	}
	mustf(t, ka.StopSyncDaemon(ctx, ipvs.SyncBackup), "stop A's backup")
	mustf(t, ka.StopSyncDaemon(ctx, ipvs.SyncMaster), "stop A's master")
	if got := list(ka); len(got) != 0 {
		t.Errorf("A still runs %+v", got)
	}
	if err := ka.StopSyncDaemon(ctx, ipvs.SyncMaster); err == nil {
		t.Error("stopping a daemon that does not run: no error")
	} else {
		t.Logf("stopping a stopped daemon: %v", err)
	}
	mustf(t, kb.StopSyncDaemon(ctx, ipvs.SyncBackup), "stop B's backup")
}
