package director

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/vrrp"
)

// VRRPFactory builds a VRRP instance for cfg; the instance calls onTransition (its
// Deps.OnTransition) after each state change.
type VRRPFactory func(cfg vrrp.Config, log *slog.Logger, onTransition func(name string, from, to vrrp.State)) (*vrrp.Instance, error)

// linuxVRRP opens the raw socket, netlink and AF_PACKET parts on the instance's interface.
func linuxVRRP(cfg vrrp.Config, log *slog.Logger, onTransition func(name string, from, to vrrp.State)) (*vrrp.Instance, error) {
	deps, err := vrrp.OpenLinux(cfg, log)
	if err != nil {
		return nil, err
	}
	deps.OnTransition = onTransition
	in, err := vrrp.NewInstance(cfg, deps)
	if err != nil {
		deps.Transport.Close()
		return nil, err
	}
	return in, nil
}

// vrrpRun is one running instance.
type vrrpRun struct {
	inst   *vrrp.Instance
	cfg    vrrp.Config
	group  string
	cancel context.CancelFunc
	done   chan struct{}
}

// startVRRPLocked builds and starts the instances of cfg that are not already running
// with the same configuration. d.mu is held.
func (d *Director) startVRRPLocked(ctx context.Context, cfg *conf.Config) error {
	groupOf := map[string]string{}
	for _, g := range cfg.SyncGroups {
		for _, n := range g.Instances {
			groupOf[n] = g.Name
		}
	}
	// The trackers run before the instances that track them (a reload has synced them).
	if _, err := d.syncTrackersLocked(ctx, cfg); err != nil {
		return err
	}
	built := map[string]*vrrpRun{}
	for _, vi := range cfg.VRRPInstances {
		if _, running := d.vrrps[vi.Name]; running {
			continue
		}
		vc := vrrpConfig(vi, syncGroupOf(cfg, vi.Name))
		inst, err := d.o.NewVRRP(vc, d.log, d.vrrpTransition)
		if err != nil {
			for _, r := range built {
				r.cancel()
			}
			return fmt.Errorf("vrrp instance %q: %w", vi.Name, err)
		}
		built[vi.Name] = &vrrpRun{inst: inst, cfg: vc, group: groupOf[vi.Name]}
		d.track.attach(inst)
	}
	// A sync group is formed before its members run; members already running belong to a
	// group that did not change (see reloadVRRPLocked).
	for _, g := range cfg.SyncGroups {
		var members []*vrrp.Instance
		for _, n := range g.Instances {
			if r := built[n]; r != nil {
				members = append(members, r.inst)
			}
		}
		if len(members) > 0 {
			if _, err := vrrp.NewSyncGroup(g.Name, members...); err != nil {
				return err
			}
		}
		d.groups[g.Name] = slices.Clone(g.Instances)
	}
	names := make([]string, 0, len(built))
	for n := range built {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := built[n]
		runCtx, cancel := context.WithCancel(ctx)
		r.cancel, r.done = cancel, make(chan struct{})
		// Tell it the tracked virtual servers' state before it runs, so a director
		// whose pool is down never advertises its full priority.
		for key, p := range d.plans {
			if vs := d.vsByKey[key]; vs != nil {
				r.inst.SetTracked(trackVSName(vs.Name), p.quorumUp)
			}
		}
		go func() {
			defer close(r.done)
			if err := r.inst.Run(runCtx); err != nil {
				d.log.Error("vrrp instance stopped", "vrrp_instance", n, "err", err)
			}
		}()
		d.vrrps[n] = r
		d.log.Info("vrrp instance started", "vrrp_instance", n, "interface", r.cfg.Interface,
			"vrid", r.cfg.VRID, "priority", r.cfg.Priority, "version", r.cfg.Version)
	}
	return nil
}

