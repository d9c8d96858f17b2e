package vip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeKernel is the interfaces and their addresses; fakeHandle is one socket to it.
type fakeKernel struct {
	ifindex   map[string]int // name -> current index
	addrs     map[int]map[netip.Addr]string
	opens     int
	openErr   error
	lookups   int
	requests  int
	failNext  error // the next address request fails with this, once
	closed    int
	liveHands int
}

func newFakeKernel(ifs ...string) *fakeKernel {
	k := &fakeKernel{ifindex: map[string]int{}, addrs: map[int]map[netip.Addr]string{}}
	for i, n := range ifs {
		k.ifindex[n] = i + 2
		k.addrs[i+2] = map[netip.Addr]string{}
	}
	return k
}

// recreate deletes ifname and creates it again under a new index, without its
// addresses, as `ip link del` and `ip link add` do.
func (k *fakeKernel) recreate(ifname string) {
	idx := 100 + len(k.addrs)
	delete(k.addrs, k.ifindex[ifname])
	k.ifindex[ifname] = idx
	k.addrs[idx] = map[netip.Addr]string{}
}

func (k *fakeKernel) open() (handle, error) {
	k.opens++
	if k.openErr != nil {
		return nil, k.openErr
	}
	k.liveHands++
	return &fakeHandle{k: k}, nil
}

type fakeHandle struct {
	k      *fakeKernel
	closed bool
}

func (h *fakeHandle) LinkByName(name string) (netlink.Link, error) {
	h.k.lookups++
	if h.closed {
		return nil, unix.EBADF
	}
	idx, ok := h.k.ifindex[name]
	if !ok {
		return nil, netlink.LinkNotFoundError{}
	}
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name, Index: idx}}, nil
}

func (h *fakeHandle) request(l netlink.Link, a *netlink.Addr) (map[netip.Addr]string, netip.Addr, error) {
	h.k.requests++
	if h.closed {
		return nil, netip.Addr{}, unix.EBADF
	}
	if err := h.k.failNext; err != nil {
		h.k.failNext = nil
		return nil, netip.Addr{}, err
	}
	m, ok := h.k.addrs[l.Attrs().Index]
	if !ok {
		return nil, netip.Addr{}, unix.ENODEV
	}
	ip, _ := netip.AddrFromSlice(a.IP)
	return m, ip.Unmap(), nil
}

func (h *fakeHandle) AddrAdd(l netlink.Link, a *netlink.Addr) error {
	m, ip, err := h.request(l, a)
	if err != nil {
		return err
	}
	if _, ok := m[ip]; ok {
		return unix.EEXIST
	}
	m[ip] = a.Label
	return nil
}

func (h *fakeHandle) AddrDel(l netlink.Link, a *netlink.Addr) error {
	m, ip, err := h.request(l, a)
	if err != nil {
		return err
	}
	if _, ok := m[ip]; !ok {
		return unix.EADDRNOTAVAIL
	}
	delete(m, ip)
	return nil
}

func (h *fakeHandle) Close() {
	if !h.closed {
		h.closed = true
		h.k.closed++
		h.k.liveHands--
	}
}

func fakeManager(k *fakeKernel, placed map[netip.Addr]Placement) *Manager {
	m := NewPlaced("eth0", placed)
	m.open = k.open
	return m
}

var (
	v4  = netip.MustParsePrefix("198.18.0.254/24")
	v4b = netip.MustParsePrefix("198.18.0.253/24")
	v6  = netip.MustParsePrefix("2001:db8::254/64")
)

func (k *fakeKernel) on(ifname string) []string {
	var out []string
	for ip, label := range k.addrs[k.ifindex[ifname]] {
		out = append(out, fmt.Sprintf("%s/%s", ip, label))
	}
	return out
}

// Takeovers after the first cost one request per address: one socket for the Manager's
// life and one lookup per interface, not a socket and a lookup per change.
func TestOneSocketOneLookup(t *testing.T) {
	k := newFakeKernel("eth0", "eth1")
	m := fakeManager(k, map[netip.Addr]Placement{v4b.Addr(): {Dev: "eth1"}})
	ctx := context.Background()
	vips := []netip.Prefix{v4, v4b, v6}
	for range 5 {
		if err := m.Add(ctx, vips); err != nil {
			t.Fatal(err)
		}
		if err := m.Remove(ctx, vips); err != nil {
			t.Fatal(err)
		}
	}
	if k.opens != 1 || k.lookups != 2 {
		t.Errorf("5 takeovers and releases opened %d sockets and looked up %d links; want 1 and 2 (eth0, eth1)", k.opens, k.lookups)
	}
	if k.requests != 5*2*len(vips) {
		t.Errorf("%d address requests, want %d", k.requests, 5*2*len(vips))
	}
	if err := m.Close(); err != nil || k.liveHands != 0 {
		t.Errorf("Close: %v, %d sockets still open", err, k.liveHands)
	}
}

