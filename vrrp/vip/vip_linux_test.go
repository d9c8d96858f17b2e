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
