package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
)

// frameTap records what one host's eth0 sends and receives of one TCP connection (by the
// client's port), and every ARP, VRRP and IPVS sync frame, so that a failover test that
// fails shows where the connection's packets went: which MAC the client sent to, whether
// the director forwarded them, whether the real server answered.
type frameTap struct {
	host  string
	conn  *packet.Conn
	port  uint16
	macs  map[string]string // MAC -> host name
	began time.Time
	done  chan struct{}

	mu      sync.Mutex
	lines   []string
	dropped int
}

// tapMax bounds the frames a tap keeps (the rest are counted).
const tapMax = 400

// ethPAll is ETH_P_ALL: every protocol, both directions.
const ethPAll = 0x0003

// startTap opens an AF_PACKET socket on h's eth0. A tap that cannot open logs why and
// returns nil: the trace is a diagnostic, not what the test proves.
func startTap(t *testing.T, h *netlab.Host, port uint16, macs map[string]string, began time.Time) *frameTap {
	t.Helper()
	var c *packet.Conn
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, ethPAll, nil)
		return err
	})
	if err != nil {
		t.Logf("capture on %s: %v", h.Name(), err)
		return nil
	}
	f := &frameTap{host: h.Name(), conn: c, port: port, macs: macs, began: began, done: make(chan struct{})}
	go f.read()
	return f
}

func (f *frameTap) read() {
	defer close(f.done)
	b := make([]byte, 2048)
	for {
		n, _, err := f.conn.ReadFrom(b)
		if err != nil {
			return
		}
		at := time.Since(f.began)
		s, ok := describeFrame(b[:n], f.port, f.macs)
		if !ok {
			continue
		}
		f.mu.Lock()
		if len(f.lines) < tapMax {
			f.lines = append(f.lines, fmt.Sprintf("%+9.3fs %s", at.Seconds(), s))
		} else {
			f.dropped++
		}
		f.mu.Unlock()
	}
}

// stop closes the socket and returns the frames seen.
func (f *frameTap) stop() string {
	if f == nil {
		return ""
	}
	f.conn.Close()
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	s := fmt.Sprintf("frames on %s eth0 (%d, %d more not kept):\n  %s", f.host, len(f.lines), f.dropped, strings.Join(f.lines, "\n  "))
	return s
}

// hostMACs maps each host's eth0 MAC to its name.
func hostMACs(hosts ...*netlab.Host) map[string]string {
	m := map[string]string{}
	for _, h := range hosts {
		if l, err := h.Handle().LinkByName("eth0"); err == nil {
			m[l.Attrs().HardwareAddr.String()] = h.Name()
		}
	}
	return m
}

func macName(b []byte, macs map[string]string) string {
	s := net.HardwareAddr(b).String()
	if n, ok := macs[s]; ok {
		return n
	}
	if s == "ff:ff:ff:ff:ff:ff" {
		return "bcast"
	}
	return s
}

