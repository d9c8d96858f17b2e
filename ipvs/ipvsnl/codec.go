package ipvsnl

// The IPVS attributes as ip_vs_ctl.c writes and reads them, as pure functions so they are
// fuzzed on any OS. Requests are encoded with netlink.AttributeEncoder. Replies are walked
// in place: netlink.AttributeDecoder copies every attribute it visits (37 allocations and
// 13-17x the time for one destination, BenchmarkDecodeDestinations), and listing 11,000
// entries has to stay faster than ipvsadm (docs/benchmarks.md).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
)

// IPVS commands (enum IPVS_CMD_*).
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdSetConfig  = 12
	cmdGetConfig  = 13
)

// Top-level attributes (IPVS_CMD_ATTR_*).
const (
	cmdAttrService       = 1
	cmdAttrDest          = 2
	cmdAttrDaemon        = 3
	cmdAttrTimeoutTCP    = 4
	cmdAttrTimeoutTCPFin = 5
	cmdAttrTimeoutUDP    = 6
)

// Service attributes (IPVS_SVC_ATTR_*).
const (
	svcAttrAF        = 1
	svcAttrProtocol  = 2
	svcAttrAddr      = 3
	svcAttrPort      = 4
	svcAttrFWMark    = 5
	svcAttrSchedName = 6
	svcAttrFlags     = 7
	svcAttrTimeout   = 8
	svcAttrNetmask   = 9
	svcAttrStats     = 10
	svcAttrStats64   = 12
)

// Destination attributes (IPVS_DEST_ATTR_*).
const (
	destAttrAddr     = 1
	destAttrPort     = 2
	destAttrFwd      = 3
	destAttrWeight   = 4
	destAttrUThresh  = 5
	destAttrLThresh  = 6
	destAttrActive   = 7
	destAttrInactive = 8
	destAttrPersist  = 9
	destAttrStats    = 10
	destAttrAF       = 11
	destAttrStats64  = 12
)

// Sync daemon attributes (IPVS_DAEMON_ATTR_*).
const (
	daemonAttrState    = 1
	daemonAttrMcastIfn = 2
	daemonAttrSyncID   = 3
)

// Counter attributes (IPVS_STATS_ATTR_*), the same inside STATS and STATS64.
const (
	statsConns    = 1
	statsInPkts   = 2
	statsOutPkts  = 3
	statsInBytes  = 4
	statsOutBytes = 5
	statsCPS      = 6
	statsInPPS    = 7
	statsOutPPS   = 8
	statsInBPS    = 9
	statsOutBPS   = 10
)

const (
	nlaTypeMask = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
	// maxIfnameLen is IP_VS_IFNAME_MAXLEN less its NUL.
	maxIfnameLen = 15
)

var errMalformed = errors.New("malformed IPVS netlink message")

// walkAttrs calls fn for each netlink attribute in b, without copying.
func walkAttrs(b []byte, fn func(typ uint16, v []byte) error) error {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			return errMalformed
		}
		if err := fn(binary.NativeEndian.Uint16(b[2:4])&nlaTypeMask, b[4:l]); err != nil {
			return err
		}
		l = (l + 3) &^ 3
		if l >= len(b) {
			return nil
		}
		b = b[l:]
	}
	return nil
}

func attrU16(v []byte) (uint16, error) {
	if len(v) < 2 {
		return 0, errMalformed
	}
	return binary.NativeEndian.Uint16(v), nil
}

func attrU32(v []byte) (uint32, error) {
	if len(v) < 4 {
		return 0, errMalformed
	}
	return binary.NativeEndian.Uint32(v), nil
}

// attrUint reads a u32 or u64 counter (IPVS_*_ATTR_STATS vs STATS64).
func attrUint(v []byte) (uint64, error) {
	switch {
	case len(v) >= 8:
		return binary.NativeEndian.Uint64(v), nil
	case len(v) >= 4:
		return uint64(binary.NativeEndian.Uint32(v)), nil
	}
	return 0, errMalformed
}

func attrPort(v []byte) (uint16, error) {
	if len(v) < 2 {
		return 0, errMalformed
	}
	return binary.BigEndian.Uint16(v), nil
}

