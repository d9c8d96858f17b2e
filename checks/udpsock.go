package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// dialUDP opens a connected UDP socket to addr, bound to source when valid. Connected, the
// kernel hands the socket the ICMP errors its datagrams cause: a port unreachable is
// ECONNREFUSED on the next read, and (Linux, with IP_RECVERR) so is every other
// destination unreachable, as EHOSTUNREACH, ENETUNREACH, EACCES (administratively
// prohibited) and the like. keepalived's UDP_CHECK and DNS_CHECK judge the same errors.
func dialUDP(ctx context.Context, addr netip.AddrPort, source netip.Addr) (*net.UDPConn, error) {
	var d net.Dialer
	if source.IsValid() {
		d.LocalAddr = &net.UDPAddr{IP: source.AsSlice()}
	}
	d.Control = func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = recvErrors(fd, addr.Addr().Is4()) })
		if err != nil {
			return err
		}
		return serr
	}
	network := "udp6"
	if addr.Addr().Is4() {
		network = "udp4"
	}
	c, err := d.DialContext(ctx, network, addr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}

// icmpErrno names the ICMP error an errno on a connected UDP or ping socket stands for,
// in the words of the message the target (or a router on the way) sent.
func icmpErrno(err error) (string, bool) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "", false
	}
	switch errno {
	case syscall.ECONNREFUSED:
		return "port unreachable", true
	case syscall.EHOSTUNREACH:
		return "host unreachable", true
	case syscall.ENETUNREACH:
		return "network unreachable", true
	case syscall.EACCES, syscall.EPERM:
		return "administratively prohibited", true
	case syscall.EPROTO, syscall.ENOPROTOOPT:
		return "protocol unreachable", true
	case syscall.EHOSTDOWN:
		return "host down", true
	case syscall.EMSGSIZE:
		return "fragmentation needed (the datagram is too large for the path)", true
	}
	return "", false
}

// icmpReason describes an ICMP error a UDP probe of addr caused.
func icmpReason(addr netip.AddrPort, err error) (string, bool) {
	what, ok := icmpErrno(err)
	if !ok {
		return "", false
	}
	r := fmt.Sprintf("ICMP %s from %s", what, addr)
	if errors.Is(err, syscall.ECONNREFUSED) {
		r += fmt.Sprintf(": nothing listens on udp port %d", addr.Port())
	}
	return r, true
}

// udpIOReason describes a failed read or write on a check's UDP socket.
func udpIOReason(ctx context.Context, start time.Time, addr netip.AddrPort, doing string, err error) string {
	if ctx.Err() == nil && !isTimeout(err) {
		if r, ok := icmpReason(addr, err); ok {
			return r
		}
	}
	return ioReason(ctx, start, doing, err)
}