// Present on Add and absent on Remove are no error, and are not retried.
func TestIdempotentNoRetry(t *testing.T) {
	k := newFakeKernel("eth0")
	m := fakeManager(k, nil)
	ctx := context.Background()
	for range 2 {
		if err := m.Add(ctx, []netip.Prefix{v4}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := m.Remove(ctx, []netip.Prefix{v4}); err != nil {
			t.Fatal(err)
		}
	}
	if k.requests != 4 || k.opens != 1 {
		t.Errorf("%d requests on %d sockets, want 4 on 1 (EEXIST / EADDRNOTAVAIL are success)", k.requests, k.opens)
	}
}

// An interface deleted and created again under its name (a new index) costs one retry
// with a fresh lookup, and the address lands on the new interface.
func TestRecreatedInterface(t *testing.T) {
	k := newFakeKernel("eth0")
	m := fakeManager(k, nil)
	ctx := context.Background()
	if err := m.Add(ctx, []netip.Prefix{v4}); err != nil {
		t.Fatal(err)
	}
	k.recreate("eth0")
	if err := m.Add(ctx, []netip.Prefix{v4, v6}); err != nil {
		t.Fatalf("Add after the interface was re-created: %v", err)
	}
	if got := k.on("eth0"); len(got) != 2 {
		t.Errorf("new eth0 holds %v, want both addresses", got)
	}
	if k.lookups != 2 || k.opens != 2 || k.liveHands != 1 {
		t.Errorf("%d lookups, %d sockets opened, %d open; want 2, 2, 1 (one fresh start, the old socket closed)", k.lookups, k.opens, k.liveHands)
	}
}

// A socket that fails once (the kernel closed it, a transient error) is replaced and the
// request made again; a second failure is reported, located, and the other addresses are
// still done.
func TestRetryOnceThenReport(t *testing.T) {
	k := newFakeKernel("eth0")
	m := fakeManager(k, nil)
	ctx := context.Background()
	k.failNext = unix.ENOBUFS
	if err := m.Add(ctx, []netip.Prefix{v4}); err != nil {
		t.Fatalf("one transient failure: %v", err)
	}
	if k.opens != 2 {
		t.Errorf("%d sockets opened, want 2", k.opens)
	}

	k.failNext = unix.EPERM
	m.open = func() (handle, error) {
		h, err := k.open()
		k.failNext = unix.EPERM // the retry fails too
		return h, err
	}
	err := m.Add(ctx, []netip.Prefix{v4b, v6})
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "add virtual address 198.18.0.253/24 to eth0") {
		t.Fatalf("Add = %v, want EPERM for 198.18.0.253/24 on eth0", err)
	}
	if got := k.on("eth0"); len(got) != 2 {
		t.Errorf("eth0 holds %v, want the first address and 2001:db8::254 (the failure of one does not stop the others)", got)
	}
}

// An interface that does not exist, or a socket that cannot be opened, is a located error.
func TestErrorsLocated(t *testing.T) {
	k := newFakeKernel("eth0")
	m := fakeManager(k, map[netip.Addr]Placement{v4b.Addr(): {Dev: "nosuch"}})
	ctx := context.Background()
	err := m.Add(ctx, []netip.Prefix{v4, v4b})
	if err == nil || !strings.Contains(err.Error(), "198.18.0.253/24 to nosuch") || !strings.Contains(err.Error(), "look up the interface") {
		t.Errorf("Add to a missing interface = %v", err)
	}
	if got := k.on("eth0"); len(got) != 1 {
		t.Errorf("eth0 holds %v, want 198.18.0.254", got)
	}
	if err := m.Remove(ctx, []netip.Prefix{v4}); err != nil {
		t.Fatal(err)
	}

	k2 := newFakeKernel("eth0")
	k2.openErr = unix.EMFILE
	m2 := fakeManager(k2, nil)
	if err := m2.Remove(ctx, []netip.Prefix{v4}); !errors.Is(err, unix.EMFILE) || !strings.Contains(err.Error(), "open netlink socket") {
		t.Errorf("Remove without a socket = %v", err)
	}
	k2.openErr = nil
	if err := m2.Add(ctx, []netip.Prefix{v4}); err != nil {
		t.Errorf("Add once the socket opens: %v", err)
	}
}

// Labels and devices from the placement reach the request.
func TestPlacementLabel(t *testing.T) {
	k := newFakeKernel("eth0", "eth1")
	m := fakeManager(k, map[netip.Addr]Placement{v4b.Addr(): {Dev: "eth1", Label: "eth1:vip"}, v4.Addr(): {Label: "eth0:x"}})
	if err := m.Add(context.Background(), []netip.Prefix{v4, v4b}); err != nil {
		t.Fatal(err)
	}
	if got := k.on("eth1"); len(got) != 1 || got[0] != "198.18.0.253/eth1:vip" {
		t.Errorf("eth1 holds %v", got)
	}
	if got := k.on("eth0"); len(got) != 1 || got[0] != "198.18.0.254/eth0:x" {
		t.Errorf("eth0 holds %v", got)
	}
}
