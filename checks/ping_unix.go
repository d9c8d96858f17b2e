//go:build unix

package checks

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
)

// openICMP opens an ICMP socket for one echo: a ping socket (SOCK_DGRAM) when the kernel
// allows this process's group (net.ipv4.ping_group_range), else a raw socket, which needs
// CAP_NET_RAW. Both are bound to source when it is valid.
func openICMP(v4 bool, source netip.Addr) (icmpConn, error) {
	family, proto := syscall.AF_INET, syscall.IPPROTO_ICMP
	if !v4 {
		family, proto = syscall.AF_INET6, syscall.IPPROTO_ICMPV6
	}
	c, pingErr := openICMPSocket(family, syscall.SOCK_DGRAM, proto, source)
	if pingErr == nil {
		return icmpConn{PacketConn: c}, nil
	}
	c, rawErr := openICMPSocket(family, syscall.SOCK_RAW, proto, source)
	if rawErr == nil {
		return icmpConn{PacketConn: c, raw: true}, nil
	}
	if errors.Is(pingErr, syscall.EACCES) && (errors.Is(rawErr, syscall.EPERM) || errors.Is(rawErr, syscall.EACCES)) {
		return icmpConn{}, fmt.Errorf("cannot open an ICMP socket: add vigil's group to net.ipv4.ping_group_range, or grant CAP_NET_RAW (ping socket: %v; raw socket: %v)", pingErr, rawErr)
	}
	return icmpConn{}, fmt.Errorf("open ICMP socket: ping socket: %v; raw socket: %w", pingErr, rawErr)
}

func openICMPSocket(family, sotype, proto int, source netip.Addr) (net.PacketConn, error) {
	// Not every unix has SOCK_CLOEXEC: take ForkLock so no exec sees the socket before
	// CloseOnExec, as package syscall's own sockets do. FilePacketConn makes it non-blocking.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(family, sotype, proto)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close() // FilePacketConn holds its own duplicate
	if err := icmpSockopts(fd, family == syscall.AF_INET, sotype == syscall.SOCK_RAW); err != nil {
		return nil, err
	}
	// Bind even without a source: net.FilePacketConn learns the socket's kind from
	// getsockname, and a ping socket gets its echo ID (its "port") here.
	var sa syscall.Sockaddr
	if family == syscall.AF_INET {
		a := &syscall.SockaddrInet4{}
		if source.IsValid() {
			a.Addr = source.As4()
		}
		sa = a
	} else {
		a := &syscall.SockaddrInet6{}
		if source.IsValid() {
			a.Addr = source.As16()
		}
		sa = a
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	return net.FilePacketConn(f)
}
