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

// expandServices turns a plan's one service, planned with the real servers' configured
// addresses, into one per kernel service of vs.
func expandServices(vs *conf.VirtualServer, p vsPlan) vsPlan {
	keys := kernelKeys(vs)
	tmpl := p.service
	p.more = nil
	for i, key := range keys {
		svc := ipvs.VirtualService{Service: tmpl.Service}
		svc.ServiceKey = key
		svc.Destinations = make([]ipvs.RealServer, len(tmpl.Destinations))
		for j, dst := range tmpl.Destinations {
			dst.Addr = destAddr(dst.Addr, key)
			svc.Destinations[j] = dst
		}
		if i == 0 {
			p.service = svc
		} else {
			p.more = append(p.more, svc)
		}
	}
	return p
}

// services are the plan's kernel services: the first, then the rest of a group's.
func (p vsPlan) services() []ipvs.VirtualService {
	return append([]ipvs.VirtualService{p.service}, p.more...)
}

// writeHealth makes, in every service of the plan, the minimal writes that turn prev's
// destinations into p's (see writeDestination). It returns the errors by service.
func (d *Director) writeHealth(ctx context.Context, prev, p vsPlan) []error {
	var errs []error
	had := prev.services()
	for j, svc := range p.services() {
		if j >= len(had) || len(had[j].Destinations) != len(svc.Destinations) {
			// Not a plan of the same shape (cannot happen between reloads): reconcile.
			if _, err := d.rec.ApplyService(ctx, svc); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		for i, want := range svc.Destinations {
			if err := d.writeDestination(ctx, svc.ServiceKey, had[j].Destinations[i], want); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// applyServices reconciles every service of the plan (the sorry server comes or goes).
func (d *Director) applyServices(ctx context.Context, p vsPlan) []error {
	var errs []error
	for _, svc := range p.services() {
		if _, err := d.rec.ApplyService(ctx, svc); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
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

// stateCarry finds, for a real server whose virtual server changed identity on a reload
// (an address that became a member of a group, a group renamed), the state it had in the
// running configuration: the same address in a virtual server that shared one of its
// services. So moving a service into a group does not drain its healthy real servers.
type stateCarry struct {
	d   *Director
	idx map[carryKey]*rsState // built on the first lookup that needs it
}

type carryKey struct {
	svc  ipvs.ServiceKey
	addr netip.AddrPort
}

func (c *stateCarry) lookup(vs *conf.VirtualServer, rs *conf.RealServer) (*rsState, bool) {
	if c.d.cfg == nil {
		return nil, false
	}
	if c.idx == nil {
		c.idx = map[carryKey]*rsState{}
		for _, old := range c.d.cfg.VirtualServers {
			key := vsKeyOf(old)
			for _, ors := range old.RealServers {
				if s := c.d.states[rsKey{key, ors.Address}]; s != nil {
					for _, svc := range kernelKeys(old) {
						c.idx[carryKey{svc, destAddr(ors.Address, svc)}] = s
					}
				}
			}
		}
	}
	for _, svc := range kernelKeys(vs) {
		if s, ok := c.idx[carryKey{svc, destAddr(rs.Address, svc)}]; ok {
			cp := *s
			return &cp, true
		}
	}
	return nil, false
}
