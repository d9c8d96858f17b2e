package director

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/vrrp"
)

// snapshotTimeout bounds the table reads of one Snapshot.
const snapshotTimeout = 3 * time.Second

// Snapshot returns the state of every virtual server, real server, check and VRRP
// instance, with the table's weights and counters. It never holds a secret. The director's
// part comes from one published view, so it is of one configuration generation; the
// table, the checks and the VRRP instances are read live, each from its own owner.
func (d *Director) Snapshot() status.Snapshot {
	snap := status.Snapshot{Version: d.o.Version, PID: os.Getpid(), Dataplane: d.o.Dataplane}
	v, checkList := d.viewAndChecks()
	if v == nil {
		return snap
	}
	snap.Started = v.started
	snap.Config = v.config
	snap.Config.LastReloadDiff = append([]string(nil), v.config.LastReloadDiff...)
	snap.IPVS = v.counters
	snap.Warnings = append([]string(nil), v.warnings...)
	cfg := v.cfg
	snap.RouterID = cfg.Global.RouterID
	snap.BGP = d.routes.status(cfg.BGP)
	if d.syncd != nil {
		if t, role, errText, ok := d.syncd.status(""); ok {
			snap.IPVSSync = &status.IPVSSync{Interface: t.iface, SyncID: int(t.syncID), Daemon: role, Error: errText}
		}
	}

	checksOf := map[string][]checks.CheckStatus{}
	for _, c := range checkList {
		checksOf[c.Server] = append(checksOf[c.Server], c)
	}

	ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
	defer cancel()
	inTable := map[ipvs.ServiceKey]ipvs.ServiceInfo{}
	if svcs, err := d.o.Table.Services(ctx); err == nil {
		for _, s := range svcs {
			inTable[s.ServiceKey] = s
		}
	} else {
		snap.Warnings = append(snap.Warnings, fmt.Sprintf("read the table: %v", err))
	}

	for i, vs := range cfg.VirtualServers {
		key := vsKeyOf(vs)
		sv := v.services.at(i)
		p := sv.plan
		table := d.readTable(ctx, vs, inTable)
		v := status.VirtualServer{
			Name:      vs.Name,
			Key:       key.String(),
			Family:    string(vs.Family),
			Scheduler: string(vs.Scheduler),
			OnFailure: string(vs.OnFailure),
			Healthy:   p.healthy,
			Total:     len(vs.RealServers),
			Ready:     p.ready,
			QuorumUp:  p.quorumUp,
			Present:   table.present(),
			Stats:     table.stats(),
			Accepts:   table.accepts(),
		}
		v.SorryActive = p.sorry
		v.MHFingerprint = mhFingerprint(vs, table)
		switch {
		case vs.Group != "":
			v.Group, v.Protocol = vs.Group, string(vs.Protocol)
			v.Services = table.services(vs, p.sorry)
		case vs.IsFWMark():
			v.FWMark = vs.FWMark
		default:
			v.Protocol, v.Address = string(vs.Protocol), vs.Address.String()
		}
		for _, f := range vs.SchedulerFlags {
			v.Flags = append(v.Flags, string(f))
		}
		if vs.Persistence != nil {
			v.Persistence = vs.Persistence.Timeout.String()
		}
		for j, rs := range vs.RealServers {
			k := rsKey{key, rs.Address}
			st := sv.rs[j]
			r := status.RealServer{
				Name:             rs.Name,
				Address:          rs.Address.String(),
				Forwarding:       string(rs.Forwarding),
				Health:           st.health.String(),
				ConfiguredWeight: rs.Weight,
				AdminState:       st.admin.state.String(),
				AdminRemove:      st.admin.remove,
				AdminSince:       st.admin.since,
				HealthSince:      st.since,
				Flaps:            st.flaps,
				History:          st.history,
			}
			if st.dynamic >= 0 {
				r.DynamicWeight = &st.dynamic
			}
			table.fill(&r, rs.Address)
			// The scheduler's checks of this configuration's: it may already run the
			// next one's while a reload is being applied.
			server := k.String()
			for ci, cc := range rs.Checks {
				id := checkID(server, ci, cc.Kind)
				for _, c := range checksOf[server] {
					if c.ID == id {
						r.Checks = append(r.Checks, checkStatus(c))
					}
				}
			}
			v.RealServers = append(v.RealServers, r)
		}
		if p.sorry {
			r := status.RealServer{Name: "sorry_server", Address: vs.SorryServer.String(), Sorry: true,
				Forwarding: string(vs.Forwarding), Health: "up", ConfiguredWeight: 1}
			table.fill(&r, vs.SorryServer)
			v.RealServers = append(v.RealServers, r)
		}
		snap.VirtualServers = append(snap.VirtualServers, v)
	}

	groupOf := groupNames(cfg)
	for _, r := range v.vrrps {
		vs := vrrpStatus(r.cfg, r.inst.Status(), groupOf[r.cfg.Name])
		if d.syncd != nil {
			if t, role, errText, ok := d.syncd.status(r.cfg.Name); ok {
				vs.IPVSSync = &status.IPVSSync{Interface: t.iface, SyncID: int(t.syncID), Daemon: role, Error: errText}
			}
		}
		snap.VRRP = append(snap.VRRP, vs)
	}
	return snap
}

