package director

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
)

// Plan is what a reload of a configuration would do, worked out by the running director
// without applying it (`vigil plan`).
type Plan struct {
	// Diff is the reload's diff, the lines `vigil reload` would print. The VRRP trackers'
	// lines are not in it: they are worked out as a reload applies them.
	Diff []string `json:"diff"`
	// Impact names the real servers that would stop taking new connections (removed or
	// quiesced) with the connections they hold now, and the VRRP instances that would
	// restart or stop.
	Impact []string `json:"impact"`
}

// Changes reports whether applying the plan would change anything.
func (p Plan) Changes() bool { return len(p.Diff) > 0 || len(p.Impact) > 0 }

// Plan works out a reload of cfg on the loop and changes nothing: not the table, not the
// checks, not the VRRP instances, not the state file.
func (d *Director) Plan(ctx context.Context, cfg *conf.Config) (Plan, error) {
	var out Plan
	var stepErr error
	err := d.do(ctx, func(context.Context) { out, stepErr = d.plan(ctx, cfg) })
	return out, errors.Join(err, stepErr)
}

func (d *Director) plan(ctx context.Context, cfg *conf.Config) (Plan, error) {
	if d.cur.phase != phaseRunning {
		return Plan{}, errors.New("director is shutting down")
	}
	rp := d.planReload(cfg)
	out := Plan{Diff: rp.diff}

	// The states the new configuration would start from are install's; install rebuilds
	// the loop's index of the scheduler's servers, which a plan must leave as it is.
	servers := d.servers
	next, _ := d.install(d.cur, cfg, nil)
	d.servers = servers
	type want struct {
		weight  int
		removed bool
	}
	desired := map[ipvs.ServiceKey]map[netip.AddrPort]want{}
	for i, vs := range cfg.VirtualServers {
		sv := next.services.at(i)
		_, svc := planVirtualServer(vs, sv.rs, sv.plan.quorumUp)
		for _, s := range expandServices(vs, svc) {
			m := map[netip.AddrPort]want{}
			for _, dst := range s.Destinations {
				m[dst.Addr] = want{dst.Weight, dst.Removed}
			}
			desired[s.ServiceKey] = m
		}
	}

	// What the table holds now for the running virtual servers.
	for _, vs := range d.cur.cfg.VirtualServers {
		names := map[netip.AddrPort]string{}
		for _, rs := range vs.RealServers {
			for _, k := range kernelKeys(vs) {
				names[destAddr(rs.Address, k)] = rs.Name
			}
		}
		if vs.SorryServer.IsValid() {
			names[vs.SorryServer] = "sorry_server"
		}
		for _, k := range kernelKeys(vs) {
			list, err := d.o.Table.Destinations(ctx, k)
			if err != nil {
				return out, fmt.Errorf("read the destinations of %s: %w", k, err)
			}
			w, svcStays := desired[k]
			for _, di := range list {
				name, ok := names[di.Addr]
				if !ok {
					continue // not vigil's
				}
				nw, destStays := w[di.Addr]
				what := ""
				switch {
				case !svcStays:
					what = fmt.Sprintf("virtual_server %q (%s) removed", vs.Name, k)
				case !destStays || nw.removed:
					what = "removed"
				case nw.weight == 0 && di.Weight > 0:
					what = fmt.Sprintf("quiesced (weight %d -> 0)", di.Weight)
				default:
					continue
				}
				out.Impact = append(out.Impact, fmt.Sprintf("real_server %q %s in %q: %s; holds %d active and %d inactive connections now",
					name, di.Addr, vs.Name, what, di.ActiveConns, di.InactiveConns))
			}
		}
	}
	for _, name := range rp.vrrp.stop {
		r := d.vrrps[name]
		if r == nil {
			continue
		}
		st := stateName(r.inst.Status().State)
		if _, keep := cfgInstance(cfg, name); keep {
			out.Impact = append(out.Impact, fmt.Sprintf("vrrp_instance %q restarts (now %s): it leaves and rejoins the election", name, st))
		} else {
			out.Impact = append(out.Impact, fmt.Sprintf("vrrp_instance %q stops (now %s): its virtual addresses go to the peer", name, st))
		}
	}
	return out, nil
}

func cfgInstance(cfg *conf.Config, name string) (*conf.VRRPInstance, bool) {
	for _, vi := range cfg.VRRPInstances {
		if vi.Name == name {
			return vi, true
		}
	}
	return nil, false
}