// describeFrame is one line for a frame worth keeping: ARP, VRRP, IPVS sync (UDP 8848),
// ICMP, and TCP to or from port.
func describeFrame(b []byte, port uint16, macs map[string]string) (string, bool) {
	if len(b) < 14 {
		return "", false
	}
	eth := macName(b[6:12], macs) + ">" + macName(b[0:6], macs)
	p := b[14:]
	switch binary.BigEndian.Uint16(b[12:14]) {
	case 0x0806:
		if len(p) < 28 {
			return "", false
		}
		op := map[uint16]string{1: "request", 2: "reply"}[binary.BigEndian.Uint16(p[6:8])]
		spa, _ := netip.AddrFromSlice(p[14:18])
		tpa, _ := netip.AddrFromSlice(p[24:28])
		return fmt.Sprintf("%s ARP %s sender %s %s target %s %s", eth, op,
			spa, macName(p[8:14], macs), tpa, macName(p[18:24], macs)), true
	case 0x0800:
	default:
		return "", false
	}
	if len(p) < 20 {
		return "", false
	}
	ihl := int(p[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if ihl < 20 || len(p) < ihl || total < ihl {
		return "", false
	}
	src, _ := netip.AddrFromSlice(p[12:16])
	dst, _ := netip.AddrFromSlice(p[16:20])
	l4 := p[ihl:]
	switch p[9] {
	case 112: // VRRP
		if len(l4) < 3 {
			return "", false
		}
		return fmt.Sprintf("%s VRRP %s>%s vrid %d priority %d", eth, src, dst, l4[1], l4[2]), true
	case 1:
		if len(l4) < 2 {
			return "", false
		}
		return fmt.Sprintf("%s ICMP %s>%s type %d code %d", eth, src, dst, l4[0], l4[1]), true
	case 17:
		if len(l4) < 8 || binary.BigEndian.Uint16(l4[2:4]) != 8848 {
			return "", false
		}
		return fmt.Sprintf("%s IPVS sync %s>%s %d bytes", eth, src, dst, binary.BigEndian.Uint16(l4[4:6])-8), true
	case 6:
		if len(l4) < 20 {
			return "", false
		}
		sp, dp := binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
		if sp != port && dp != port {
			return "", false
		}
		off := int(l4[12]>>4) * 4
		var flags []byte
		for i, c := range "FSRPAU" {
			if l4[13]&(1<<i) != 0 {
				flags = append(flags, byte(c))
			}
		}
		return fmt.Sprintf("%s TCP %s:%d>%s:%d [%s] seq %d ack %d len %d", eth, src, sp, dst, dp, flags,
			binary.BigEndian.Uint32(l4[4:8]), binary.BigEndian.Uint32(l4[8:12]), total-ihl-off), true
	}
	return "", false
}

// procNet reads /proc/net/<name> in h's namespace ("" and the error if it cannot).
func procNet(h *netlab.Host, name string) string {
	var b []byte
	err := h.Do(func() error {
		var err error
		b, err = os.ReadFile("/proc/thread-self/net/" + name) // this thread is in h's namespace
		return err
	})
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// linesWith is the header and the lines of a /proc table that contain sub.
func linesWith(table, sub string) string {
	ls := strings.Split(strings.TrimSpace(table), "\n")
	out := ls[:min(1, len(ls))]
	for _, l := range ls[1:] {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n    ")
}

// snmpTCP is the Tcp: lines of /proc/net/snmp (names and values).
func snmpTCP(h *netlab.Host) string {
	var out []string
	for _, l := range strings.Split(procNet(h, "snmp"), "\n") {
		if strings.HasPrefix(l, "Tcp:") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n    ")
}

// neighbours is h's IPv4 neighbour table on eth0: address, MAC (named), state.
func neighbours(h *netlab.Host, macs map[string]string) string {
	l, err := h.Handle().LinkByName("eth0")
	if err != nil {
		return err.Error()
	}
	ns, err := h.Handle().NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("%s %s %s", n.IP, macName(n.HardwareAddr, macs), neighState(n.State)))
	}
	return strings.Join(out, "; ")
}

func neighState(s int) string {
	var out []string
	for _, n := range []struct {
		bit  int
		name string
	}{{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"}} {
		if s&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	if len(out) == 0 {
		return "NONE"
	}
	return strings.Join(out, "|")
}

// tcpSocket is the /proc/net/tcp lines of h for the port written as the table writes it
// (":D2F0"): state, queues, timer and retransmissions of the connection's socket.
func tcpSocket(h *netlab.Host, port uint16) string {
	return linesWith(procNet(h, "tcp"), fmt.Sprintf(":%04X ", port))
}

// sysctls reads keys under /proc/sys/net/ipv4/vs in h's namespace.
func ipvsSysctls(h *netlab.Host) string {
	var out []string
	for _, k := range []string{"sync_version", "sync_threshold", "sync_refresh_period", "sync_retries", "sync_ports",
		"conn_reuse_mode", "expire_nodest_conn", "backup_only", "sloppy_tcp", "conntrack"} {
		v, err := h.SysctlGet("net/ipv4/vs/" + k)
		if err != nil {
			v = err.Error()
		}
		out = append(out, k+"="+strings.TrimSpace(v))
	}
	return strings.Join(out, " ")
}

// connState is what the lab knows of kc's connection: the client's neighbour for the
// VIP and its socket, each director's IPVS entry for it, table and counters, the real
// servers' sockets and TCP counters.
func (x *drLab) connState(kc *keepAlive, macs map[string]string) string {
	hex, port := kc.localHex(), kc.local().Port()
	var b strings.Builder
	fmt.Fprintf(&b, "  client neighbours: %s\n", neighbours(x.client, macs))
	fmt.Fprintf(&b, "  client socket:\n    %s\n", tcpSocket(x.client, port))
	fmt.Fprintf(&b, "  client %s\n", snmpTCP(x.client))
	for _, h := range x.directors {
		fmt.Fprintf(&b, "  %s ip_vs_conn:\n    %s\n", h.Name(), linesWith(procNet(h, "ip_vs_conn"), hex))
		fmt.Fprintf(&b, "  %s ip_vs:\n    %s\n", h.Name(), strings.ReplaceAll(strings.TrimSpace(procNet(h, "ip_vs")), "\n", "\n    "))
		fmt.Fprintf(&b, "  %s ip_vs_stats:\n    %s\n", h.Name(), strings.ReplaceAll(strings.TrimSpace(procNet(h, "ip_vs_stats")), "\n", "\n    "))
		fmt.Fprintf(&b, "  %s neighbours: %s\n", h.Name(), neighbours(h, macs))
	}
	for _, h := range x.rsHosts {
		fmt.Fprintf(&b, "  %s socket:\n    %s\n", h.Name(), tcpSocket(h, port))
		fmt.Fprintf(&b, "  %s %s\n", h.Name(), snmpTCP(h))
	}
	return b.String()
}
