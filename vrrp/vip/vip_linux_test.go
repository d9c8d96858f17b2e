package vip_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp/vip"
)

func addrs(t *testing.T, h *netlab.Host) []netip.Addr {
	t.Helper()
	l, err := h.Handle().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	list, err := h.Handle().AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, a := range list {
		ip, _ := netip.AddrFromSlice(a.IP)
		out = append(out, ip.Unmap())
	}
	return out
}

func TestAddRemoveIdempotent(t *testing.T) {
	testenv.RequireRoot(t)
	lab := netlab.New(t)
	br := lab.Bridge("lan")
	h := lab.Host("d1")
	lab.Link(h, "eth0", br, netip.MustParsePrefix("198.18.0.11/24"))
	vips := []netip.Prefix{netip.MustParsePrefix("198.18.0.254/24"), netip.MustParsePrefix("2001:db8::254/64")}
	m := vip.New("eth0")
	ctx := context.Background()
	for range 2 { // the second Add finds them present: no error
		if err := h.Do(func() error { return m.Add(ctx, vips) }); err != nil {
			t.Fatal(err)
		}
	}
	got := addrs(t, h)
	for _, v := range vips {
		if !slices.Contains(got, v.Addr()) {
			t.Errorf("%v not on eth0 after Add: %v", v, got)
		}
	}
	for range 2 { // the second Remove finds them gone: no error
		if err := h.Do(func() error { return m.Remove(ctx, vips) }); err != nil {
			t.Fatal(err)
		}
	}
	got = addrs(t, h)
	for _, v := range vips {
		if slices.Contains(got, v.Addr()) {
			t.Errorf("%v still on eth0 after Remove", v)
		}
	}
	if !slices.Contains(got, netip.MustParseAddr("198.18.0.11")) {
		t.Errorf("primary address gone: %v", got)
	}
}

// Addresses placed on another interface, with labels (keepalived's dev and label), go
// there and come off there.
func TestPlaced(t *testing.T) {
	testenv.RequireRoot(t)
	lab := netlab.New(t)
	h := lab.Host("d1")
	lab.Link(h, "eth0", lab.Bridge("lan"), netip.MustParsePrefix("198.18.0.11/24"))
	lab.Link(h, "eth1", lab.Bridge("lan2"), netip.MustParsePrefix("198.18.1.11/24"))
	onEth0 := netip.MustParsePrefix("198.18.0.254/24")
	onEth1 := netip.MustParsePrefix("198.18.1.254/24")
	labeled := netip.MustParsePrefix("198.18.0.253/32")
	m := vip.NewPlaced("eth0", map[netip.Addr]vip.Placement{
		onEth1.Addr():  {Dev: "eth1", Label: "eth1:vip"},
		labeled.Addr(): {Label: "eth0:x"},
	})
	all := []netip.Prefix{onEth0, onEth1, labeled}
	labels := func(dev string) map[netip.Addr]string {
		l, err := h.Handle().LinkByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		list, err := h.Handle().AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		out := map[netip.Addr]string{}
		for _, a := range list {
			ip, _ := netip.AddrFromSlice(a.IP)
			out[ip.Unmap()] = a.Label
		}
		return out
	}
	ctx := context.Background()
	if err := h.Do(func() error { return m.Add(ctx, all) }); err != nil {
		t.Fatal(err)
	}
	eth0, eth1 := labels("eth0"), labels("eth1")
	if l, ok := eth0[onEth0.Addr()]; !ok || l != "eth0" {
		t.Errorf("eth0: %v, want %s with the default label", eth0, onEth0)
	}
	if l, ok := eth0[labeled.Addr()]; !ok || l != "eth0:x" {
		t.Errorf("eth0: %v, want %s labelled eth0:x", eth0, labeled)
	}
	if l, ok := eth1[onEth1.Addr()]; !ok || l != "eth1:vip" {
		t.Errorf("eth1: %v, want %s labelled eth1:vip", eth1, onEth1)
	}
	if _, ok := eth0[onEth1.Addr()]; ok {
		t.Errorf("%s on eth0 too", onEth1)
	}
	if err := h.Do(func() error { return m.Remove(ctx, all) }); err != nil {
		t.Fatal(err)
	}
	eth0, eth1 = labels("eth0"), labels("eth1")
	if len(eth0) != 1 || len(eth1) != 1 {
		t.Errorf("after Remove: eth0 %v, eth1 %v; want only the primary addresses", eth0, eth1)
	}
}
