// Package ipvs keeps a Linux Virtual Server table (services and their destinations) in line
// with a desired state, through a Table that is kernel IPVS or any other data plane.
package ipvs

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Protocol is the transport protocol of an address service, numbered as in IP headers.
type Protocol uint16

// Protocols IPVS balances. The values are the IP protocol numbers the kernel uses.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return fmt.Sprintf("proto(%d)", uint16(p))
}

// Family is an address family, numbered as AF_INET / AF_INET6.
type Family uint16

// Address families.
const (
	Inet4 Family = 2
	Inet6 Family = 10
)

func (f Family) String() string {
	switch f {
	case Inet4:
		return "inet"
	case Inet6:
		return "inet6"
	}
	return fmt.Sprintf("family(%d)", uint16(f))
}

// FamilyOf returns the family of an address (unmapped first).
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return Inet4
	}
	return Inet6
}

// Forwarding is how the director sends a packet to a real server, with the kernel's
// IP_VS_CONN_F_* values.
type Forwarding uint32

// Forwarding methods.
const (
	NAT    Forwarding = 0 // masquerading: the director rewrites the destination
	Local  Forwarding = 1 // the director itself serves (ipvsadm shows "Local"; never configured)
	Tunnel Forwarding = 2 // IP-in-IP to the real server
	Direct Forwarding = 3 // direct routing: the real server holds the VIP itself
)

func (f Forwarding) String() string {
	switch f {
	case NAT:
		return "nat"
	case Local:
		return "local"
	case Tunnel:
		return "tun"
	case Direct:
		return "dr"
	}
	return fmt.Sprintf("fwd(%d)", uint32(f))
}

// Schedulers lists the 13 IPVS schedulers by their kernel names.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}

// SchedFlags are scheduler flags and one-packet scheduling, with the kernel's
// IP_VS_SVC_F_* values. Persistence is not a flag here: see Service.Persistent.
type SchedFlags uint32

// Scheduler flags. sh and mh read flag-1 as fallback and flag-2 as port.
const (
	OnePacket    SchedFlags = 0x0004 // ops: schedule every UDP datagram on its own
	SchedFlag1   SchedFlags = 0x0008 // sh-fallback, mh-fallback
	SchedFlag2   SchedFlags = 0x0010 // sh-port, mh-port
	SchedFlag3   SchedFlags = 0x0020
	SchedAllMask SchedFlags = OnePacket | SchedFlag1 | SchedFlag2 | SchedFlag3
)

// ServiceKey identifies a virtual service: either Protocol and Addr, or FWMark and Family.
// It is comparable and usable as a map key.
type ServiceKey struct {
	Protocol Protocol       // zero for a firewall-mark service
	Addr     netip.AddrPort // zero for a firewall-mark service
	FWMark   uint32         // non-zero for a firewall-mark service
	Family   Family         // Inet4 or Inet6; derived from Addr for address services
}

// AddrKey returns the key of an address service.
func AddrKey(p Protocol, ap netip.AddrPort) ServiceKey {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	return ServiceKey{Protocol: p, Addr: ap, Family: FamilyOf(ap.Addr())}
}

// MarkKey returns the key of a firewall-mark service.
func MarkKey(mark uint32, f Family) ServiceKey {
	return ServiceKey{FWMark: mark, Family: f}
}

// IsFWMark reports whether k names a firewall-mark service.
func (k ServiceKey) IsFWMark() bool { return k.FWMark != 0 }

// String renders k as ipvsadm does: "TCP 10.0.0.1:80", "FWM 6666", "FWM 6666 IPv6".
func (k ServiceKey) String() string {
	if k.IsFWMark() {
		if k.Family == Inet6 {
			return fmt.Sprintf("FWM %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return fmt.Sprintf("%s %s", strings.ToUpper(k.Protocol.String()), k.Addr)
}

// Service is one virtual service as the table holds it.
type Service struct {
	ServiceKey
	Scheduler  string     // one of Schedulers
	Flags      SchedFlags // scheduler flags and one-packet scheduling
	Persistent bool       // persistence on: a client sticks to one destination for Timeout
	Timeout    time.Duration
	// Netmask is the persistence granularity as a prefix length (IPv4 0..32, IPv6 0..128).
	// 0 means a whole host (32 or 128).
	Netmask int
}

// Destination is one real server of a service.
type Destination struct {
	Addr       netip.AddrPort // the port is 0 when it follows the service (fwmark, DR, TUN)
	Weight     int            // 0..65535; 0 quiesces: no new connections, existing ones finish
	Forwarding Forwarding
	Upper      uint32 // upper connection threshold, 0 for none
	Lower      uint32 // lower connection threshold, 0 for none
}

// Stats are a service's or destination's counters and rates as the kernel reports them.
type Stats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64 // counters
	CPS, InPPS, OutPPS, InBPS, OutBPS         uint64 // per-second rates (estimator)
}

// ServiceInfo is a service read back from a table, with its counters.
type ServiceInfo struct {
	Service
	Stats Stats
	// Accepts is a listening service's failed accepts: the userspace data plane's TCP
	// services have one (kernel IPVS accepts nothing; nil there and for UDP).
	Accepts *AcceptStats
}

// AcceptStats count the accept(2) failures of a service's listener that paused its
// accepts (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...), and whether a pause runs now.
type AcceptStats struct {
	Errors uint64
	Paused bool // a pause runs on at least one of the data plane's loops
}

// DestinationInfo is a destination read back from a table, with its connections.
type DestinationInfo struct {
	Destination
	ActiveConns, InactiveConns uint32
	PersistConns               uint32 // persistence templates (kernel IPVS; 0 elsewhere)
	Stats                      Stats
}

// Timeouts are the IPVS connection timeouts (ipvsadm --set tcp tcpfin udp). Zero leaves
// a value unchanged when set.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// Canonical returns s in the form a table reads it back, so that two services that the
// kernel treats alike compare equal: timeout and netmask only matter with persistence, the
// timeout has whole seconds, and a host-wide netmask (32 or 128) is 0.
func (s Service) Canonical() Service {
	s.Flags &= SchedAllMask
	if !s.Persistent {
		s.Timeout, s.Netmask = 0, 0
		return s
	}
	s.Timeout = s.Timeout.Truncate(time.Second)
	if s.Netmask == s.hostBits() {
		s.Netmask = 0
	}
	return s
}

// hostBits is the prefix length of one host in the service's family.
func (k ServiceKey) hostBits() int {
	if k.Family == Inet6 {
		return 128
	}
	return 32
}
