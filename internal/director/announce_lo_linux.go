package director

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linuxLoopback puts addresses on lo with netlink.
type linuxLoopback struct{}

func (linuxLoopback) addr(p netip.Prefix) (netlink.Link, *netlink.Addr, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, nil, fmt.Errorf("find lo: %w", err)
	}
	ipn := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	return lo, &netlink.Addr{IPNet: ipn}, nil
}

func (l linuxLoopback) Add(p netip.Prefix) (bool, error) {
	lo, a, err := l.addr(p)
	if err != nil {
		return false, err
	}
	if err := netlink.AddrAdd(lo, a); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return false, nil // an operator's (or a previous run's) address: left alone
		}
		return false, fmt.Errorf("add %s to lo: %w", p, err)
	}
	return true, nil
}

func (l linuxLoopback) Remove(p netip.Prefix) error {
	lo, a, err := l.addr(p)
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(lo, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("remove %s from lo: %w", p, err)
	}
	return nil
}
