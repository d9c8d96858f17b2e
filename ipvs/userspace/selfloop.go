package userspace

import (
	"net"
	"net/netip"
)

// connectsToItself reports whether a connection to `to` would reach the service's own
// listener: the proxy would then accept its own connection, pick the same real server,
// connect again, and so on until the process runs out of descriptors (20,000 in 5 s,
// measured on main), accepting nothing else meanwhile. conf refuses such a real server;
// this is the data plane's own guard, for every way a table is programmed.
//
// A listener on a wildcard address (0.0.0.0, ::) is reached through any local address
// of the port; a connect to a wildcard address reaches the host itself.
func (s *service) connectsToItself(to netip.AddrPort) bool {
	self := netip.AddrPortFrom(s.key.Addr.Addr().Unmap(), s.key.Addr.Port())
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if to == self {
		return true
	}
	if to.Port() != self.Port() {
		return false
	}
	switch {
	case self.Addr().IsUnspecified():
		return to.Addr().IsUnspecified() || to.Addr().IsLoopback() || isLocalAddress(to.Addr())
	case to.Addr().IsUnspecified():
		return self.Addr().IsLoopback() // connect(0.0.0.0) goes to the loopback address
	}
	return false
}

// isLocalAddress reports whether a is an address of one of this host's interfaces.
func isLocalAddress(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}
