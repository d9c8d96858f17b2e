// Package ipvsnl is a client of the Linux kernel's IPVS generic-netlink family
// (include/uapi/linux/ip_vs.h, net/netfilter/ipvs/ip_vs_ctl.c) over
// github.com/mdlayher/genetlink.
//
// Its types carry the kernel's own numbers (address families, IPPROTO_*, IP_VS_SVC_F_*,
// IP_VS_CONN_F_*) in netip types; package ipvs maps them to its model. The attribute
// encoding and decoding are pure functions (codec.go); the Conn adds one socket policy
// (conn.go).
package ipvsnl

import (
	"net/netip"
	"time"
)

// FamilyName is the generic-netlink family of IPVS (IPVS_GENL_NAME).
const FamilyName = "IPVS"

// Address families (AF_INET, AF_INET6).
const (
	Inet4 uint16 = 2
	Inet6 uint16 = 10
)

// Service flags (IP_VS_SVC_F_*). The scheduler flags and one-packet scheduling are the
// caller's; the kernel adds FlagHashed to every service it reports.
const (
	FlagPersistent uint32 = 0x0001
	FlagHashed     uint32 = 0x0002
)

// ForwardMask selects the forwarding method of a destination's connection flags
// (IP_VS_CONN_F_FWD_MASK): 0 masquerading, 1 local, 2 tunnel, 3 direct routing.
const ForwardMask uint32 = 0x0007

// Sync daemon states (IP_VS_STATE_MASTER, IP_VS_STATE_BACKUP).
const (
	StateMaster uint32 = 1
	StateBackup uint32 = 2
)

// Service is one IPVS service: an address service (Protocol, Addr) or a firewall-mark
// service (FWMark), in the family Family.
type Service struct {
	Family    uint16         // Inet4 or Inet6
	Protocol  uint16         // IPPROTO_TCP, _UDP or _SCTP; 0 for a firewall-mark service
	Addr      netip.AddrPort // zero for a firewall-mark service
	FWMark    uint32         // non-zero for a firewall-mark service
	Scheduler string         // the scheduler's kernel name ("wlc")
	Flags     uint32         // IP_VS_SVC_F_*: FlagPersistent, scheduler flags, one-packet
	Timeout   uint32         // persistence timeout in seconds
	Netmask   int            // persistence granularity as a prefix length (32 / 128: a host)
	Stats     Stats          // read back only
}

// Destination is one real server of a service.
type Destination struct {
	Family        uint16 // of Addr; 0 when writing means Addr's own
	Addr          netip.AddrPort
	Forwarding    uint32 // IP_VS_CONN_F_* forwarding method (ForwardMask bits)
	Weight        int32
	Upper, Lower  uint32 // connection thresholds, 0 for none
	ActiveConns   uint32 // read back only
	InactiveConns uint32 // read back only
	PersistConns  uint32 // read back only: persistence templates pointing at it
	Stats         Stats  // read back only
}

// Stats are the counters and estimated rates of a service or destination, 64 bits wide
// (IPVS_*_ATTR_STATS64; the older 32-bit IPVS_*_ATTR_STATS where that is all there is).
type Stats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64 // counters
	CPS, InPPS, OutPPS, InBPS, OutBPS         uint64 // per-second rates
}

// Timeouts are the connection timeouts of the namespace (IPVS_CMD_ATTR_TIMEOUT_*), in
// whole seconds on the wire. Zero leaves a timeout unchanged when set.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// Daemon is a connection-synchronisation daemon: its state (StateMaster or StateBackup),
// the interface it sends or listens on, and its sync ID.
type Daemon struct {
	State     uint32
	Interface string
	SyncID    uint8
}