// viewAndChecks returns the current view and the scheduler's checks of the same
// configuration. A reload holds checksSeq odd from changing the checks to publishing its
// view, which takes no I/O; a reader that overlaps it tries again.
func (d *Director) viewAndChecks() (*view, []checks.CheckStatus) {
	for {
		seq := d.checksSeq.Load()
		if seq%2 == 1 {
			runtime.Gosched()
			continue
		}
		v := d.view.Load()
		if v == nil {
			return nil, nil
		}
		list := d.sched.Snapshot()
		if d.checksSeq.Load() == seq {
			return v, list
		}
	}
}

func stats(s ipvs.Stats) status.Stats {
	return status.Stats{Conns: s.Conns, InPkts: s.InPkts, OutPkts: s.OutPkts, InBytes: s.InBytes, OutBytes: s.OutBytes}
}

func checkStatus(c checks.CheckStatus) status.Check {
	return status.Check{
		Kind:        c.Kind,
		State:       c.Health.State.String(),
		LastOK:      c.Last.OK,
		LastReason:  c.Last.Reason,
		LastLatency: c.Last.Latency,
		LastAt:      c.LastRun,
		Probes:      c.Passes + c.Fails,
		Failures:    c.Fails,
		Transitions: c.Transitions,
		Interval:    c.Interval,
		Timeout:     c.Timeout,
		Rise:        c.Rise,
		Fall:        c.Fall,
	}
}

func vrrpStatus(c vrrp.Config, st vrrp.Status, group string) status.VRRPInstance {
	out := status.VRRPInstance{
		Name:              c.Name,
		Interface:         c.Interface,
		VRID:              int(c.VRID),
		Version:           c.Version,
		State:             stateName(st.State),
		BasePriority:      int(st.BasePriority),
		EffectivePriority: int(st.Priority),
		SyncGroup:         group,
		Transitions:       st.Transitions,
		AdvertsSent:       st.AdvertsSent,
		AdvertsReceived:   st.AdvertsReceived,
	}
	if st.Master.IsValid() {
		out.MasterAddr = st.Master.String()
	}
	for _, v := range c.VIPs {
		out.VIPs = append(out.VIPs, v.String())
	}
	if len(st.Invalid) > 0 {
		out.Invalid = map[string]uint64{}
		for reason, n := range st.Invalid {
			out.Invalid[string(reason)] = n
		}
	}
	for _, t := range c.Tracks {
		kind, name := trackedStatus(t)
		up, known := st.Tracks[t.Name]
		out.Tracked = append(out.Tracked, status.Tracked{Kind: kind, Name: name, Up: up || !known, Weight: t.Weight})
	}
	return out
}

// stateName maps a VRRP state to the words of status.VRRPStateNumber.
func stateName(s vrrp.State) string {
	switch s {
	case vrrp.Backup:
		return "backup"
	case vrrp.Master:
		return "master"
	case vrrp.Fault:
		return "fault"
	}
	return "init"
}
