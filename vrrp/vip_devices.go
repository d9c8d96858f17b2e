package vrrp

import (
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/vigil-lb/vigil/vrrp/vip"
)

// VIPDevice puts a virtual address on another interface than the instance's, or gives
// it a label (keepalived's "ADDRESS dev DEV label LABEL"). Its gratuitous ARPs go out of
// that interface.
type VIPDevice struct {
	Addr netip.Addr
	// Dev is the interface; "" is the instance's own.
	Dev string
	// Label is the IPv4 label (it must begin with the interface's name); "" for none.
	Label string
}

func (c *Config) dev(d VIPDevice) string {
	if d.Dev == "" {
		return c.Interface
	}
	return d.Dev
}

func (c *Config) validateDevices(bad func(string, ...any)) {
	seen := map[netip.Addr]bool{}
	for _, d := range c.VIPDevices {
		switch {
		case !slices.ContainsFunc(c.VIPs, func(p netip.Prefix) bool { return p.Addr() == d.Addr }):
			bad("virtual address device for %s: not one of the virtual addresses", d.Addr)
		case seen[d.Addr]:
			bad("virtual address %s placed twice", d.Addr)
		case d.Label != "" && (d.Addr.Is6() || !strings.HasPrefix(d.Label, c.dev(d)) || len(d.Label) > 15):
			bad("virtual address %s: label %q must be IPv4, begin with %q and have at most 15 characters", d.Addr, d.Label, c.dev(d))
		}
		seen[d.Addr] = true
	}
}

func (c *Config) placements() map[netip.Addr]vip.Placement {
	out := map[netip.Addr]vip.Placement{}
	for _, d := range c.VIPDevices {
		out[d.Addr] = vip.Placement{Dev: d.Dev, Label: d.Label}
	}
	return out
}

// announcers sends each address's announcement out of its own interface.
type announcers struct {
	byDev map[string]Announcer
	devOf map[netip.Addr]string
	iface string
	order []string
}

// openAnnouncers opens one announcer per interface the addresses of cfg live on; with
// every address on cfg.Interface it is that interface's announcer alone.
func openAnnouncers(cfg Config, open func(dev string) (Announcer, error)) (Announcer, error) {
	a := &announcers{byDev: map[string]Announcer{}, devOf: map[netip.Addr]string{}, iface: cfg.Interface}
	devs := []string{cfg.Interface}
	for _, d := range cfg.VIPDevices {
		dev := cfg.dev(d)
		a.devOf[d.Addr] = dev
		if !slices.Contains(devs, dev) {
			devs = append(devs, dev)
		}
	}
	for _, dev := range devs {
		an, err := open(dev)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.byDev[dev] = an
		a.order = append(a.order, dev)
	}
	if len(devs) == 1 {
		return a.byDev[cfg.Interface], nil
	}
	return a, nil
}

func (a *announcers) Announce(vips []netip.Addr) error {
	byDev := map[string][]netip.Addr{}
	for _, ip := range vips {
		dev, ok := a.devOf[ip]
		if !ok {
			dev = a.iface
		}
		byDev[dev] = append(byDev[dev], ip)
	}
	var errs []error
	for _, dev := range a.order {
		if ips := byDev[dev]; len(ips) > 0 {
			errs = append(errs, a.byDev[dev].Announce(ips))
		}
	}
	return errors.Join(errs...)
}

// Close closes the announcers that have a Close (the AF_PACKET sockets).
func (a *announcers) Close() error {
	var errs []error
	for _, an := range a.byDev {
		if c, ok := an.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
