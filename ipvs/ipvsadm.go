package ipvs

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

// ListedService is a service with its destinations, as `ipvsadm -L` shows one.
type ListedService struct {
	ServiceInfo
	Destinations []DestinationInfo
}

// ReadTable reads every service of t with its destinations.
func ReadTable(ctx context.Context, t Table) ([]ListedService, error) {
	svcs, err := t.Services(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ListedService, 0, len(svcs))
	for _, s := range svcs {
		ds, err := t.Destinations(ctx, s.ServiceKey)
		if err != nil {
			return nil, err
		}
		out = append(out, ListedService{ServiceInfo: s, Destinations: ds})
	}
	return out, nil
}

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
func WriteList(w io.Writer, svcs []ListedService, opts ListOptions) error {
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
	for _, s := range sortedServices(svcs) {
		name := listName(s.ServiceKey)
		switch {
		case opts.Stats:
			fmt.Fprintf(bw, "%-33s", name)
			largenums(bw, s.Stats.Conns, s.Stats.InPkts, s.Stats.OutPkts, s.Stats.InBytes, s.Stats.OutBytes)
		case opts.Rate:
			fmt.Fprintf(bw, "%-33s", name)
			largenums(bw, s.Stats.CPS, s.Stats.InPPS, s.Stats.OutPPS, s.Stats.InBPS, s.Stats.OutBPS)
		default:
			fmt.Fprintf(bw, "%s %s", name, s.Scheduler)
			if f := schedFlagNames(s.Scheduler, s.Flags); f != "" {
				fmt.Fprintf(bw, " (%s)", f)
			}
			if s.Persistent {
				fmt.Fprintf(bw, " persistent %d", int64(s.Timeout.Seconds()))
				if m := maskString(s.Service); m != "" {
					fmt.Fprintf(bw, " mask %s", m)
				}
			}
			if s.Flags&OnePacket != 0 {
				bw.WriteString(" ops")
			}
		}
		bw.WriteString("\n")
		for _, d := range sortedDests(s.Destinations) {
			dn := addrPortString(d.Addr)
			switch {
			case opts.Stats:
				fmt.Fprintf(bw, "  -> %-28s", dn)
				largenums(bw, d.Stats.Conns, d.Stats.InPkts, d.Stats.OutPkts, d.Stats.InBytes, d.Stats.OutBytes)
				bw.WriteString("\n")
			case opts.Rate:
				fmt.Fprintf(bw, "  -> %-28s %8d %8d %8d", dn, uint32(d.Stats.CPS), uint32(d.Stats.InPPS), uint32(d.Stats.OutPPS))
				largenums(bw, d.Stats.InBPS, d.Stats.OutBPS)
				bw.WriteString("\n")
			default:
				fmt.Fprintf(bw, "  -> %-28s %-7s %-6d %-10d %-10d\n", dn, fwdName(d.Forwarding), d.Weight, d.ActiveConns, d.InactiveConns)
			}
		}
	}
	return bw.Flush()
}

// WriteSave writes svcs as `ipvsadm -Sn` does: rules that `ipvsadm -R` restores.
func WriteSave(w io.Writer, svcs []ListedService) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, s := range sortedServices(svcs) {
		name := ruleName(s.ServiceKey)
		// ipvsadm 1.31's order (checked against it in the VM): -p -M, -o, then -b; the
		// list layout puts the flags first instead.
		fmt.Fprintf(bw, "-A %s -s %s", name, s.Scheduler)
		if s.Persistent {
			fmt.Fprintf(bw, " -p %d", int64(s.Timeout.Seconds()))
			if m := maskString(s.Service); m != "" {
				fmt.Fprintf(bw, " -M %s", m)
			}
		}
		if s.Flags&OnePacket != 0 {
			bw.WriteString(" -o")
		}
		if f := schedFlagNames(s.Scheduler, s.Flags); f != "" {
			fmt.Fprintf(bw, " -b %s", f)
		}
		bw.WriteString("\n")
		for _, d := range sortedDests(s.Destinations) {
			fmt.Fprintf(bw, "-a %s -r %s %s -w %d", name, addrPortString(d.Addr), fwdSwitch(d.Forwarding), d.Weight)
			if d.Forwarding == Tunnel {
				// Kernels since 5.2 report a tunnel type; vigil only programs IP-in-IP.
				bw.WriteString(" --tun-type ipip")
			}
			bw.WriteString("\n")
		}
	}
	return bw.Flush()
}

