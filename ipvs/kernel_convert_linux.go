package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-lb/vigil/ipvs/ipvsnl"
)

// The model's services and destinations as the kernel numbers them (package ipvsnl), and
// back. The kernel's numbers are the model's: families, protocols, flags and forwarding
// methods convert one to one.

// nlKey is the service k names, with only the fields that identify it.
func nlKey(k ServiceKey) ipvsnl.Service {
	ns := ipvsnl.Service{Family: uint16(k.Family), FWMark: k.FWMark}
	if k.Family == 0 {
		ns.Family = uint16(FamilyOf(k.Addr.Addr()))
	}
	if !k.IsFWMark() {
		ns.Protocol = uint16(k.Protocol)
		ns.Addr = netip.AddrPortFrom(k.Addr.Addr().Unmap(), k.Addr.Port())
	}
	return ns
}

// toNLService is s as the kernel takes it: persistence is a flag and a timeout in
// seconds, and the netmask of a non-persistent service is a whole host.
func toNLService(s Service) (ipvsnl.Service, error) {
	ns := nlKey(s.ServiceKey)
	if s.Scheduler == "" {
		return ns, errors.New("no scheduler")
	}
	ns.Scheduler = s.Scheduler
	ns.Flags = uint32(s.Flags & SchedAllMask)
	hostBits := s.hostBits()
	mask := s.Netmask
	if mask == 0 {
		mask = hostBits
	}
	if mask < 0 || mask > hostBits {
		return ns, fmt.Errorf("netmask /%d out of range for %s", s.Netmask, s.Family)
	}
	ns.Netmask = mask
	if s.Persistent {
		ns.Flags |= ipvsnl.FlagPersistent
		secs := s.Timeout / time.Second
		if secs < 1 || secs > 1<<31 {
			return ns, fmt.Errorf("persistence timeout %v out of range", s.Timeout)
		}
		ns.Timeout = uint32(secs)
	}
	return ns, nil
}

// fromNLService is the service the kernel reported, before Canonical.
func fromNLService(ns ipvsnl.Service) Service {
	k := ServiceKey{Family: Family(ns.Family)}
	if ns.FWMark != 0 {
		k.FWMark = ns.FWMark
	} else {
		k.Protocol, k.Addr = Protocol(ns.Protocol), ns.Addr
	}
	return Service{
		ServiceKey: k,
		Scheduler:  ns.Scheduler,
		Flags:      SchedFlags(ns.Flags) & SchedAllMask,
		Persistent: ns.Flags&ipvsnl.FlagPersistent != 0,
		Timeout:    time.Duration(ns.Timeout) * time.Second,
		Netmask:    ns.Netmask,
	}
}

func toNLDestination(d Destination) ipvsnl.Destination {
	return ipvsnl.Destination{
		Addr:       d.Addr,
		Forwarding: uint32(d.Forwarding),
		Weight:     int32(d.Weight),
		Upper:      d.Upper,
		Lower:      d.Lower,
	}
}

func fromNLDestination(d ipvsnl.Destination) DestinationInfo {
	return DestinationInfo{
		Destination: Destination{
			Addr:       d.Addr,
			Weight:     int(d.Weight),
			Forwarding: Forwarding(d.Forwarding),
			Upper:      d.Upper,
			Lower:      d.Lower,
		},
		ActiveConns:   d.ActiveConns,
		InactiveConns: d.InactiveConns,
		PersistConns:  d.PersistConns,
		Stats:         Stats(d.Stats),
	}
}
