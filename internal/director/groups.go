package director

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
)

// A virtual server stands for one IPVS service, or, with group = "NAME", for one service
// per member of its virtual_server_group (keepalived's virtual_server group). The real
// servers and their checks belong to the virtual server, not to a service: each is
// checked once, and its health sets its weight in every service of the group. This file
// holds what that means for identities, plans, writes and adoption.

// vsKey identifies a virtual server across reloads: the kernel service of a single
// virtual server, or the group's name with the virtual server's protocol (a group may
// serve tcp and udp from two virtual servers). A group's identity does not change when
// its members do, so its real servers keep their health and checks.
type vsKey struct {
	svc   ipvs.ServiceKey // a single virtual server's service; for a group only Protocol and Family
	group string
}

func vsKeyOf(vs *conf.VirtualServer) vsKey {
	if vs.Group == "" {
		return vsKey{svc: serviceKey(vs)}
	}
	k := vsKey{group: vs.Group, svc: ipvs.ServiceKey{Family: ipvs.Inet4}}
	if vs.Family == conf.Inet6 {
		k.svc.Family = ipvs.Inet6
	}
	if vs.Protocol != "" {
		k.svc.Protocol = protocolOf(vs.Protocol)
	}
	return k
}

// String renders the key as ipvsadm does for a single service, and as
// `group "NAME" TCP` for a group.
func (k vsKey) String() string {
	if k.group == "" {
		return k.svc.String()
	}
	s := fmt.Sprintf("group %q", k.group)
	if k.svc.Protocol != 0 {
		s += " " + strings.ToUpper(k.svc.Protocol.String())
	}
	return s
}

// kernelKeys lists the IPVS services vs stands for, in the order of the file.
func kernelKeys(vs *conf.VirtualServer) []ipvs.ServiceKey {
	if vs.Group == "" {
		return []ipvs.ServiceKey{serviceKey(vs)}
	}
	fam := vsKeyOf(vs).svc.Family
	out := make([]ipvs.ServiceKey, 0, len(vs.GroupMembers))
	for _, m := range vs.GroupMembers {
		if m.FWMark != 0 {
			out = append(out, ipvs.MarkKey(m.FWMark, fam))
		} else {
			out = append(out, ipvs.AddrKey(protocolOf(vs.Protocol), m.Address))
		}
	}
	return out
}

// destAddr is where a real server at a receives the traffic of service svc: a real server
// configured without a port takes, in each address service of a group, that service's
// port (in a fwmark service, the client's: port 0).
func destAddr(a netip.AddrPort, svc ipvs.ServiceKey) netip.AddrPort {
	if a.Port() == 0 && !svc.IsFWMark() {
		return netip.AddrPortFrom(a.Addr(), svc.Addr.Port())
	}
	return a
}

// expandServices turns the service planVirtualServer planned with the real servers'
// configured addresses into vs's kernel services: the one, or one per member of its group,
// each with the real servers at the address they serve it on.
func expandServices(vs *conf.VirtualServer, tmpl ipvs.VirtualService) []ipvs.VirtualService {
	if vs.Group == "" {
		return []ipvs.VirtualService{tmpl}
	}
	keys := kernelKeys(vs)
	out := make([]ipvs.VirtualService, len(keys))
	for i, key := range keys {
		svc := ipvs.VirtualService{Service: tmpl.Service, Destinations: make([]ipvs.RealServer, len(tmpl.Destinations))}
		svc.ServiceKey = key
		for j, dst := range tmpl.Destinations {
			dst.Addr = destAddr(dst.Addr, key)
			svc.Destinations[j] = dst
		}
		out[i] = svc
	}
	return out
}

// adoptVirtualServer reads the weights the table holds for vs's real servers, in the
// first of its services that holds them (a group's services agree unless someone edited
// the table by hand; the resync repairs that).
func (d *Director) adoptVirtualServer(ctx context.Context, vs *conf.VirtualServer, have map[ipvs.ServiceKey]bool, out map[rsKey]int) {
	key := vsKeyOf(vs)
	for _, svc := range kernelKeys(vs) {
		if !have[svc] {
			continue
		}
		dests, err := d.o.Table.Destinations(ctx, svc)
		if err != nil {
			d.log.Warn("read destinations for adoption", "service", svc.String(), "err", err)
			continue
		}
		weights := map[netip.AddrPort]int{}
		for _, dst := range dests {
			weights[dst.Addr] = dst.Weight
		}
		for _, rs := range vs.RealServers {
			k := rsKey{key, rs.Address}
			if _, done := out[k]; done {
				continue
			}
			if w, ok := weights[destAddr(rs.Address, svc)]; ok {
				out[k] = w
			}
		}
	}
}

// maxListed bounds the services a reload diff names one by one.
const maxListed = 8

// memberChanges describes how a group's services changed between two virtual servers of
// the same group, as "services + TCP 198.18.0.12:80, - TCP 198.18.0.11:80": the added
// services are created with the real servers at their current weights, the removed ones
// deleted; the real servers keep their health and their checks run on.
func memberChanges(a, b *conf.VirtualServer) []string {
	if a.Group == "" && b.Group == "" {
		return nil
	}
	had := map[ipvs.ServiceKey]bool{}
	for _, k := range kernelKeys(a) {
		had[k] = true
	}
	var added, removed []string
	for _, k := range kernelKeys(b) {
		if !had[k] {
			added = append(added, k.String())
		}
		delete(had, k)
	}
	for _, k := range kernelKeys(a) {
		if had[k] {
			removed = append(removed, k.String())
		}
	}
	list := func(sign string, keys []string) string {
		if len(keys) > maxListed {
			return fmt.Sprintf("%s %s and %d more", sign, strings.Join(keys[:maxListed], ", "+sign+" "), len(keys)-maxListed)
		}
		return sign + " " + strings.Join(keys, ", "+sign+" ")
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, list("+", added))
	}
	if len(removed) > 0 {
		parts = append(parts, list("-", removed))
	}
	if len(parts) == 0 {
		return nil
	}
	return []string{"services " + strings.Join(parts, ", ")}
}

// carriedStates finds, for a virtual server whose identity changed on a reload (an
// address that became a member of a group, a group renamed), the states its real servers
// had: those of the running virtual server that shared one of its services, by address.
// So moving a service into a group does not drain its healthy real servers.
type carriedStates struct {
	byService map[ipvs.ServiceKey]carried
}

type carried struct {
	svc ipvs.ServiceKey
	rs  map[netip.AddrPort]rsState // by the address the real server serves svc on
}

func newCarriedStates(cur *view) carriedStates {
	c := carriedStates{byService: map[ipvs.ServiceKey]carried{}}
	if cur.cfg == nil {
		return c
	}
	for i, vs := range cur.cfg.VirtualServers {
		for _, key := range kernelKeys(vs) {
			o := carried{svc: key, rs: make(map[netip.AddrPort]rsState, len(vs.RealServers))}
			for j, rs := range vs.RealServers {
				o.rs[destAddr(rs.Address, key)] = cur.services.at(i).rs[j]
			}
			c.byService[key] = o
		}
	}
	return c
}

// lookup returns the state rs of vs had in a running virtual server sharing a service.
func (c carriedStates) lookup(vs *conf.VirtualServer, rs *conf.RealServer) (rsState, bool) {
	for _, key := range kernelKeys(vs) {
		if o, ok := c.byService[key]; ok {
			if s, ok := o.rs[destAddr(rs.Address, key)]; ok {
				return s, true
			}
		}
	}
	return rsState{}, false
}
