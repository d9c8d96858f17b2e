package bgp

import (
	"errors"
	"net"
	"net/netip"
)

// HostRouterID is the first IPv4 address of the host that is neither loopback nor
// link-local (in interface order), the default BGP identifier.
func HostRouterID() (netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		if a, ok := firstRouterID(addrs); ok {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("the host has no IPv4 address to use as BGP identifier: set bgp.router_id")
}

func firstRouterID(addrs []net.Addr) (netip.Addr, bool) {
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		ip = ip.Unmap()
		if ok && ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}