// attrAddr reads a union nf_inet_addr for family af.
func attrAddr(v []byte, af uint16) (netip.Addr, error) {
	switch {
	case af == Inet4 && len(v) >= 4:
		return netip.AddrFrom4([4]byte(v[:4])), nil
	case af == Inet6 && len(v) >= 16:
		return netip.AddrFrom16([16]byte(v[:16])), nil
	}
	return netip.Addr{}, errMalformed
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func decodeStats(b []byte) (Stats, error) {
	var s Stats
	fields := [...]*uint64{
		statsConns: &s.Conns, statsInPkts: &s.InPkts, statsOutPkts: &s.OutPkts,
		statsInBytes: &s.InBytes, statsOutBytes: &s.OutBytes, statsCPS: &s.CPS,
		statsInPPS: &s.InPPS, statsOutPPS: &s.OutPPS, statsInBPS: &s.InBPS, statsOutBPS: &s.OutBPS,
	}
	err := walkAttrs(b, func(typ uint16, v []byte) error {
		if int(typ) >= len(fields) || fields[typ] == nil {
			return nil
		}
		n, err := attrUint(v)
		*fields[typ] = n
		return err
	})
	return s, err
}

// nested returns the payload of the first attribute of type typ in the attributes of one
// reply (the generic-netlink message's data).
func nested(b []byte, typ uint16) ([]byte, error) {
	var out []byte
	err := walkAttrs(b, func(t uint16, v []byte) error {
		if t == typ && out == nil {
			out = v
		}
		return nil
	})
	if err == nil && out == nil {
		err = errMalformed
	}
	return out, err
}

// decodeService decodes the attributes of one reply to a GET_SERVICE dump
// (ip_vs_genl_fill_service).
func decodeService(msg []byte) (Service, error) {
	b, err := nested(msg, cmdAttrService)
	if err != nil {
		return Service{}, err
	}
	var (
		s           Service
		addr        []byte
		port        uint16
		netmask     uint32
		stats, st64 []byte
		haveStats64 bool
	)
	err = walkAttrs(b, func(typ uint16, v []byte) error {
		var err error
		switch typ {
		case svcAttrAF:
			s.Family, err = attrU16(v)
		case svcAttrProtocol:
			s.Protocol, err = attrU16(v)
		case svcAttrAddr:
			addr = v
		case svcAttrPort:
			port, err = attrPort(v)
		case svcAttrFWMark:
			s.FWMark, err = attrU32(v)
		case svcAttrSchedName:
			s.Scheduler = cString(v)
		case svcAttrFlags:
			s.Flags, err = attrU32(v) // struct ip_vs_flags: flags, then mask
		case svcAttrTimeout:
			s.Timeout, err = attrU32(v)
		case svcAttrNetmask:
			netmask, err = attrU32(v)
		case svcAttrStats:
			stats = v
		case svcAttrStats64:
			st64, haveStats64 = v, true
		}
		return err
	})
	if err != nil {
		return Service{}, err
	}
	if s.Family != Inet4 && s.Family != Inet6 {
		return Service{}, fmt.Errorf("%w: service family %d", errMalformed, s.Family)
	}
	if s.FWMark != 0 {
		s.Protocol = 0
	} else {
		a, err := attrAddr(addr, s.Family)
		if err != nil {
			return Service{}, err
		}
		s.Addr = netip.AddrPortFrom(a, port)
	}
	s.Netmask = decodeNetmask(s.Family, netmask)
	if s.Netmask < 0 || s.Netmask > hostBits(s.Family) {
		return Service{}, fmt.Errorf("%w: netmask %d", errMalformed, s.Netmask)
	}
	if haveStats64 {
		stats = st64
	}
	if stats != nil {
		if s.Stats, err = decodeStats(stats); err != nil {
			return Service{}, err
		}
	}
	return s, nil
}

// decodeDestination decodes the attributes of one reply to a GET_DEST dump
// (ip_vs_genl_fill_dest); svcAF is the family of the service, which is the destination's
// on kernels before 3.18 that send no destination family.
func decodeDestination(msg []byte, svcAF uint16) (Destination, error) {
	b, err := nested(msg, cmdAttrDest)
	if err != nil {
		return Destination{}, err
	}
	var (
		d           = Destination{Family: svcAF}
		addr        []byte
		port        uint16
		weight, fwd uint32
		stats, st64 []byte
		haveStats64 bool
	)
	err = walkAttrs(b, func(typ uint16, v []byte) error {
		var err error
		switch typ {
		case destAttrAddr:
			addr = v
		case destAttrPort:
			port, err = attrPort(v)
		case destAttrFwd:
			fwd, err = attrU32(v)
		case destAttrWeight:
			weight, err = attrU32(v)
		case destAttrUThresh:
			d.Upper, err = attrU32(v)
		case destAttrLThresh:
			d.Lower, err = attrU32(v)
		case destAttrActive:
			d.ActiveConns, err = attrU32(v)
		case destAttrInactive:
			d.InactiveConns, err = attrU32(v)
		case destAttrPersist:
			d.PersistConns, err = attrU32(v)
		case destAttrAF:
			d.Family, err = attrU16(v)
		case destAttrStats:
			stats = v
		case destAttrStats64:
			st64, haveStats64 = v, true
		}
		return err
	})
	if err != nil {
		return Destination{}, err
	}
	a, err := attrAddr(addr, d.Family)
	if err != nil {
		return Destination{}, err
	}
	d.Addr = netip.AddrPortFrom(a, port)
	d.Weight = int32(weight)
	d.Forwarding = fwd & ForwardMask
	if haveStats64 {
		stats = st64
	}
	if stats != nil {
		if d.Stats, err = decodeStats(stats); err != nil {
			return Destination{}, err
		}
	}
	return d, nil
}

// decodeDaemon decodes the attributes of one reply to a GET_DAEMON dump
// (ip_vs_genl_dump_daemon).
func decodeDaemon(msg []byte) (Daemon, error) {
	in, err := nested(msg, cmdAttrDaemon)
	if err != nil {
		return Daemon{}, err
	}
	var d Daemon
	err = walkAttrs(in, func(typ uint16, v []byte) error {
		switch typ {
		case daemonAttrState:
			s, err := attrU32(v)
			d.State = s
			return err
		case daemonAttrMcastIfn:
			d.Interface = cString(v)
		case daemonAttrSyncID:
			id, err := attrU32(v)
			if err == nil && id > 255 {
				return errMalformed
			}
			d.SyncID = uint8(id)
			return err
		}
		return nil
	})
	if err == nil && d.State != StateMaster && d.State != StateBackup {
		err = fmt.Errorf("%w: sync daemon state %d", errMalformed, d.State)
	}
	return d, err
}

// decodeTimeouts decodes the reply to GET_CONFIG (top-level IPVS_CMD_ATTR_TIMEOUT_*).
func decodeTimeouts(msg []byte) (Timeouts, error) {
	var t Timeouts
	err := walkAttrs(msg, func(typ uint16, v []byte) error {
		if typ < cmdAttrTimeoutTCP || typ > cmdAttrTimeoutUDP {
			return nil
		}
		secs, err := attrU32(v)
		d := time.Duration(secs) * time.Second
		switch typ {
		case cmdAttrTimeoutTCP:
			t.TCP = d
		case cmdAttrTimeoutTCPFin:
			t.TCPFin = d
		default:
			t.UDP = d
		}
		return err
	})
	return t, err
}

// hostBits is the prefix length of one host in family af.
func hostBits(af uint16) int {
	if af == Inet6 {
		return 128
	}
	return 32
}

// encodeNetmask gives the IPVS_SVC_ATTR_NETMASK value in host byte order: for IPv4 the
// kernel reads the attribute's bytes as a network-order mask (nla_get_be32), for IPv6 as a
// prefix length 1..128 (ip_vs_ctl.c), which is also what ipvsadm sends.
func encodeNetmask(af uint16, prefix int) uint32 {
	if af == Inet6 {
		return uint32(prefix)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ^uint32(0)<<(32-prefix))
	if prefix == 0 {
		b = [4]byte{}
	}
	return binary.NativeEndian.Uint32(b[:])
}

func decodeNetmask(af uint16, v uint32) int {
	if af == Inet6 {
		return int(v)
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return bits.LeadingZeros32(^binary.BigEndian.Uint32(b[:]))
}

// rawAddr is a as the 16 bytes of a union nf_inet_addr.
func rawAddr(a netip.Addr) []byte {
	var raw [16]byte
	if a.Is4() {
		b4 := a.As4()
		copy(raw[:], b4[:])
	} else {
		raw = a.As16()
	}
	return raw[:]
}

// serviceFamily is s.Family, or the family of s.Addr when it is zero.
func serviceFamily(s Service) uint16 {
	if s.Family != 0 {
		return s.Family
	}
	if s.Addr.Addr().Unmap().Is4() {
		return Inet4
	}
	return Inet6
}

// encodeServiceKey encodes the attributes that name s inside IPVS_CMD_ATTR_SERVICE, as
// ip_vs_genl_parse_service reads them: the family, then the firewall mark or the
// protocol, address and port.
func encodeServiceKey(ae *netlink.AttributeEncoder, s Service) error {
	af := serviceFamily(s)
	ae.Uint16(svcAttrAF, af)
	if s.FWMark != 0 {
		ae.Uint32(svcAttrFWMark, s.FWMark)
		return nil
	}
	a := s.Addr.Addr().Unmap()
	if !a.IsValid() || (a.Is4() != (af == Inet4)) {
		return fmt.Errorf("service address %s is not in family %d", s.Addr, af)
	}
	ae.Uint16(svcAttrProtocol, s.Protocol)
	ae.Bytes(svcAttrAddr, rawAddr(a))
	ae.Bytes(svcAttrPort, binary.BigEndian.AppendUint16(nil, s.Addr.Port()))
	return nil
}

// serviceAttrs encodes IPVS_CMD_ATTR_SERVICE: with full, every attribute a new or changed
// service needs (the kernel refuses one without scheduler, flags, timeout and netmask);
// without, only the key (a deletion, a destination command, a destination dump).
func serviceAttrs(ae *netlink.AttributeEncoder, s Service, full bool) {
	ae.Nested(cmdAttrService, func(ae *netlink.AttributeEncoder) error {
		if err := encodeServiceKey(ae, s); err != nil {
			return err
		}
		if !full {
			return nil
		}
		af := serviceFamily(s)
		if s.Netmask < 0 || s.Netmask > hostBits(af) {
			return fmt.Errorf("netmask /%d out of range for family %d", s.Netmask, af)
		}
		if s.Scheduler == "" {
			return errors.New("service has no scheduler")
		}
		ae.String(svcAttrSchedName, s.Scheduler)
		// struct ip_vs_flags: the flags, then the mask of those to set (all of them).
		ae.Bytes(svcAttrFlags, binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(nil, s.Flags), ^uint32(0)))
		ae.Uint32(svcAttrTimeout, s.Timeout)
		ae.Uint32(svcAttrNetmask, encodeNetmask(af, s.Netmask))
		return nil
	})
}

// destAttrs encodes IPVS_CMD_ATTR_DEST for a new or changed destination (full: every
// attribute ip_vs_genl_parse_dest requires) or a deleted one (address and port only).
func destAttrs(ae *netlink.AttributeEncoder, d Destination, full bool) {
	ae.Nested(cmdAttrDest, func(ae *netlink.AttributeEncoder) error {
		a := d.Addr.Addr().Unmap()
		switch {
		case !a.IsValid():
			return errors.New("destination has no address")
		case a.Is4():
			b4 := a.As4()
			ae.Bytes(destAttrAddr, b4[:])
		default:
			b16 := a.As16()
			ae.Bytes(destAttrAddr, b16[:])
		}
		ae.Bytes(destAttrPort, binary.BigEndian.AppendUint16(nil, d.Addr.Port()))
		if !full {
			return nil
		}
		af := Inet6
		if a.Is4() {
			af = Inet4
		}
		ae.Uint32(destAttrFwd, d.Forwarding&ForwardMask)
		ae.Uint32(destAttrWeight, uint32(d.Weight))
		ae.Uint32(destAttrUThresh, d.Upper)
		ae.Uint32(destAttrLThresh, d.Lower)
		ae.Uint16(destAttrAF, af)
		return nil
	})
}

// serviceRequest is the request of a service command or a destination dump.
func serviceRequest(s Service, full bool) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	serviceAttrs(ae, s, full)
	return ae.Encode()
}

