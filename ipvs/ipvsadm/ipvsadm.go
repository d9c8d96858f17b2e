// Package ipvsadm writes a virtual-server table in the text formats of ipvsadm -Ln
// (with --stats and --rate) and -Sn, byte for byte, so that the two can be diffed.
package ipvsadm

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/ipvs"
)

// DefaultHeader is the banner of Debian's 6.1 kernel, used when ListOptions.Header is empty.
const DefaultHeader = "IP Virtual Server version 1.2.1 (size=4096)"

// ListOptions select the columns of WriteList, as ipvsadm's --stats and --rate do.
type ListOptions struct {
	Stats  bool   // counters: Conns InPkts OutPkts InBytes OutBytes
	Rate   bool   // rates: CPS InPPS OutPPS InBPS OutBPS
	Header string // the kernel's banner line (Kernel.Header); DefaultHeader if empty
}

// WriteList writes svcs in the layout of `ipvsadm -Ln` (or -Ln --stats / --rate), sorted
// as ipvsadm sorts, so that the two can be diffed byte for byte.
func WriteList(w io.Writer, svcs []ipvs.ListedService, opts ListOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := opts.Header
	if hdr == "" {
		hdr = DefaultHeader
	}
	bw.WriteString(hdr + "\n")
	switch {
	case opts.Stats:
		fmt.Fprintf(bw, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case opts.Rate:
		fmt.Fprintf(bw, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	default:
		bw.WriteString("Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
	var b []byte
	for _, s := range sortedServices(svcs) {
		b = b[:0]
		n0 := len(b)
		b = appendListName(b, s.ServiceKey)
		switch {
		case opts.Stats:
			b = padRight(b, n0, 33)
			b = appendLargenums(b, s.Stats.Conns, s.Stats.InPkts, s.Stats.OutPkts, s.Stats.InBytes, s.Stats.OutBytes)
		case opts.Rate:
			b = padRight(b, n0, 33)
			b = appendLargenums(b, s.Stats.CPS, s.Stats.InPPS, s.Stats.OutPPS, s.Stats.InBPS, s.Stats.OutBPS)
		default:
			b = append(b, ' ')
			b = append(b, s.Scheduler...)
			if f := schedFlagNames(s.Scheduler, s.Flags); f != "" {
				b = append(b, " ("...)
				b = append(b, f...)
				b = append(b, ')')
			}
			if s.Persistent {
				b = append(b, " persistent "...)
				b = strconv.AppendInt(b, int64(s.Timeout.Seconds()), 10)
				if m := maskString(s.Service); m != "" {
					b = append(b, " mask "...)
					b = append(b, m...)
				}
			}
			if s.Flags&ipvs.OnePacket != 0 {
				b = append(b, " ops"...)
			}
		}
		b = append(b, '\n')
		for _, d := range sortedDests(s.Destinations) {
			b = append(b, "  -> "...)
			n0 := len(b)
			b = appendAddrPort(b, d.Addr)
			b = padRight(b, n0, 28)
			switch {
			case opts.Stats:
				b = appendLargenums(b, d.Stats.Conns, d.Stats.InPkts, d.Stats.OutPkts, d.Stats.InBytes, d.Stats.OutBytes)
			case opts.Rate:
				// ipvsadm prints the first three rates as plain %8u, the byte rates scaled.
				for _, v := range []uint64{uint64(uint32(d.Stats.CPS)), uint64(uint32(d.Stats.InPPS)), uint64(uint32(d.Stats.OutPPS))} {
					b = append(b, ' ')
					b = padLeftUint(b, v, 8)
				}
				b = appendLargenums(b, d.Stats.InBPS, d.Stats.OutBPS)
			default:
				b = append(b, ' ')
				n1 := len(b)
				b = append(b, fwdName(d.Forwarding)...)
				b = padRight(b, n1, 7)
				b = append(b, ' ')
				n1 = len(b)
				b = strconv.AppendInt(b, int64(d.Weight), 10)
				b = padRight(b, n1, 6)
				b = append(b, ' ')
				n1 = len(b)
				b = strconv.AppendUint(b, uint64(d.ActiveConns), 10)
				b = padRight(b, n1, 10)
				b = append(b, ' ')
				n1 = len(b)
				b = strconv.AppendUint(b, uint64(d.InactiveConns), 10)
				b = padRight(b, n1, 10)
			}
			b = append(b, '\n')
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteSave writes svcs as `ipvsadm -Sn` does: rules that `ipvsadm -R` restores.
func WriteSave(w io.Writer, svcs []ipvs.ListedService) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var b, name []byte
	for _, s := range sortedServices(svcs) {
		name = appendRuleName(name[:0], s.ServiceKey)
		// ipvsadm 1.31's order (checked against it in the VM): -p -M, -o, then -b; the
		// list layout puts the flags first instead.
		b = append(b[:0], "-A "...)
		b = append(b, name...)
		b = append(b, " -s "...)
		b = append(b, s.Scheduler...)
		if s.Persistent {
			b = append(b, " -p "...)
			b = strconv.AppendInt(b, int64(s.Timeout.Seconds()), 10)
			if m := maskString(s.Service); m != "" {
				b = append(b, " -M "...)
				b = append(b, m...)
			}
		}
		if s.Flags&ipvs.OnePacket != 0 {
			b = append(b, " -o"...)
		}
		if f := schedFlagNames(s.Scheduler, s.Flags); f != "" {
			b = append(b, " -b "...)
			b = append(b, f...)
		}
		b = append(b, '\n')
		for _, d := range sortedDests(s.Destinations) {
			b = append(b, "-a "...)
			b = append(b, name...)
			b = append(b, " -r "...)
			b = appendAddrPort(b, d.Addr)
			b = append(b, ' ')
			b = append(b, fwdSwitch(d.Forwarding)...)
			b = append(b, " -w "...)
			b = strconv.AppendInt(b, int64(d.Weight), 10)
			if d.Forwarding == ipvs.Tunnel {
				// Kernels since 5.2 report a tunnel type; vigil only programs IP-in-IP.
				b = append(b, " --tun-type ipip"...)
			}
			b = append(b, '\n')
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func appendListName(b []byte, k ipvs.ServiceKey) []byte {
	if k.IsFWMark() {
		b = append(b, "FWM  "...)
		b = strconv.AppendUint(b, uint64(k.FWMark), 10)
		if k.Family == ipvs.Inet6 {
			b = append(b, " IPv6"...)
		}
		return b
	}
	n0 := len(b)
	b = append(b, strings.ToUpper(k.Protocol.String())...)
	b = padRight(b, n0, 4)
	b = append(b, ' ')
	return appendAddrPort(b, k.Addr)
}

func appendRuleName(b []byte, k ipvs.ServiceKey) []byte {
	if k.IsFWMark() {
		b = append(b, "-f "...)
		b = strconv.AppendUint(b, uint64(k.FWMark), 10)
		if k.Family == ipvs.Inet6 {
			b = append(b, " -6"...)
		}
		return b
	}
	switch k.Protocol {
	case ipvs.UDP:
		b = append(b, "-u "...)
	case ipvs.SCTP:
		b = append(b, "--sctp-service "...)
	default:
		b = append(b, "-t "...)
	}
	return appendAddrPort(b, k.Addr)
}

// appendAddrPort is ipvsadm's numeric address: a.b.c.d:port or [v6]:port.
func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	if a.Is4() {
		b = a.AppendTo(b)
	} else {
		b = append(b, '[')
		b = a.AppendTo(b)
		b = append(b, ']')
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

// padRight pads what was appended to b since start with spaces to width (printf %-Ns).
func padRight(b []byte, start, width int) []byte {
	for len(b)-start < width {
		b = append(b, ' ')
	}
	return b
}

// padLeftUint appends v right-aligned in width (printf %Nu).
func padLeftUint(b []byte, v uint64, width int) []byte {
	var tmp [20]byte
	d := strconv.AppendUint(tmp[:0], v, 10)
	for i := len(d); i < width; i++ {
		b = append(b, ' ')
	}
	return append(b, d...)
}

// hostBits is the prefix length of one host in family f.
func hostBits(f ipvs.Family) int {
	if f == ipvs.Inet6 {
		return 128
	}
	return 32
}

// maskString is the persistence netmask as ipvsadm prints it, "" for a single host.
func maskString(s ipvs.Service) string {
	n := s.Netmask
	if n == 0 || n == hostBits(s.Family) {
		return ""
	}
	if s.Family == ipvs.Inet6 {
		return fmt.Sprint(n)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ^uint32(0)<<(32-n))
	return netip.AddrFrom4(b).String()
}

// schedFlagNames names scheduler flags as ipvsadm does: sh and mh have their own names.
func schedFlagNames(sched string, f ipvs.SchedFlags) string {
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	switch sched {
	case "sh":
		names[0], names[1] = "sh-fallback", "sh-port"
	case "mh":
		names[0], names[1] = "mh-fallback", "mh-port"
	}
	var out []string
	for i, bit := range []ipvs.SchedFlags{ipvs.SchedFlag1, ipvs.SchedFlag2, ipvs.SchedFlag3} {
		if f&bit != 0 {
			out = append(out, names[i])
		}
	}
	return strings.Join(out, ",")
}

func fwdName(f ipvs.Forwarding) string {
	switch f {
	case ipvs.NAT:
		return "Masq"
	case ipvs.Local:
		return "Local"
	case ipvs.Tunnel:
		return "Tunnel"
	case ipvs.Direct:
		return "Route"
	}
	return "(null)"
}

func fwdSwitch(f ipvs.Forwarding) string {
	switch f {
	case ipvs.NAT:
		return "-m"
	case ipvs.Tunnel:
		return "-i"
	}
	return "-g"
}

// appendLargenums formats counters as ipvsadm's print_largenum: 9 columns, scaled K/M/G/T.
func appendLargenums(b []byte, vs ...uint64) []byte {
	for _, i := range vs {
		switch {
		case i < 100000000:
			b = padLeftUint(b, i, 9)
		case i < 1000000000:
			b = append(padLeftUint(b, i/1000, 8), 'K')
		case i < 100000000000:
			b = append(padLeftUint(b, i/1000000, 8), 'M')
		case i < 100000000000000:
			b = append(padLeftUint(b, i/1000000000, 8), 'G')
		default:
			b = append(padLeftUint(b, i/1000000000000, 8), 'T')
		}
	}
	return b
}

// addrWords is an address as libipvs compares it: 32-bit words in host order.
func addrWords(a netip.Addr) []uint32 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return []uint32{binary.BigEndian.Uint32(b[:])}
	}
	b := a.As16()
	return []uint32{binary.BigEndian.Uint32(b[0:]), binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:])}
}

// diff32 is libipvs's comparison of two unsigned words: their difference cast to int,
// wrap-around included, so the order matches ipvsadm's even where that is surprising.
func diff32(a, b uint32) int { return int(int32(a - b)) }

func cmpAddr(a, b netip.Addr) int {
	wa, wb := addrWords(a), addrWords(b)
	for i := 0; i < len(wa) && i < len(wb); i++ {
		if r := diff32(wa[i], wb[i]); r != 0 {
			return r
		}
	}
	return 0
}

// sortedServices orders services as ipvs_cmp_services: fwmark, family, protocol, address, port.
func sortedServices(svcs []ipvs.ListedService) []ipvs.ListedService {
	out := slices.Clone(svcs)
	slices.SortStableFunc(out, func(x, y ipvs.ListedService) int {
		a, b := x.ServiceKey, y.ServiceKey
		if r := diff32(a.FWMark, b.FWMark); r != 0 {
			return r
		}
		if r := int(a.Family) - int(b.Family); r != 0 {
			return r
		}
		if r := int(a.Protocol) - int(b.Protocol); r != 0 {
			return r
		}
		if a.IsFWMark() {
			return 0
		}
		if r := cmpAddr(a.Addr.Addr(), b.Addr.Addr()); r != 0 {
			return r
		}
		return int(a.Addr.Port()) - int(b.Addr.Port())
	})
	return out
}

// sortedDests orders destinations as ipvs_cmp_dests: address, then port.
func sortedDests(ds []ipvs.DestinationInfo) []ipvs.DestinationInfo {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(x, y ipvs.DestinationInfo) int {
		if r := cmpAddr(x.Addr.Addr(), y.Addr.Addr()); r != 0 {
			return r
		}
		return int(x.Addr.Port()) - int(y.Addr.Port())
	})
	return out
}
