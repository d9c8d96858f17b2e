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

// Manager manages a virtual router's addresses: on its interface, or where a Placement
// puts them.
type Manager struct {
	ifname string
	placed map[netip.Addr]Placement
}

// New returns a Manager for the interface ifname (looked up on every call, so an
// interface that is re-created keeps working).
func New(ifname string) *Manager { return &Manager{ifname: ifname} }

// NewPlaced is New with some addresses on other interfaces or with labels.
func NewPlaced(ifname string, placed map[netip.Addr]Placement) *Manager {
	return &Manager{ifname: ifname, placed: placed}
}

func (m *Manager) toAddr(p netip.Prefix) (string, *netlink.Addr) {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		// No duplicate address detection: the address must work at once, and the
		// election has already decided who holds it (keepalived does the same).
		a.Flags = unix.IFA_F_NODAD
	}
	dev := m.ifname
	if pl, ok := m.placed[p.Addr()]; ok {
		if pl.Dev != "" {
			dev = pl.Dev
		}
		a.Label = pl.Label
	}
	return dev, a
}

// each calls fn with each address and its device's link, looking each device up once.
func (m *Manager) each(vips []netip.Prefix, verb string, fn func(link netlink.Link, dev string, p netip.Prefix, a *netlink.Addr) error) error {
	links := map[string]netlink.Link{}
	var errs []error
	for _, p := range vips {
		dev, a := m.toAddr(p)
		link, ok := links[dev]
		if !ok {
			l, err := netlink.LinkByName(dev)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s virtual address %s on %s: %w", verb, p, dev, err))
				continue
			}
			link, links[dev] = l, l
		}
		if err := fn(link, dev, p, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Add adds the addresses; present ones are left alone.
func (m *Manager) Add(_ context.Context, vips []netip.Prefix) error {
	return m.each(vips, "add", func(link netlink.Link, dev string, p netip.Prefix, a *netlink.Addr) error {
		if err := netlink.AddrAdd(link, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add %s to %s: %w", p, dev, err)
		}
		return nil
	})
}

// Remove removes the addresses; absent ones are no error.
func (m *Manager) Remove(_ context.Context, vips []netip.Prefix) error {
	return m.each(vips, "remove", func(link netlink.Link, dev string, p netip.Prefix, a *netlink.Addr) error {
		err := netlink.AddrDel(link, a)
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("remove %s from %s: %w", p, dev, err)
		}
		return nil
	})
}
