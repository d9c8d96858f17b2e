package director

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
)

// prepareKernel sets the IPVS sysctls the configuration needs (or warns where it may not),
// advises on the connections ECMP moves to an announcing director (movedConnectionsWarning),
// and sets the connection timeouts. It runs once per start and reload, so each warning is
// logged once per configuration applied and kept in /status until the next.
// old is the running configuration on a reload (nil at start): unchanged timeouts are not
// written again.
func (d *Director) prepareKernel(ctx context.Context, old, cfg *conf.Config) (warnings []string) {
	warn := func(msg string) {
		d.log.Warn(msg)
		warnings = append(warnings, msg)
	}
	var persistentQuiesce, remove, direct bool
	for _, vs := range cfg.VirtualServers {
		if vs.OnFailure == conf.Remove {
			remove = true
		} else if vs.Persistence != nil {
			persistentQuiesce = true
		}
		for _, rs := range vs.RealServers {
			direct = direct || rs.Forwarding == conf.DR || rs.Forwarding == conf.Tunnel
		}
	}
	need := ipvs.NeededSysctls(persistentQuiesce, remove, direct)
	if sm, ok := d.o.Table.(SysctlManager); ok && need != (ipvs.Sysctls{}) {
		if cfg.Global.ManageSysctls {
			changed, err := sm.EnsureSysctls(need)
			switch {
			case err != nil:
				warn(fmt.Sprintf("set IPVS sysctls: %v", err))
			case len(changed) > 0:
				d.log.Info("IPVS sysctls set so that failed real servers really stop receiving clients", "set", changed)
			}
		} else if have, err := sm.Sysctls(); err == nil {
			for _, name := range have.Missing(need) {
				warn(fmt.Sprintf("%s is 0 and manage_sysctls = false: clients may keep reaching a failed real server; set it to 1", name))
			}
		}
	}
	if sm, ok := d.o.Table.(SysctlManager); ok {
		sloppy := func() (bool, error) {
			s, err := sm.Sysctls()
			return s.SloppyTCP, err
		}
		if msg := movedConnectionsWarning(cfg, sloppy); msg != "" {
			warn(msg)
		}
	}
	if t := cfg.Global.IPVSTimeouts; t != (conf.IPVSTimeouts{}) && (old == nil || old.Global.IPVSTimeouts != t) {
		err := d.o.Table.SetTimeouts(ctx, ipvs.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP})
		if err != nil {
			warn(fmt.Sprintf("set IPVS timeouts: %v", err))
		}
	}
	return warnings
}

// adopt reads the weights the table already holds for configured real servers.
func (d *Director) adopt(ctx context.Context, cfg *conf.Config) map[rsKey]int {
	out := map[rsKey]int{}
	svcs, err := d.o.Table.Services(ctx)
	if err != nil {
		d.log.Warn("read the table for adoption; starting as if it were empty", "err", err)
		return out
	}
	have := map[ipvs.ServiceKey]bool{}
	for _, s := range svcs {
		have[s.ServiceKey] = true
	}
	for _, vs := range cfg.VirtualServers {
		d.adoptVirtualServer(ctx, vs, have, out)
	}
	return out
}

// install builds the view of cfg on top of cur: real servers keep their state across it
// (by virtual server and address, else by a shared service and address: see
// carriedStates), and so do virtual servers their quorum. It rebuilds the loop's
// index of the scheduler's servers. known[i] says whether virtual server i existed in cur.
// adopted holds the weights the table already had at start-up.
func (d *Director) install(cur *view, cfg *conf.Config, adopted map[rsKey]int) (next *view, known []bool) {
	type old struct {
		plan vsPlan
		rs   map[netip.AddrPort]rsState
	}
	before := map[vsKey]old{}
	if cur.cfg != nil {
		for i, vs := range cur.cfg.VirtualServers {
			sv := cur.services.at(i)
			o := old{plan: sv.plan, rs: make(map[netip.AddrPort]rsState, len(vs.RealServers))}
			for j, rs := range vs.RealServers {
				o.rs[rs.Address] = sv.rs[j]
			}
			before[vsKeyOf(vs)] = o
		}
	}
	v := *cur
	next = &v
	next.cfg = cfg
	next.services = makeServiceList(len(cfg.VirtualServers))
	next.names = namesOf(cur.names, cfg)
	known = make([]bool, len(cfg.VirtualServers))
	servers := make(map[string]rsRef, len(d.servers))
	carry := newCarriedStates(cur)
	for i, vs := range cfg.VirtualServers {
		key := vsKeyOf(vs)
		o, ok := before[key]
		known[i] = ok
		// A new virtual server counts as up before its first plan (hysteresis).
		sv := &serviceView{plan: vsPlan{quorumUp: !ok || o.plan.quorumUp}, rs: make([]rsState, len(vs.RealServers))}
		names := next.names[vs]
		for j, rs := range vs.RealServers {
			k := rsKey{key, rs.Address}
			servers[names.servers[j]] = rsRef{i, j}
			s, had := o.rs[rs.Address]
			if !ok {
				s, had = carry.lookup(vs, rs)
			}
			switch {
			case !had:
				s = newRSState(len(rs.Checks) > 0)
				s.since = d.o.Clock.Now()
				if w, ok := adopted[k]; ok && len(rs.Checks) > 0 {
					s.health = adoptedHealth(rs, w)
				}
			case len(rs.Checks) == 0:
				s.health, s.dynamic = Up, -1 // its checks were removed: always up
			}
			sv.rs[j] = s
		}
		next.services.set(i, sv)
	}
	d.servers = servers
	return next, known
}