// destRequest is the request of a destination command: the service's key and the
// destination.
func destRequest(s Service, d Destination, full bool) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	serviceAttrs(ae, s, false)
	destAttrs(ae, d, full)
	return ae.Encode()
}

// daemonRequest encodes IPVS_CMD_ATTR_DAEMON as ip_vs_genl_new_daemon reads it; a stop
// (full false) needs only the state.
func daemonRequest(d Daemon, full bool) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrDaemon, func(ae *netlink.AttributeEncoder) error {
		ae.Uint32(daemonAttrState, d.State)
		if !full {
			return nil
		}
		if d.Interface == "" || len(d.Interface) > maxIfnameLen {
			return fmt.Errorf("sync daemon interface %q: want 1-%d characters", d.Interface, maxIfnameLen)
		}
		ae.String(daemonAttrMcastIfn, d.Interface)
		ae.Uint32(daemonAttrSyncID, uint32(d.SyncID))
		return nil
	})
	return ae.Encode()
}

// timeoutRequest encodes SET_CONFIG: only the timeouts to change, in whole seconds, since
// ip_vs_genl_set_config keeps the value of every attribute that is absent.
func timeoutRequest(t Timeouts) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	for _, a := range []struct {
		typ uint16
		d   time.Duration
	}{{cmdAttrTimeoutTCP, t.TCP}, {cmdAttrTimeoutTCPFin, t.TCPFin}, {cmdAttrTimeoutUDP, t.UDP}} {
		secs := a.d / time.Second
		if a.d < 0 || secs > 1<<31-1 {
			return nil, fmt.Errorf("timeout %v out of range", a.d)
		}
		if secs > 0 {
			ae.Uint32(a.typ, uint32(secs))
		}
	}
	return ae.Encode()
}

// NetmaskAttr is the value of IPVS_SVC_ATTR_NETMASK for a persistence prefix of family af,
// as a u32 attribute in host byte order carries it (another client's encoder: moby/ipvs).
func NetmaskAttr(af uint16, prefix int) uint32 { return encodeNetmask(af, prefix) }
