package checks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// PingConfig configures a ping check.
type PingConfig struct {
	// SourceAddr binds the probe's source address.
	SourceAddr netip.Addr
	// PayloadSize is the echo's data length in bytes; default 56 (ping(8)'s).
	PayloadSize int
}

// ICMP protocol numbers (IANA), as icmp.ParseMessage takes them.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

type pingChecker struct {
	addr netip.Addr
	cfg  PingConfig
}

// NewPing returns a check that sends one ICMP echo request (ICMPv6 for an IPv6 target) and
// passes on the matching echo reply, as keepalived's PING_CHECK. It uses an unprivileged
// ping socket where the kernel allows it (net.ipv4.ping_group_range holds vigil's group;
// it governs ICMPv6 too) and a raw socket otherwise, which needs CAP_NET_RAW. keepalived
// widens ping_group_range to include root; vigil does not change system settings and says
// in the reason which socket it used. A destination or time-exceeded error quoting the
// echo fails the check at once; otherwise no reply fails it at the timeout.
func NewPing(target netip.Addr, cfg PingConfig) (Checker, error) {
	if !target.IsValid() || target.IsUnspecified() || target.IsMulticast() {
		return nil, fmt.Errorf("new ping check: invalid target %v", target)
	}
	if cfg.SourceAddr.IsValid() && cfg.SourceAddr.Is4() != target.Is4() {
		return nil, fmt.Errorf("new ping check for %s: source %s is of another family", target, cfg.SourceAddr)
	}
	if cfg.PayloadSize <= 0 {
		cfg.PayloadSize = 56
	}
	return &pingChecker{addr: target.Unmap(), cfg: cfg}, nil
}

func (p *pingChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := p.check(ctx, start)
	res.Latency = time.Since(start)
	res.Weight = NoWeight
	return res
}

// icmpConn is an ICMP socket: a ping socket (kernel-managed echo ID) or a raw socket.
type icmpConn struct {
	net.PacketConn
	raw bool
}

func (c icmpConn) kind() string {
	if c.raw {
		return "raw socket"
	}
	return "ping socket"
}

func (p *pingChecker) check(ctx context.Context, start time.Time) Result {
	v4 := p.addr.Is4()
	conn, err := openICMP(v4, p.cfg.SourceAddr)
	if err != nil {
		return Result{Reason: fmt.Sprintf("ping %s: %v", p.addr, err)}
	}
	defer conn.Close()
	stop := deadlineConn(ctx, conn)
	defer stop()

	id, seq := uint16(rand.N(1<<16)), uint16(rand.N(1<<16))
	data := make([]byte, p.cfg.PayloadSize)
	copy(data, "vigil ping check")
	var typ icmp.Type = ipv4.ICMPTypeEcho
	proto := protoICMP
	if !v4 {
		typ, proto = ipv6.ICMPTypeEchoRequest, protoICMPv6
	}
	// Marshal computes the ICMPv4 checksum; the kernel fills in ICMPv6's (RFC 3542 §3.1)
	// and, on a ping socket, replaces the ID with the socket's.
	msg, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(id), Seq: int(seq), Data: data}}).Marshal(nil)
	if err != nil {
		return Result{Reason: fmt.Sprintf("ping %s: build echo request: %v", p.addr, err)}
	}
	var dst net.Addr = &net.UDPAddr{IP: p.addr.AsSlice()}
	if conn.raw {
		dst = &net.IPAddr{IP: p.addr.AsSlice()}
	}
	if _, err := conn.WriteTo(msg, dst); err != nil {
		return Result{Reason: p.ioReason(ctx, start, conn, "sending the echo request", err)}
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return Result{Reason: p.ioReason(ctx, start, conn, "waiting for the echo reply", err)}
		}
		src := addrOfNet(from)
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		switch body := m.Body.(type) {
		case *icmp.Echo:
			if (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) || src != p.addr || body.Seq != int(seq) {
				continue
			}
			if conn.raw && body.ID != int(id) {
				continue // another process's ping: a raw socket sees every ICMP message
			}
			return Result{OK: true, Reason: fmt.Sprintf("echo reply from %s (%s)", p.addr, conn.kind())}
		case *icmp.DstUnreach:
			if quotesEcho(v4, body.Data, p.addr, id, seq) {
				return Result{Reason: fmt.Sprintf("ping %s: ICMP %s from %s", p.addr, icmpErrorName(m), src)}
			}
		case *icmp.TimeExceeded:
			if quotesEcho(v4, body.Data, p.addr, id, seq) {
				return Result{Reason: fmt.Sprintf("ping %s: ICMP time exceeded from %s", p.addr, src)}
			}
		}
	}
}

func (p *pingChecker) ioReason(ctx context.Context, start time.Time, conn icmpConn, doing string, err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil || isTimeout(err) {
		return fmt.Sprintf("ping %s: no echo reply: %s (%s)", p.addr, timeoutReason(ctx, start, "waiting"), conn.kind())
	}
	// A ping socket with IP_RECVERR reports the ICMP errors its echo caused as errno.
	if what, ok := icmpErrno(err); ok {
		return fmt.Sprintf("ping %s: ICMP %s (%s)", p.addr, what, conn.kind())
	}
	return fmt.Sprintf("ping %s: %s (%s)", p.addr, ioReason(ctx, start, doing, err), conn.kind())
}

func addrOfNet(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	}
	out, _ := netip.AddrFromSlice(ip)
	return out.Unmap()
}

// icmpErrorName names a destination unreachable by its code (RFC 792, RFC 4443 §3.1).
func icmpErrorName(m *icmp.Message) string {
	if m.Type == ipv4.ICMPTypeDestinationUnreachable {
		switch m.Code {
		case 0:
			return "network unreachable"
		case 1:
			return "host unreachable"
		case 9, 10, 13:
			return "administratively prohibited"
		}
		return fmt.Sprintf("destination unreachable (code %d)", m.Code)
	}
	switch m.Code {
	case 0:
		return "no route to destination"
	case 1:
		return "administratively prohibited"
	case 3:
		return "address unreachable"
	}
	return fmt.Sprintf("destination unreachable (code %d)", m.Code)
}

// quotesEcho reports whether the datagram an ICMP error quotes (RFC 792: the IP header and
// the first 8 bytes of the original; RFC 4443: as much as fits) is an echo request to dst.
// A raw socket needs the ID too; a ping socket gets only the errors of its own echoes, with
// the ID the kernel chose, so id 0 skips that test.
func quotesEcho(v4 bool, b []byte, dst netip.Addr, id, seq uint16) bool {
	var to netip.Addr
	var echo []byte
	if v4 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl+8 || b[9] != protoICMP {
			return false
		}
		to = netip.AddrFrom4([4]byte(b[16:20]))
		echo = b[ihl:]
		if echo[0] != byte(ipv4.ICMPTypeEcho) {
			return false
		}
	} else {
		if len(b) < 48 || b[0]>>4 != 6 || b[6] != protoICMPv6 {
			return false // an extension header in between: not one of our echoes
		}
		to = netip.AddrFrom16([16]byte(b[24:40]))
		echo = b[40:]
		if echo[0] != byte(ipv6.ICMPTypeEchoRequest) {
			return false
		}
	}
	gotID, gotSeq := binary.BigEndian.Uint16(echo[4:6]), binary.BigEndian.Uint16(echo[6:8])
	return to == dst && gotSeq == seq && (id == 0 || gotID == id)
}