// applyAll plans every virtual server of next (a view install built, not yet published)
// and applies the whole desired state through the reconciler, which reads the table and
// writes what differs. Quorum changes are logged and every VRRP instance hears each
// virtual server's state.
func (d *Director) applyAll(ctx context.Context, next *view, known []bool) (ipvs.Changes, error) {
	desired := make([]ipvs.VirtualService, 0, len(next.cfg.VirtualServers))
	was := make([]bool, len(next.cfg.VirtualServers))
	for i, vs := range next.cfg.VirtualServers {
		sv := next.services.at(i)
		was[i] = sv.plan.quorumUp
		p, svc := planVirtualServer(vs, sv.rs, sv.plan.quorumUp)
		sv.plan = p
		desired = append(desired, expandServices(vs, svc)...)
	}
	changes, err := d.rec.Apply(ctx, desired)
	if err != nil {
		next.counters.WriteErrors++
	}
	next.counters.Writes = uint64(d.rec.Writes().Total())
	for i, vs := range next.cfg.VirtualServers {
		p := next.services.at(i).plan
		if known[i] && was[i] != p.quorumUp {
			d.quorumChanged(vs, p)
			continue
		}
		d.setTracked(vs, p)
	}
	return changes, err
}

// commit finishes a change: each touched virtual server is planned again and handed to
// the reconciler, which writes what differs from what it last wrote (a weight: one
// UpdateDestination); then the next view is published. A failed write is counted and
// logged; the reconciler retries it at the next change of that virtual server or resync.
func (d *Director) commit(ctx context.Context, c *change) {
	next := c.next
	for _, i := range c.touched {
		vs, sv := next.cfg.VirtualServers[i], next.services.at(i)
		prev := sv.plan
		p, svc := planVirtualServer(vs, sv.rs, prev.quorumUp)
		sv.plan = p
		// A group's real server changes in each of its services: one write per service.
		for _, svc := range expandServices(vs, svc) {
			if _, err := d.rec.Update(ctx, svc); err != nil {
				next.counters.WriteErrors++
				d.log.Error("write real servers; the next resync retries", "virtual_server", vs.Name, "service", svc.ServiceKey.String(), "err", err)
			}
		}
		if p.quorumUp != prev.quorumUp {
			d.quorumChanged(vs, p)
		}
	}
	if len(c.touched) > 0 {
		next.counters.Writes = uint64(d.rec.Writes().Total())
		d.publish(next)
	}
}

// quorumChanged logs a virtual server's new quorum state and reports it to the VRRP
// instances.
func (d *Director) quorumChanged(vs *conf.VirtualServer, p vsPlan) {
	if p.quorumUp {
		d.log.Info("virtual server quorum up", "virtual_server", vs.Name, "healthy_real_servers", p.healthy)
	} else {
		d.log.Warn("virtual server quorum lost", "virtual_server", vs.Name, "healthy_real_servers", p.healthy,
			"sorry_server", p.sorry)
	}
	d.setTracked(vs, p)
	d.notifyQuorum(vs, p)
}

// setTracked tells every VRRP instance the state of vs (an instance ignores names it does
// not track).
func (d *Director) setTracked(vs *conf.VirtualServer, p vsPlan) {
	for _, run := range d.vrrps {
		run.inst.SetTracked(trackVSName(vs.Name), p.quorumUp)
	}
}
