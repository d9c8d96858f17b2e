package director

import (
	"context"
	"net/netip"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/ipvs"
)

// tableView is what the table holds for the services of one virtual server (one, or a
// group's), read once per snapshot.
type tableView []tableService

type tableService struct {
	key     ipvs.ServiceKey
	info    ipvs.ServiceInfo
	present bool
	dests   map[netip.AddrPort]ipvs.DestinationInfo
	list    []ipvs.DestinationInfo // the kernel's order
}

// readTable reads the destinations of vs's services that inTable holds.
func (d *Director) readTable(ctx context.Context, vs *conf.VirtualServer, inTable map[ipvs.ServiceKey]ipvs.ServiceInfo) tableView {
	var out tableView
	for _, key := range kernelKeys(vs) {
		sv := tableService{key: key, dests: map[netip.AddrPort]ipvs.DestinationInfo{}}
		sv.info, sv.present = inTable[key]
		if sv.present {
			if ds, err := d.o.Table.Destinations(ctx, key); err == nil {
				for _, dst := range ds {
					sv.dests[dst.Addr] = dst
				}
				sv.list = ds
			}
		}
		out = append(out, sv)
	}
	return out
}

// present: the table holds every service.
func (t tableView) present() bool {
	for _, sv := range t {
		if !sv.present {
			return false
		}
	}
	return len(t) > 0
}

func (t tableView) stats() status.Stats {
	var sum status.Stats
	for _, sv := range t {
		addStats(&sum, stats(sv.info.Stats))
	}
	return sum
}

// accepts adds up the failed accepts of the services that have a listener.
func (t tableView) accepts() status.Accepts {
	var sum status.Accepts
	for _, sv := range t {
		addAccepts(&sum, sv.info.Accepts)
	}
	return sum
}

func addAccepts(sum *status.Accepts, a *ipvs.AcceptStats) {
	if a == nil {
		return
	}
	if sum.AcceptErrors == nil {
		sum.AcceptErrors = new(uint64)
	}
	*sum.AcceptErrors += a.Errors
	sum.AcceptsPaused = sum.AcceptsPaused || a.Paused
}

func addStats(sum *status.Stats, s status.Stats) {
	sum.Conns += s.Conns
	sum.InPkts += s.InPkts
	sum.OutPkts += s.OutPkts
	sum.InBytes += s.InBytes
	sum.OutBytes += s.OutBytes
}

// fill sets r's table fields for the real server configured at addr: in the table when
// every service holds it, at the lowest weight they hold, with their connections and
// counters added up.
func (t tableView) fill(r *status.RealServer, addr netip.AddrPort) {
	in, weight := len(t) > 0, -1
	for _, sv := range t {
		dst, ok := sv.dests[destAddr(addr, sv.key)]
		if !ok {
			in = false
			continue
		}
		if weight < 0 || dst.Weight < weight {
			weight = dst.Weight
		}
		r.ActiveConns += dst.ActiveConns
		r.InactiveConns += dst.InactiveConns
		r.PersistConns += dst.PersistConns
		addStats(&r.Stats, stats(dst.Stats))
	}
	r.InTable = in
	if in {
		r.AppliedWeight = &weight
	}
}

// services renders a group's services one by one, with the destinations of rss (and
// the sorry server when it serves).
func (t tableView) services(vs *conf.VirtualServer, sorry bool) []status.Service {
	out := make([]status.Service, 0, len(t))
	for _, sv := range t {
		s := status.Service{Key: sv.key.String(), Present: sv.present, Stats: stats(sv.info.Stats)}
		addAccepts(&s.Accepts, sv.info.Accepts)
		if sv.key.IsFWMark() {
			s.FWMark = sv.key.FWMark
		} else {
			s.Protocol, s.Address = string(vs.Protocol), sv.key.Addr.String()
		}
		add := func(name string, addr netip.AddrPort, isSorry bool) {
			a := destAddr(addr, sv.key)
			dst := status.Destination{RealServer: name, Address: a.String(), Sorry: isSorry}
			if d, ok := sv.dests[a]; ok {
				dst.InTable, dst.AppliedWeight = true, &d.Weight
				dst.ActiveConns, dst.InactiveConns, dst.Stats = d.ActiveConns, d.InactiveConns, stats(d.Stats)
			}
			s.Destinations = append(s.Destinations, dst)
		}
		for _, rs := range vs.RealServers {
			add(rs.Name, rs.Address, false)
		}
		if sorry {
			add("sorry_server", vs.SorryServer, true)
		}
		out = append(out, s)
	}
	return out
}