func listName(k ServiceKey) string {
	if k.IsFWMark() {
		if k.Family == Inet6 {
			return fmt.Sprintf("FWM  %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM  %d", k.FWMark)
	}
	return fmt.Sprintf("%-4s %s", strings.ToUpper(k.Protocol.String()), addrPortString(k.Addr))
}

func ruleName(k ServiceKey) string {
	if k.IsFWMark() {
		if k.Family == Inet6 {
			return fmt.Sprintf("-f %d -6", k.FWMark)
		}
		return fmt.Sprintf("-f %d", k.FWMark)
	}
	sw := "-t"
	switch k.Protocol {
	case UDP:
		sw = "-u"
	case SCTP:
		sw = "--sctp-service"
	}
	return sw + " " + addrPortString(k.Addr)
}

// addrPortString is ipvsadm's numeric address: a.b.c.d:port or [v6]:port.
func addrPortString(ap netip.AddrPort) string {
	a := ap.Addr().Unmap()
	if a.Is4() {
		return fmt.Sprintf("%s:%d", a, ap.Port())
	}
	return fmt.Sprintf("[%s]:%d", a, ap.Port())
}

// maskString is the persistence netmask as ipvsadm prints it, "" for a single host.
func maskString(s Service) string {
	n := s.Netmask
	if n == 0 || n == s.hostBits() {
		return ""
	}
	if s.Family == Inet6 {
		return fmt.Sprint(n)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ^uint32(0)<<(32-n))
	return netip.AddrFrom4(b).String()
}

// schedFlagNames names scheduler flags as ipvsadm does: sh and mh have their own names.
func schedFlagNames(sched string, f SchedFlags) string {
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	switch sched {
	case "sh":
		names[0], names[1] = "sh-fallback", "sh-port"
	case "mh":
		names[0], names[1] = "mh-fallback", "mh-port"
	}
	var out []string
	for i, bit := range []SchedFlags{SchedFlag1, SchedFlag2, SchedFlag3} {
		if f&bit != 0 {
			out = append(out, names[i])
		}
	}
	return strings.Join(out, ",")
}

func fwdName(f Forwarding) string {
	switch f {
	case NAT:
		return "Masq"
	case Local:
		return "Local"
	case Tunnel:
		return "Tunnel"
	case Direct:
		return "Route"
	}
	return "(null)"
}

func fwdSwitch(f Forwarding) string {
	switch f {
	case NAT:
		return "-m"
	case Tunnel:
		return "-i"
	}
	return "-g"
}

// largenums prints counters as ipvsadm's print_largenum: 9 columns, scaled K/M/G/T.
func largenums(w io.Writer, vs ...uint64) {
	for _, i := range vs {
		switch {
		case i < 100000000:
			fmt.Fprintf(w, "%9d", i)
		case i < 1000000000:
			fmt.Fprintf(w, "%8dK", i/1000)
		case i < 100000000000:
			fmt.Fprintf(w, "%8dM", i/1000000)
		case i < 100000000000000:
			fmt.Fprintf(w, "%8dG", i/1000000000)
		default:
			fmt.Fprintf(w, "%8dT", i/1000000000000)
		}
	}
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
func sortedServices(svcs []ListedService) []ListedService {
	out := slices.Clone(svcs)
	slices.SortStableFunc(out, func(x, y ListedService) int {
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
func sortedDests(ds []DestinationInfo) []DestinationInfo {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(x, y DestinationInfo) int {
		if r := cmpAddr(x.Addr.Addr(), y.Addr.Addr()); r != 0 {
			return r
		}
		return int(x.Addr.Port()) - int(y.Addr.Port())
	})
	return out
}