// reloadVRRPLocked stops instances that were removed or changed (a changed one, or one
// whose sync group changed, is restarted), then starts what is new. d.mu is held; it is
// released while stopping instances, which waits for their priority-0 adverts.
func (d *Director) reloadVRRPLocked(ctx, runCtx context.Context, cfg *conf.Config) (diff []string, err error) {
	trackDiff, err := d.syncTrackersLocked(runCtx, cfg)
	if err != nil {
		return trackDiff, err
	}
	defer func() { diff = append(trackDiff, diff...) }()
	want := map[string]vrrp.Config{}
	groupOf := map[string]string{}
	for _, g := range cfg.SyncGroups {
		for _, n := range g.Instances {
			groupOf[n] = g.Name
		}
	}
	for _, vi := range cfg.VRRPInstances {
		want[vi.Name] = vrrpConfig(vi, syncGroupOf(cfg, vi.Name))
	}
	changedGroups := map[string]bool{}
	for _, g := range cfg.SyncGroups {
		if !slices.Equal(d.groups[g.Name], g.Instances) {
			changedGroups[g.Name] = true
		}
	}
	for name := range d.groups {
		if !slices.ContainsFunc(cfg.SyncGroups, func(g *conf.SyncGroup) bool { return g.Name == name }) {
			changedGroups[name] = true
		}
	}
	var stop []*vrrpRun
	for name, r := range d.vrrps {
		w, keep := want[name]
		// handover only matters when the instance stops: set it in place rather than
		// restart the instance, which would move the addresses to the peer and back.
		onlyHandover := w
		onlyHandover.Handover = r.cfg.Handover
		switch {
		case !keep:
			diff = append(diff, fmt.Sprintf("- vrrp_instance %q", name))
		case !reflect.DeepEqual(onlyHandover, r.cfg) || groupOf[name] != r.group || changedGroups[r.group] || changedGroups[groupOf[name]]:
			diff = append(diff, fmt.Sprintf("~ vrrp_instance %q (restarted)", name))
		case w.Handover != r.cfg.Handover:
			r.inst.SetHandover(w.Handover)
			r.cfg.Handover = w.Handover
			diff = append(diff, fmt.Sprintf("~ vrrp_instance %q handover = %t (not restarted)", name, w.Handover))
			continue
		default:
			continue
		}
		stop = append(stop, r)
		d.track.detach(r.inst)
		delete(d.vrrps, name)
	}
	for name := range changedGroups {
		delete(d.groups, name)
	}
	for _, vi := range cfg.VRRPInstances {
		if _, ok := d.vrrps[vi.Name]; !ok && !slices.ContainsFunc(stop, func(r *vrrpRun) bool { return r.cfg.Name == vi.Name }) {
			diff = append(diff, fmt.Sprintf("+ vrrp_instance %q", vi.Name))
		}
	}
	if len(stop) > 0 {
		d.mu.Unlock()
		stopVRRP(ctx, stop)
		d.mu.Lock()
	}
	return diff, d.startVRRPLocked(runCtx, cfg)
}

// stopVRRP stops instances and waits for each to send priority 0 and remove its
// addresses (a master with handover keeps them until its peer has taken over). When ctx
// ends first, handovers are cut short and the instances get two seconds to release.
func stopVRRP(ctx context.Context, runs []*vrrpRun) {
	for _, r := range runs {
		r.cancel()
	}
	for _, r := range runs {
		select {
		case <-r.done:
		case <-ctx.Done():
			for _, r := range runs {
				r.inst.Release()
			}
			grace := time.NewTimer(2 * time.Second)
			defer grace.Stop()
			for _, r := range runs {
				select {
				case <-r.done:
				case <-grace.C:
					return
				}
			}
			return
		}
	}
}

// vrrpTransition is every instance's transition hook (called from its goroutine).
func (d *Director) vrrpTransition(name string, _, to vrrp.State) {
	if d.syncd != nil {
		d.syncd.transition(name, to)
	}
}

// syncConfig is the ipvs_sync block of cfg as a sync daemon target (its role comes from
// the instance's transitions).
func syncConfig(cfg *conf.Config) syncTarget {
	for _, vi := range cfg.VRRPInstances {
		if vi.IPVSSync != nil {
			return syncTarget{configure: true, instance: vi.Name, iface: vi.IPVSSync.Interface, syncID: vi.IPVSSync.SyncID}
		}
	}
	return syncTarget{}
}
