package vip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Manager manages addresses on one interface.
type Manager struct {
	ifname string
}

// New returns a Manager for the interface ifname (looked up on every call, so an
// interface that is re-created keeps working).
func New(ifname string) *Manager { return &Manager{ifname: ifname} }

func toAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		// No duplicate address detection: the address must work at once, and the
		// election has already decided who holds it (keepalived does the same).
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// Add adds the addresses; present ones are left alone.
func (m *Manager) Add(_ context.Context, vips []netip.Prefix) error {
	link, err := netlink.LinkByName(m.ifname)
	if err != nil {
		return fmt.Errorf("add virtual addresses to %s: %w", m.ifname, err)
	}
	var errs []error
	for _, p := range vips {
		if err := netlink.AddrAdd(link, toAddr(p)); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("add %s to %s: %w", p, m.ifname, err))
		}
	}
	return errors.Join(errs...)
}

// Remove removes the addresses; absent ones are no error.
func (m *Manager) Remove(_ context.Context, vips []netip.Prefix) error {
	link, err := netlink.LinkByName(m.ifname)
	if err != nil {
		return fmt.Errorf("remove virtual addresses from %s: %w", m.ifname, err)
	}
	var errs []error
	for _, p := range vips {
		err := netlink.AddrDel(link, toAddr(p))
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove %s from %s: %w", p, m.ifname, err))
		}
	}
	return errors.Join(errs...)
}
