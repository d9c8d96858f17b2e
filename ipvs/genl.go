package ipvs

// Decoding of the kernel's IPVS generic-netlink dumps (include/uapi/linux/ip_vs.h). vigil
// reads the table with its own decoder instead of moby/ipvs's: moby re-parses every
// attribute list twice, allocates a 64 KiB buffer per receive, reads destination weights
// as 16 bits and counters as 32 bits; listing 11,000 entries through it was slower than
// ipvsadm. Pure functions, so they are fuzzed on any OS.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"syscall"
	"time"
)

// syscallErrno turns a kernel error number into the errno errors.Is matches.
func syscallErrno(e int32) error { return syscall.Errno(e) }

// Generic netlink and IPVS numbers.
const (
	genlCtrlFamily       = 0x10 // GENL_ID_CTRL
	genlCtrlCmdGetFamily = 3
	genlCtrlAttrFamilyID = 1
	genlCtrlAttrName     = 2

	ipvsCmdGetService = 4
	ipvsCmdGetDest    = 8

	ipvsCmdAttrService = 1
	ipvsCmdAttrDest    = 2

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

	destAttrAddr     = 1
	destAttrPort     = 2
	destAttrFwd      = 3
	destAttrWeight   = 4
	destAttrUThresh  = 5
	destAttrLThresh  = 6
	destAttrActive   = 7
	destAttrInactive = 8
	destAttrStats    = 10
	destAttrAF       = 11
	destAttrStats64  = 12

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

	nlaTypeMask = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
	genlHdrLen  = 4
)

var errMalformed = errors.New("malformed IPVS netlink message")

// walkAttrs calls fn for each netlink attribute in b.
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
func attrAddr(v []byte, af Family) (netip.Addr, error) {
	switch {
	case af == Inet4 && len(v) >= 4:
		return netip.AddrFrom4([4]byte(v[:4])), nil
	case af == Inet6 && len(v) >= 16:
		return netip.AddrFrom16([16]byte(v[:16])), nil
	}
	return netip.Addr{}, errMalformed
}

func decodeStats(b []byte) (Stats, error) {
	var s Stats
	err := walkAttrs(b, func(typ uint16, v []byte) error {
		var p *uint64
		switch typ {
		case statsConns:
			p = &s.Conns
		case statsInPkts:
			p = &s.InPkts
		case statsOutPkts:
			p = &s.OutPkts
		case statsInBytes:
			p = &s.InBytes
		case statsOutBytes:
			p = &s.OutBytes
		case statsCPS:
			p = &s.CPS
		case statsInPPS:
			p = &s.InPPS
		case statsOutPPS:
			p = &s.OutPPS
		case statsInBPS:
			p = &s.InBPS
		case statsOutBPS:
			p = &s.OutBPS
		default:
			return nil
		}
		n, err := attrUint(v)
		*p = n
		return err
	})
	return s, err
}

