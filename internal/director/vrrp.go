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
	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/vrrp"
)

// VRRPFactory builds a VRRP instance for cfg; the instance calls onTransition (its
// Deps.OnTransition) after each state change.
type VRRPFactory func(cfg vrrp.Config, log *slog.Logger, onTransition func(name string, from, to vrrp.State)) (*vrrp.Instance, error)

// linuxVRRP builds instances that open the raw socket, netlink and AF_PACKET parts on
// their interface, on clk.
func linuxVRRP(clk clock.Clock) VRRPFactory {
	return func(cfg vrrp.Config, log *slog.Logger, onTransition func(name string, from, to vrrp.State)) (*vrrp.Instance, error) {
		deps, err := vrrp.OpenLinux(cfg, log)
		if err != nil {
			return nil, err
		}
		deps.OnTransition = onTransition
		deps.Clock = clk
		in, err := vrrp.NewInstance(cfg, deps)
		if err != nil {
			deps.Transport.Close()
			return nil, err
		}
		return in, nil
	}
}

// vrrpRun is one running instance.
type vrrpRun struct {
	inst   *vrrp.Instance
	cfg    vrrp.Config
	group  string
	cancel context.CancelFunc
	done   chan struct{}
}

// startVRRP builds and starts the instances of next's configuration that are not already
// running with the same configuration.
func (d *Director) startVRRP(ctx context.Context, next *view) error {
	cfg := next.cfg
	groupOf := groupNames(cfg)
	// The trackers run before the instances that track them (a reload has synced them).
	if _, err := d.syncTrackers(ctx, cfg); err != nil {
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
	// group that did not change (see planVRRP).
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
		for i, vs := range cfg.VirtualServers {
			r.inst.SetTracked(trackVSName(vs.Name), next.services.at(i).plan.quorumUp)
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

// runningVRRP lists the running instances by name, for a view.
func (d *Director) runningVRRP() []*vrrpRun {
	runs := make([]*vrrpRun, 0, len(d.vrrps))
	for _, r := range d.vrrps {
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].cfg.Name < runs[j].cfg.Name })
	return runs
}

// groupNames maps each instance of cfg that is in a sync group to the group's name.
func groupNames(cfg *conf.Config) map[string]string {
	groupOf := map[string]string{}
	for _, g := range cfg.SyncGroups {
		for _, n := range g.Instances {
			groupOf[n] = g.Name
		}
	}
	return groupOf
}

// vrrpPlan is what a reload does to the VRRP instances.
type vrrpPlan struct {
	diff []string
	// stop are the instances removed or changed (a changed one, or one whose sync group
	// changed, is restarted by startVRRP).
	stop []string
	// handover are the instances whose handover alone changed, with the new setting: it
	// is set in place rather than by a restart, which would move the addresses to the
	// peer and back.
	handover map[string]bool
	// dropGroups are the sync groups that changed or went away.
	dropGroups []string
}

// planVRRP works out what a reload of cfg does to the running instances.
func (d *Director) planVRRP(cfg *conf.Config) vrrpPlan {
	var p vrrpPlan
	want := map[string]vrrp.Config{}
	groupOf := groupNames(cfg)
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
	for _, r := range d.runningVRRP() {
		name := r.cfg.Name
		w, keep := want[name]
		onlyHandover := w
		onlyHandover.Handover = r.cfg.Handover
		switch {
		case !keep:
			p.diff = append(p.diff, fmt.Sprintf("- vrrp_instance %q", name))
		case !reflect.DeepEqual(onlyHandover, r.cfg) || groupOf[name] != r.group || changedGroups[r.group] || changedGroups[groupOf[name]]:
			p.diff = append(p.diff, fmt.Sprintf("~ vrrp_instance %q (restarted)", name))
		case w.Handover != r.cfg.Handover:
			if p.handover == nil {
				p.handover = map[string]bool{}
			}
			p.handover[name] = w.Handover
			p.diff = append(p.diff, fmt.Sprintf("~ vrrp_instance %q handover = %t (not restarted)", name, w.Handover))
			continue
		default:
			continue
		}
		p.stop = append(p.stop, name)
	}
	for name := range changedGroups {
		p.dropGroups = append(p.dropGroups, name)
	}
	for _, vi := range cfg.VRRPInstances {
		if _, ok := d.vrrps[vi.Name]; !ok {
			p.diff = append(p.diff, fmt.Sprintf("+ vrrp_instance %q", vi.Name))
		}
	}
	return p
}

// applyVRRP carries out p: the trackers brought in line with next's configuration (their
// diff lines are returned: syncTrackers works them out as it applies), handover settings
// set in place, the removed and changed instances stopped (which waits for their
// priority-0 adverts and handovers), then what is new started.
func (d *Director) applyVRRP(ctx, runCtx context.Context, next *view, p vrrpPlan) (trackDiff []string, err error) {
	trackDiff, err = d.syncTrackers(runCtx, next.cfg)
	if err != nil {
		return trackDiff, err
	}
	for name, on := range p.handover {
		r := *d.vrrps[name] // a view holds the old one: change a copy
		r.inst.SetHandover(on)
		r.cfg.Handover = on
		d.vrrps[name] = &r
	}
	stop := make([]*vrrpRun, 0, len(p.stop))
	for _, name := range p.stop {
		r := d.vrrps[name]
		stop = append(stop, r)
		d.track.detach(r.inst)
		delete(d.vrrps, name)
	}
	for _, name := range p.dropGroups {
		delete(d.groups, name)
	}
	stopVRRP(ctx, d.o.Clock, stop)
	return trackDiff, d.startVRRP(runCtx, next)
}

// stopVRRP stops instances and waits for each to send priority 0 and remove its
// addresses (a master with handover keeps them until its peer has taken over). When ctx
// ends first, handovers are cut short and the instances get two seconds to release.
func stopVRRP(ctx context.Context, clk clock.Clock, runs []*vrrpRun) {
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
			grace := clk.NewTimer(2 * time.Second)
			defer grace.Stop()
			for _, r := range runs {
				select {
				case <-r.done:
				case <-grace.C():
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

// syncConfig is the ipvs_sync block of cfg as a sync daemon target: both roles for the
// top-level block, else the role comes from the instance's transitions.
func syncConfig(cfg *conf.Config) syncTarget {
	if sy := cfg.IPVSSync; sy != nil {
		return syncTarget{configure: true, active: true, iface: sy.Interface, syncID: sy.SyncID}
	}
	for _, vi := range cfg.VRRPInstances {
		if vi.IPVSSync != nil {
			return syncTarget{configure: true, instance: vi.Name, iface: vi.IPVSSync.Interface, syncID: vi.IPVSSync.SyncID}
		}
	}
	return syncTarget{}
}
