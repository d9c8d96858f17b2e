package checks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// UDPConfig configures a udp check.
type UDPConfig struct {
	// Payload is the datagram sent; empty sends an empty datagram.
	Payload []byte
	// RequireReply fails the check unless a datagram comes back before the timeout.
	RequireReply bool
	// Expect and ExpectMask, when Expect is set, must match the start of the reply: the bits
	// set in ExpectMask must equal Expect's (keepalived's require_reply with X wildcards).
	// A nil mask compares every bit. Setting Expect implies RequireReply.
	Expect, ExpectMask []byte
	// MinReply and MaxReply bound a required reply's length; MaxReply 0 means 65535.
	MinReply, MaxReply int
	// SourceAddr binds the probe's source address.
	SourceAddr netip.Addr
}

type udpChecker struct {
	addr netip.AddrPort
	cfg  UDPConfig
}

// NewUDP returns a check with keepalived's UDP_CHECK semantics: it sends one datagram to
// target and listens until the timeout. An ICMP destination unreachable in return (port,
// host, network, prohibited) is a failure. A reply is a pass, after its length and Expect
// are checked. Silence is a pass unless a reply is required: UDP has no handshake, and
// nothing said the port is closed. So without a required reply the check takes its whole
// timeout, and a host that is down on the local network is seen only once the kernel's
// neighbour resolution gives up (about 3 s): give such a check a timeout of 3 s or more.
func NewUDP(target netip.AddrPort, cfg UDPConfig) (Checker, error) {
	if !target.IsValid() || target.Port() == 0 {
		return nil, fmt.Errorf("new udp check: invalid target %v", target)
	}
	if cfg.ExpectMask != nil && len(cfg.ExpectMask) != len(cfg.Expect) {
		return nil, fmt.Errorf("new udp check for %s: expect has %d bytes and its mask %d", target, len(cfg.Expect), len(cfg.ExpectMask))
	}
	if len(cfg.Expect) > 0 {
		cfg.RequireReply = true
	}
	if cfg.MaxReply <= 0 {
		cfg.MaxReply = 65535
	}
	return &udpChecker{addr: target, cfg: cfg}, nil
}

func (u *udpChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := u.check(ctx, start)
	res.Latency = time.Since(start)
	res.Weight = NoWeight
	return res
}

func (u *udpChecker) check(ctx context.Context, start time.Time) Result {
	conn, err := dialUDP(ctx, u.addr, u.cfg.SourceAddr)
	if err != nil {
		return Result{Reason: udpIOReason(ctx, start, u.addr, "open udp socket to "+u.addr.String(), err)}
	}
	defer conn.Close()
	stop := deadlineConn(ctx, conn)
	defer stop()
	if _, err := conn.Write(u.cfg.Payload); err != nil {
		return Result{Reason: udpIOReason(ctx, start, u.addr, "sending to udp "+u.addr.String(), err)}
	}
	// One byte more than the longest acceptable reply, to see one that is too long.
	buf := make([]byte, min(u.cfg.MaxReply, 65535)+1)
	n, err := conn.Read(buf)
	if err != nil {
		timedOut := errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err)
		if timedOut && !u.cfg.RequireReply {
			return Result{OK: true, Reason: fmt.Sprintf("no ICMP error from udp %s within %s: the port is open (or filtered)", u.addr, roundDur(budgetOf(ctx, start)))}
		}
		if timedOut {
			return Result{Reason: timeoutReason(ctx, start, "waiting for a reply from udp "+u.addr.String())}
		}
		return Result{Reason: udpIOReason(ctx, start, u.addr, "waiting for a reply from udp "+u.addr.String(), err)}
	}
	reply := buf[:n]
	switch {
	case n < u.cfg.MinReply:
		return Result{Reason: fmt.Sprintf("udp %s replied %d bytes, want at least %d", u.addr, n, u.cfg.MinReply)}
	case n > u.cfg.MaxReply:
		return Result{Reason: fmt.Sprintf("udp %s replied more than %d bytes", u.addr, u.cfg.MaxReply)}
	case len(u.cfg.Expect) > 0 && !matchMasked(reply, u.cfg.Expect, u.cfg.ExpectMask):
		return Result{Reason: fmt.Sprintf("udp %s replied % x, want % x", u.addr, head(reply, len(u.cfg.Expect)+8), u.cfg.Expect)}
	}
	return Result{OK: true, Reason: fmt.Sprintf("udp %s replied %d bytes", u.addr, n)}
}

// matchMasked reports whether b starts with want, comparing the bits set in mask (every
// bit when mask is nil). A reply shorter than want does not match.
func matchMasked(b, want, mask []byte) bool {
	if len(b) < len(want) {
		return false
	}
	for i := range want {
		m := byte(0xff)
		if mask != nil {
			m = mask[i]
		}
		if (b[i]^want[i])&m != 0 {
			return false
		}
	}
	return true
}

func head(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