// nested returns the payload of the first attribute of type typ in a genl message body.
func nested(msg []byte, typ uint16) ([]byte, error) {
	if len(msg) < genlHdrLen {
		return nil, errMalformed
	}
	var out []byte
	err := walkAttrs(msg[genlHdrLen:], func(t uint16, v []byte) error {
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

// decodeService decodes one IPVS_CMD_NEW_SERVICE message of a GET_SERVICE dump (body after
// the netlink header).
func decodeService(msg []byte) (ServiceInfo, error) {
	b, err := nested(msg, ipvsCmdAttrService)
	if err != nil {
		return ServiceInfo{}, err
	}
	var (
		s            Service
		addr         []byte
		port         uint16
		flags        uint32
		netmask      uint32
		stats, st64  []byte
		haveStats64  bool
		timeoutSecs  uint32
		schedNameRaw []byte
	)
	err = walkAttrs(b, func(typ uint16, v []byte) error {
		var err error
		switch typ {
		case svcAttrAF:
			var af uint16
			af, err = attrU16(v)
			s.Family = Family(af)
		case svcAttrProtocol:
			var p uint16
			p, err = attrU16(v)
			s.Protocol = Protocol(p)
		case svcAttrAddr:
			addr = v
		case svcAttrPort:
			port, err = attrPort(v)
		case svcAttrFWMark:
			s.FWMark, err = attrU32(v)
		case svcAttrSchedName:
			schedNameRaw = v
		case svcAttrFlags:
			flags, err = attrU32(v) // struct ip_vs_flags: flags, then mask
		case svcAttrTimeout:
			timeoutSecs, err = attrU32(v)
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
		return ServiceInfo{}, err
	}
	if s.Family != Inet4 && s.Family != Inet6 {
		return ServiceInfo{}, fmt.Errorf("%w: service family %d", errMalformed, s.Family)
	}
	if s.FWMark != 0 {
		s.Protocol = 0
	} else {
		a, err := attrAddr(addr, s.Family)
		if err != nil {
			return ServiceInfo{}, err
		}
		s.Addr = netip.AddrPortFrom(a, port)
	}
	s.Scheduler = cString(schedNameRaw)
	s.Flags = SchedFlags(flags) & SchedAllMask
	s.Persistent = flags&flagPersistent != 0
	s.Timeout = time.Duration(timeoutSecs) * time.Second
	s.Netmask = decodeNetmask(uint16(s.Family), netmask)
	if s.Netmask < 0 || s.Netmask > s.hostBits() {
		return ServiceInfo{}, fmt.Errorf("%w: netmask %d", errMalformed, s.Netmask)
	}
	info := ServiceInfo{Service: s.Canonical()}
	if haveStats64 {
		stats = st64
	}
	if stats != nil {
		if info.Stats, err = decodeStats(stats); err != nil {
			return ServiceInfo{}, err
		}
	}
	return info, nil
}

// decodeDestination decodes one IPVS_CMD_NEW_DEST message of a GET_DEST dump; svcAF is the
// family of the service, used when the kernel (before 3.18) sends no destination family.
func decodeDestination(msg []byte, svcAF Family) (DestinationInfo, error) {
	b, err := nested(msg, ipvsCmdAttrDest)
	if err != nil {
		return DestinationInfo{}, err
	}
	var (
		d           DestinationInfo
		addr        []byte
		port        uint16
		af          = svcAF
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
		case destAttrAF:
			var f uint16
			f, err = attrU16(v)
			af = Family(f)
		case destAttrStats:
			stats = v
		case destAttrStats64:
			st64, haveStats64 = v, true
		}
		return err
	})
	if err != nil {
		return DestinationInfo{}, err
	}
	a, err := attrAddr(addr, af)
	if err != nil {
		return DestinationInfo{}, err
	}
	d.Addr = netip.AddrPortFrom(a, port)
	d.Weight = int(int32(weight))
	d.Forwarding = Forwarding(fwd & 0x7)
	if haveStats64 {
		stats = st64
	}
	if stats != nil {
		if d.Stats, err = decodeStats(stats); err != nil {
			return DestinationInfo{}, err
		}
	}
	return d, nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// appendAttr appends a netlink attribute to b.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	var h [4]byte
	binary.NativeEndian.PutUint16(h[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(h[2:4], typ)
	b = append(b, h[:]...)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// serviceKeyAttrs encodes the attributes that identify a service (IPVS_CMD_ATTR_SERVICE),
// as the kernel's ip_vs_genl_parse_service wants them for a destination dump.
func serviceKeyAttrs(k ServiceKey) []byte {
	var in []byte
	af := k.Family
	if af == 0 {
		af = FamilyOf(k.Addr.Addr())
	}
	in = appendAttr(in, svcAttrAF, binary.NativeEndian.AppendUint16(nil, uint16(af)))
	if k.IsFWMark() {
		in = appendAttr(in, svcAttrFWMark, binary.NativeEndian.AppendUint32(nil, k.FWMark))
	} else {
		in = appendAttr(in, svcAttrProtocol, binary.NativeEndian.AppendUint16(nil, uint16(k.Protocol)))
		a := k.Addr.Addr().Unmap()
		var raw [16]byte
		if a.Is4() {
			b4 := a.As4()
			copy(raw[:], b4[:])
		} else {
			raw = a.As16()
		}
		in = appendAttr(in, svcAttrAddr, raw[:])
		in = appendAttr(in, svcAttrPort, binary.BigEndian.AppendUint16(nil, k.Addr.Port()))
	}
	return appendAttr(nil, ipvsCmdAttrService, in)
}

// flagPersistent is IP_VS_SVC_F_PERSISTENT.
const flagPersistent = 0x0001

// encodeNetmask gives the IPVS_SVC_ATTR_NETMASK value moby sends in host byte order: for
// IPv4 the kernel reads the attribute's bytes as a network-order mask (nla_get_be32), for
// IPv6 as a prefix length 1..128 (ip_vs_ctl.c), which is also what ipvsadm sends.
func encodeNetmask(af uint16, prefix int) uint32 {
	if Family(af) == Inet6 {
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
	if Family(af) == Inet6 {
		return int(v)
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return bits.LeadingZeros32(^binary.BigEndian.Uint32(b[:]))
}

// Write commands (include/uapi/linux/ip_vs.h).
const (
	ipvsCmdNewDest = 5
	ipvsCmdSetDest = 6
	ipvsCmdDelDest = 7
)

// destAttrs encodes IPVS_CMD_ATTR_DEST for a new, changed (full) or deleted (address and
// port only) destination, as ip_vs_genl_parse_dest reads it.
func destAttrs(d Destination, full bool) []byte {
	a := d.Addr.Addr().Unmap()
	var in []byte
	if a.Is4() {
		b4 := a.As4()
		in = appendAttr(in, destAttrAddr, b4[:])
	} else {
		b16 := a.As16()
		in = appendAttr(in, destAttrAddr, b16[:])
	}
	in = appendAttr(in, destAttrPort, binary.BigEndian.AppendUint16(nil, d.Addr.Port()))
	if full {
		in = appendAttr(in, destAttrFwd, binary.NativeEndian.AppendUint32(nil, uint32(d.Forwarding)&0x7))
		in = appendAttr(in, destAttrWeight, binary.NativeEndian.AppendUint32(nil, uint32(d.Weight)))
		in = appendAttr(in, destAttrUThresh, binary.NativeEndian.AppendUint32(nil, d.Upper))
		in = appendAttr(in, destAttrLThresh, binary.NativeEndian.AppendUint32(nil, d.Lower))
		in = appendAttr(in, destAttrAF, binary.NativeEndian.AppendUint16(nil, uint16(FamilyOf(a))))
	}
	return appendAttr(nil, ipvsCmdAttrDest, in)
}

// Netlink message header (include/uapi/linux/netlink.h).
const (
	nlmsgHdrLen = 16
	nlmsgNoop   = 1
	nlmsgError  = 2
	nlmsgDone   = 3
	nlmFMulti   = 0x2
)

// parseReplies walks the netlink messages of one received datagram and calls fn with the
// body of each reply to request seq. done reports that the request is answered: the dump
// ended, the acknowledgement (or an error, returned as its errno) arrived, or a single
// reply came to a non-dump request. Messages of other sequence numbers are late replies
// to abandoned requests and are skipped.
func parseReplies(b []byte, seq uint32, dump bool, fn func(body []byte) error) (done bool, err error) {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < nlmsgHdrLen || l > len(b) {
			return true, errMalformed
		}
		typ := binary.NativeEndian.Uint16(b[4:6])
		flags := binary.NativeEndian.Uint16(b[6:8])
		mseq := binary.NativeEndian.Uint32(b[8:12])
		body := b[nlmsgHdrLen:l]
		if next := (l + 3) &^ 3; next < len(b) {
			b = b[next:]
		} else {
			b = nil
		}
		if mseq != seq {
			continue
		}
		switch typ {
		case nlmsgDone:
			return true, nil
		case nlmsgError:
			if len(body) < 4 {
				return true, errMalformed
			}
			if e := int32(binary.NativeEndian.Uint32(body[0:4])); e != 0 {
				return true, syscallErrno(-e)
			}
			return true, nil
		case nlmsgNoop:
			continue
		}
		if err := fn(body); err != nil {
			return true, err
		}
		if flags&nlmFMulti == 0 && !dump {
			return true, nil
		}
	}
	return false, nil
}
