package announce

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/packet"
)

// Announcer sends announcements on one interface through an AF_PACKET socket.
type Announcer struct {
	ifi  *net.Interface
	conn *packet.Conn
	ll   netip.Addr // link-local source for NAs
}

// Open opens the AF_PACKET socket on ifname. Ethertype 0 (send only): the socket
// receives nothing, so it needs no draining.
func Open(ifname string) (*Announcer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("open announcer on %s: %w", ifname, err)
	}
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("open AF_PACKET socket on %s: %w", ifname, err)
	}
	return &Announcer{ifi: ifi, conn: c}, nil
}

// Announce sends one gratuitous ARP or unsolicited NA per address.
func (a *Announcer) Announce(vips []netip.Addr) error {
	var errs []error
	for _, ip := range vips {
		var f []byte
		dst := broadcast
		if ip.Is4() {
			f = GARP(a.ifi.HardwareAddr, ip)
		} else {
			if !a.ll.IsValid() {
				a.ll = linkLocal(a.ifi)
			}
			f = NA(a.ifi.HardwareAddr, a.ll, ip)
			dst = allNodesMAC
		}
		if _, err := a.conn.WriteTo(f, &packet.Addr{HardwareAddr: dst}); err != nil {
			errs = append(errs, fmt.Errorf("announce %s on %s: %w", ip, a.ifi.Name, err))
		}
	}
	return errors.Join(errs...)
}

func linkLocal(ifi *net.Interface) netip.Addr {
	addrs, _ := ifi.Addrs()
	for _, ad := range addrs {
		if n, ok := ad.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
				return ip
			}
		}
	}
	return netip.IPv6Unspecified()
}

// Close closes the socket.
func (a *Announcer) Close() error { return a.conn.Close() }
