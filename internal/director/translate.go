package director

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
)

// serviceKey is the IPVS identity of a virtual server: two virtual servers with the same
// key are the same kernel service, whatever their names.
func serviceKey(vs *conf.VirtualServer) ipvs.ServiceKey {
	if vs.IsFWMark() {
		fam := ipvs.Inet4
		if vs.Family == conf.Inet6 {
			fam = ipvs.Inet6
		}
		return ipvs.MarkKey(vs.FWMark, fam)
	}
	return ipvs.AddrKey(protocolOf(vs.Protocol), vs.Address)
}

func protocolOf(p conf.Protocol) ipvs.Protocol {
	switch p {
	case conf.UDP:
		return ipvs.UDP
	case conf.SCTP:
		return ipvs.SCTP
	}
	return ipvs.TCP
}

func forwardingOf(f conf.Forwarding) ipvs.Forwarding {
	switch f {
	case conf.DR:
		return ipvs.Direct
	case conf.Tunnel:
		return ipvs.Tunnel
	}
	return ipvs.NAT
}

// serviceOf is the kernel service a virtual server asks for.
func serviceOf(vs *conf.VirtualServer) ipvs.Service {
	s := ipvs.Service{ServiceKey: serviceKey(vs), Scheduler: string(vs.Scheduler)}
	for _, f := range vs.SchedulerFlags {
		switch f {
		case conf.SHFallback, conf.MHFallback:
			s.Flags |= ipvs.SchedFlag1
		case conf.SHPort, conf.MHPort:
			s.Flags |= ipvs.SchedFlag2
		case conf.OnePacket:
			s.Flags |= ipvs.OnePacket
		}
	}
	if p := vs.Persistence; p != nil {
		s.Persistent = true
		s.Timeout = p.Timeout
		s.Netmask = p.Netmask
	}
	return s
}

// destinationOf is the kernel destination of a real server at a given weight.
func destinationOf(rs *conf.RealServer, weight int) ipvs.Destination {
	return ipvs.Destination{
		Addr:       rs.Address,
		Weight:     weight,
		Forwarding: forwardingOf(rs.Forwarding),
		Upper:      rs.UpperThreshold,
		Lower:      rs.LowerThreshold,
	}
}

// sorryDestination is the sorry server of vs as a destination (weight 1).
func sorryDestination(vs *conf.VirtualServer) ipvs.Destination {
	return ipvs.Destination{Addr: vs.SorryServer, Weight: 1, Forwarding: forwardingOf(vs.Forwarding)}
}

// rsKey identifies a real server across reloads: the virtual server it belongs to (its
// kernel service, or its group) and its configured address. A renamed real server at the
// same address keeps its health.
type rsKey struct {
	svc  vsKey
	addr netip.AddrPort
}

func (k rsKey) String() string { return k.svc.String() + " -> " + k.addr.String() }

// checkFingerprint is equal for two checks exactly when their behaviour is equal, so a
// reload keeps an unchanged check's state and phase and restarts a changed one. Secrets
// take part (a new password restarts the check) but only through a hash. Regular
// expressions marshal as their source text.
func checkFingerprint(c *conf.Check) string {
	h := sha256.New()
	b, _ := json.Marshal(c)
	h.Write(b)
	if c.MySQL != nil {
		h.Write([]byte{0})
		h.Write([]byte(c.MySQL.Password.Reveal()))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
