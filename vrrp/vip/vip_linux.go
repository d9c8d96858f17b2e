package vip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// handle is the part of *netlink.Handle a Manager uses; tests fake it.
type handle interface {
	LinkByName(name string) (netlink.Link, error)
	AddrAdd(link netlink.Link, addr *netlink.Addr) error
	AddrDel(link netlink.Link, addr *netlink.Addr) error
	Close()
}

// socketTimeout bounds each netlink request, so that a kernel that does not answer fails
// the call instead of holding the instance's goroutine.
const socketTimeout = 5 * time.Second

func openHandle() (handle, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	if err := h.SetSocketTimeout(socketTimeout); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Manager manages a virtual router's addresses: on its interface, or where a Placement
// puts them. It keeps one netlink socket and each interface's link from the first call
// on (the socket lives in the network namespace of the thread that makes that call), so
// that a takeover costs one request per address and nothing else. A request that fails
// for another reason than the address being present (Add) or absent (Remove) drops the
// socket and the links and is tried once more afresh: an interface re-created under its
// name, or a socket the kernel closed, costs one retry.
type Manager struct {
	ifname string
	placed map[netip.Addr]Placement
	open   func() (handle, error)

	mu    sync.Mutex
	h     handle
	links map[string]netlink.Link
}

// New returns a Manager for the interface ifname.
func New(ifname string) *Manager { return NewPlaced(ifname, nil) }

// NewPlaced is New with some addresses on other interfaces or with labels.
func NewPlaced(ifname string, placed map[netip.Addr]Placement) *Manager {
	return &Manager{ifname: ifname, placed: placed, open: openHandle}
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

// link returns the socket and dev's link, opening and looking up what is not cached.
// m.mu is held.
func (m *Manager) link(dev string) (handle, netlink.Link, error) {
	if m.h == nil {
		h, err := m.open()
		if err != nil {
			return nil, nil, fmt.Errorf("open netlink socket: %w", err)
		}
		m.h, m.links = h, map[string]netlink.Link{}
	}
	if l, ok := m.links[dev]; ok {
		return m.h, l, nil
	}
	l, err := m.h.LinkByName(dev)
	if err != nil {
		return nil, nil, fmt.Errorf("look up the interface: %w", err)
	}
	m.links[dev] = l
	return m.h, l, nil
}

// reset drops the socket and the cached links. m.mu is held.
func (m *Manager) reset() {
	if m.h != nil {
		m.h.Close()
	}
	m.h, m.links = nil, nil
}

// each applies op to every address on its device. An error that done does not accept
// is retried once with a fresh socket and lookup.
func (m *Manager) each(vips []netip.Prefix, verb, prep string, op func(h handle, l netlink.Link, a *netlink.Addr) error, done func(error) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, p := range vips {
		dev, a := m.toAddr(p)
		var err error
		for try := range 2 {
			var h handle
			var l netlink.Link
			if h, l, err = m.link(dev); err == nil {
				if err = op(h, l, a); done(err) {
					err = nil
					break
				}
			}
			if try == 0 {
				m.reset()
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s virtual address %s %s %s: %w", verb, p, prep, dev, err))
		}
	}
	return errors.Join(errs...)
}

// Add adds the addresses; present ones are left alone.
func (m *Manager) Add(_ context.Context, vips []netip.Prefix) error {
	return m.each(vips, "add", "to", func(h handle, l netlink.Link, a *netlink.Addr) error {
		return h.AddrAdd(l, a)
	}, func(err error) bool { return err == nil || errors.Is(err, unix.EEXIST) })
}

// Remove removes the addresses; absent ones are no error.
func (m *Manager) Remove(_ context.Context, vips []netip.Prefix) error {
	return m.each(vips, "remove", "from", func(h handle, l netlink.Link, a *netlink.Addr) error {
		return h.AddrDel(l, a)
	}, func(err error) bool {
		return err == nil || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
	})
}

// Close closes the netlink socket; a later call opens a new one.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset()
	return nil
}
