package ipvs

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// ClosingConnections is a table that can count, among its destinations' inactive
// connections, those that are only closing: kernel IPVS keeps a TCP connection's entry
// for two minutes after it closed (TIME_WAIT), counted as inactive, which would keep
// `vigil drain --wait` waiting long after the real server served its last byte.
type ClosingConnections interface {
	// Closing counts the connection entries in a closing state (FIN_WAIT, TIME_WAIT,
	// CLOSE, CLOSE_WAIT, LAST_ACK) by destination.
	Closing() (map[ConnDest]uint32, error)
}

// ConnDest is the destination of a connection entry: its protocol, the virtual address
// the client asked for, and the real server.
type ConnDest struct {
	Protocol Protocol
	Virtual  netip.AddrPort
	Dest     netip.AddrPort
}

// closingStates are the TCP states IPVS names (ip_vs_proto_tcp.c tcp_state_name_table)
// in which one side or both have sent their FIN.
var closingStates = map[string]bool{"FIN_WAIT": true, "TIME_WAIT": true, "CLOSE": true, "CLOSE_WAIT": true, "LAST_ACK": true}

// maxConnLines bounds what ParseClosing reads of the connection table.
const maxConnLines = 8 << 20

// ParseClosing reads /proc/net/ip_vs_conn (ip_vs_conn.c ip_vs_conn_seq_show):
//
//	Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires
//	TCP C612000A 8A5C C61200FE 0050 C6120015 0050 TIME_WAIT        95
//
// addresses in hex (IPv4: 8 digits; IPv6 written as an address), and counts the entries
// in a closing state by destination. Persistence templates (protocol IP) are not counted.
func ParseClosing(r io.Reader) (map[ConnDest]uint32, error) {
	out := map[ConnDest]uint32{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	for n := 0; sc.Scan(); n++ {
		if n == 0 {
			continue // the header
		}
		if n > maxConnLines {
			return out, fmt.Errorf("read the IPVS connection table: more than %d entries", maxConnLines)
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 || !closingStates[f[7]] {
			continue
		}
		var p Protocol
		switch f[0] {
		case "TCP":
			p = TCP
		case "SCTP":
			p = SCTP
		default:
			continue
		}
		vip, err1 := connAddr(f[3], f[4])
		dst, err2 := connAddr(f[5], f[6])
		if err1 != nil || err2 != nil {
			return out, fmt.Errorf("read the IPVS connection table: line %d: %q", n+1, sc.Text())
		}
		out[ConnDest{p, vip, dst}]++
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read the IPVS connection table: %w", err)
	}
	return out, nil
}

// connAddr decodes an address and a port of ip_vs_conn: IPv4 as 8 hex digits, IPv6 as
// the kernel's %pI6 (a colon-separated address), the port as 4 hex digits.
func connAddr(a, port string) (netip.AddrPort, error) {
	pt, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(a) == 8 && !strings.Contains(a, ":") {
		v, err := strconv.ParseUint(a, 16, 32)
		if err != nil {
			return netip.AddrPort{}, err
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), uint16(pt)), nil
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ip, uint16(pt)), nil
}
