package netlab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// NetnsDir is where named namespaces are bind-mounted, as iproute2 does, so that
// `ip netns exec` and moby/ipvs ipvs.New(path) can reach them.
const NetnsDir = "/run/netns"

// Lab owns every namespace it creates and deletes them when its test ends.
type Lab struct {
	t   testing.TB
	tag string

	mu       sync.Mutex
	hosts    []*Host
	bridges  []*Bridge
	nextPeer int
}

// Host is a network namespace standing in for one machine.
type Host struct {
	lab    *Lab
	name   string // short name given by the test
	nsName string // name under NetnsDir
	ns     netns.NsHandle
	handle *netlink.Handle
}

// Bridge is a Linux bridge alone in its own namespace, acting as an Ethernet switch
// between the hosts linked to it.
type Bridge struct {
	*Host        // the namespace holding the bridge
	Name  string // the bridge interface's name inside that namespace
}

// Iface is one end of a veth pair inside a Host.
type Iface struct {
	Host  *Host
	Name  string
	Addrs []netip.Prefix
}

// New returns an empty Lab whose namespaces are deleted when t ends. It requires root
// (or CAP_SYS_ADMIN and CAP_NET_ADMIN); callers should check with testenv first.
func New(t testing.TB) *Lab {
	t.Helper()
	testenv.Short(t, "builds a network-namespace lab")
	sweepOnce.Do(sweepStale)
	// The tag starts with our PID so a later run can tell a namespace left behind by a
	// killed test process from one in use. math/rand, not crypto/rand: getrandom(2) can
	// block for seconds early in a VM guest's boot.
	l := &Lab{t: t, tag: fmt.Sprintf("%d-%04x", os.Getpid(), rand.Uint32()&0xffff)}
	t.Cleanup(l.close)
	return l
}

var sweepOnce sync.Once

// sweepStale removes namespaces under NetnsDir that a Lab in a process that no longer
// exists left behind (a test binary killed by -timeout never runs its cleanups).
func sweepStale() {
	ents, err := os.ReadDir(NetnsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "vigil-")
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		p := filepath.Join(NetnsDir, e.Name())
		unix.Unmount(p, unix.MNT_DETACH)
		os.Remove(p)
	}
}

// Tag is the random tag that makes this Lab's namespace names unique.
func (l *Lab) Tag() string { return l.tag }

func (l *Lab) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := append([]*Host(nil), l.hosts...)
	for _, b := range l.bridges {
		all = append(all, b.Host)
	}
	for _, h := range all {
		if err := h.close(); err != nil {
			l.t.Errorf("netlab: %v", err)
		}
	}
	l.hosts, l.bridges = nil, nil
}

// Host creates a new network namespace with lo up. name must be unique within the Lab.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	h, err := l.newHost(name)
	if err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	return h
}

func (l *Lab) newHost(name string) (*Host, error) {
	nsName := "vigil-" + l.tag + "-" + name
	ns, err := newNamedNetns(nsName)
	if err != nil {
		return nil, fmt.Errorf("create network namespace %s: %w", nsName, err)
	}
	h := &Host{lab: l, name: name, nsName: nsName, ns: ns}
	h.handle, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		h.close()
		return nil, fmt.Errorf("open netlink in namespace %s: %w", nsName, err)
	}
	if err := h.SetLinkUp("lo"); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// newNamedNetns creates a namespace and bind-mounts it under NetnsDir. The work happens
// on a throw-away locked thread: the goroutine exits still locked, so the runtime kills
// the thread instead of letting another goroutine run in the new namespace.
func newNamedNetns(name string) (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// Deliberately no UnlockOSThread.
		ns, err := func() (netns.NsHandle, error) {
			if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
				return netns.None(), err
			}
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return netns.None(), fmt.Errorf("unshare: %w", err)
			}
			p := filepath.Join(NetnsDir, name)
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL, 0o444)
			if err != nil {
				return netns.None(), err
			}
			f.Close()
			self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
			if err := unix.Mount(self, p, "none", unix.MS_BIND, ""); err != nil {
				os.Remove(p)
				return netns.None(), fmt.Errorf("bind-mount %s on %s: %w", self, p, err)
			}
			return netns.GetFromPath(p)
		}()
		ch <- result{ns, err}
	}()
	r := <-ch
	return r.ns, r.err
}

func (h *Host) close() error {
	var errs []error
	if h.handle != nil {
		h.handle.Close()
		h.handle = nil
	}
	if h.ns.IsOpen() {
		h.ns.Close()
	}
	p := h.Path()
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
	}
	// A process started in the namespace by `ip netns exec` (keepalived, FRR) keeps a copy
	// of the bind mount in its own mount namespace until it has exited, which can be a
	// moment after it was killed: the removal is EBUSY until then.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := os.Remove(p)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			break
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			break
		}
	}
	return errors.Join(errs...)
}

// Bridge creates a namespace holding a bridge named name, with multicast snooping off
// so that VRRP and neighbour discovery multicast reaches every port, as on a hub.
func (l *Lab) Bridge(name string) *Bridge {
	l.t.Helper()
	h, err := l.newHost("br-" + name)
	if err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	b := &Bridge{Host: h, Name: ifName(name)}
	l.mu.Lock()
	l.bridges = append(l.bridges, b)
	l.mu.Unlock()
	off := false
	zero := uint32(0)
	br := &netlink.Bridge{
		LinkAttrs:         netlink.LinkAttrs{Name: b.Name},
		MulticastSnooping: &off,
		// Ageing 0 makes the bridge flood every frame like a hub: tests that move a VIP
		// between hosts then never depend on the bridge's MAC learning.
		AgeingTime: &zero,
	}
	if err := h.handle.LinkAdd(br); err != nil {
		l.t.Fatalf("netlab: add bridge %s in %s: %v", b.Name, h.nsName, err)
	}
	if err := h.SetLinkUp(b.Name); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	return b
}

// Link connects h to br with a veth pair: ifname inside h, the peer enslaved to br. Both
// ends are up and addrs are assigned to ifname.
func (l *Lab) Link(h *Host, ifname string, br *Bridge, addrs ...netip.Prefix) *Iface {
	l.t.Helper()
	l.mu.Lock()
	l.nextPeer++
	peer := fmt.Sprintf("p%d-%s", l.nextPeer, h.name)
	l.mu.Unlock()
	peer = ifName(peer)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: ifname},
		PeerName:      peer,
		PeerNamespace: netlink.NsFd(int(br.ns)),
	}
	if err := h.handle.LinkAdd(veth); err != nil {
		l.t.Fatalf("netlab: add veth %s in %s, peer %s in %s: %v", ifname, h.nsName, peer, br.nsName, err)
	}
	pl, err := br.handle.LinkByName(peer)
	if err != nil {
		l.t.Fatalf("netlab: find veth peer %s in %s: %v", peer, br.nsName, err)
	}
	bl, err := br.handle.LinkByName(br.Name)
	if err != nil {
		l.t.Fatalf("netlab: find bridge %s in %s: %v", br.Name, br.nsName, err)
	}
	if err := br.handle.LinkSetMaster(pl, bl); err != nil {
		l.t.Fatalf("netlab: enslave %s to bridge %s: %v", peer, br.Name, err)
	}
	if err := br.SetLinkUp(peer); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	return l.finishIface(h, ifname, addrs)
}

// Pair connects a and b with a point-to-point veth pair (aIf in a, bIf in b), both up and
// without addresses.
func (l *Lab) Pair(a *Host, aIf string, b *Host, bIf string) (*Iface, *Iface) {
	l.t.Helper()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aIf},
		PeerName:      bIf,
		PeerNamespace: netlink.NsFd(int(b.ns)),
	}
	if err := a.handle.LinkAdd(veth); err != nil {
		l.t.Fatalf("netlab: add veth %s in %s, peer %s in %s: %v", aIf, a.nsName, bIf, b.nsName, err)
	}
	return l.finishIface(a, aIf, nil), l.finishIface(b, bIf, nil)
}

func (l *Lab) finishIface(h *Host, name string, addrs []netip.Prefix) *Iface {
	l.t.Helper()
	for _, p := range addrs {
		if err := h.AddAddr(name, p); err != nil {
			l.t.Fatalf("netlab: %v", err)
		}
	}
	if err := h.SetLinkUp(name); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	return &Iface{Host: h, Name: name, Addrs: addrs}
}

// ifName shortens s to the kernel's 15-byte interface name limit (IFNAMSIZ-1).
func ifName(s string) string {
	if len(s) > unix.IFNAMSIZ-1 {
		s = s[:unix.IFNAMSIZ-1]
	}
	return s
}

// Link returns the interface's current netlink attributes.
func (i *Iface) Link() (netlink.Link, error) {
	l, err := i.Host.handle.LinkByName(i.Name)
	if err != nil {
		return nil, fmt.Errorf("look up %s in %s: %w", i.Name, i.Host.nsName, err)
	}
	return l, nil
}

// Addr returns the interface's first address (without prefix length), or the zero Addr.
func (i *Iface) Addr() netip.Addr {
	if len(i.Addrs) == 0 {
		return netip.Addr{}
	}
	return i.Addrs[0].Addr()
}

// Name is the name the test gave the host.
func (h *Host) Name() string { return h.name }

// Handle is a netlink handle operating inside the namespace; the Lab closes it.
func (h *Host) Handle() *netlink.Handle { return h.handle }

// NsHandle is the namespace's file descriptor; the Lab closes it.
func (h *Host) NsHandle() netns.NsHandle { return h.ns }

// Path is the namespace's bind mount, e.g. for moby/ipvs ipvs.New(path) or
// `nsenter --net=PATH`.
func (h *Host) Path() string { return filepath.Join(NetnsDir, h.nsName) }

// Do runs fn on a locked OS thread switched into the namespace and switches back after.
// Sockets fn creates stay in the namespace. fn must not start goroutines that create
// sockets: they run on other threads, in the caller's namespace.
func (h *Host) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(h.ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", h.nsName, err)
	}
	defer func() {
		// If the switch back fails the thread stays locked and dies with its goroutine,
		// rather than leaking the namespace into unrelated goroutines.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}

// Command returns a command that runs inside the namespace however it is started
// (Run, Start, Output...): it is wrapped in `nsenter --net=PATH`, which setns(2)s and
// then execs name without forking, so cmd.Process is the program itself and signals and
// cmd.Cancel reach it. nsenter comes from util-linux on the host and busybox in the
// vmtest guest. Only the network namespace changes; /sys still shows the caller's.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	nsenter, nerr := exec.LookPath("nsenter")
	prog, perr := exec.LookPath(name)
	if perr != nil {
		prog = name
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + h.Path(), "--", prog}, args...)...)
	switch {
	case nerr != nil:
		cmd.Err = fmt.Errorf("run %s in namespace %s: %w", name, h.nsName, nerr)
	case perr != nil:
		cmd.Err = fmt.Errorf("run %s in namespace %s: %w", name, h.nsName, perr)
	default:
		cmd.Path = nsenter
	}
	// Do not let a stuck child hold the test forever after ctx ends.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Listen announces on the local network address inside the namespace (see net.Listen).
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s/%s in %s: %w", network, addr, h.nsName, err)
	}
	return ln, nil
}

// ListenPacket is net.ListenPacket inside the namespace.
func (h *Host) ListenPacket(network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := h.Do(func() (err error) {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s/%s in %s: %w", network, addr, h.nsName, err)
	}
	return pc, nil
}

// Dial connects from inside the namespace. addr must hold an IP literal: resolving a
// name, or racing IPv4 against IPv6, would dial on other goroutines and threads.
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s/%s from %s: %w", network, addr, h.nsName, err)
	}
	return c, nil
}

// HTTPClient returns a client whose connections are dialled inside the namespace. It
// uses no proxy and no keep-alives (so each request is a new connection, as a health
// check or a load-balancing test expects), and a 30 s overall timeout.
func (h *Host) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       h.Dial,
			DisableKeepAlives: true,
		},
		Timeout: 30 * time.Second,
	}
}

func sysctlPath(key string) string {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return filepath.Join("/proc/sys", key)
}

// Sysctl sets key (e.g. "net.ipv4.ip_forward", or a path under /proc/sys for keys whose
// names hold dots, like "net/ipv4/conf/eth0.5/arp_ignore") inside the namespace. The
// kernel picks the namespace of a /proc/sys/net file from the thread that opens it.
func (h *Host) Sysctl(key, value string) error {
	p := sysctlPath(key)
	err := h.Do(func() error { return os.WriteFile(p, []byte(value), 0) })
	if err != nil {
		return fmt.Errorf("set sysctl %s=%s in %s: %w", key, value, h.nsName, err)
	}
	return nil
}

// SysctlGet reads key inside the namespace, without the trailing newline.
func (h *Host) SysctlGet(key string) (string, error) {
	p := sysctlPath(key)
	var b []byte
	err := h.Do(func() (err error) {
		b, err = os.ReadFile(p)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read sysctl %s in %s: %w", key, h.nsName, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// AddAddr assigns p (host address and prefix length, e.g. 198.18.0.1/24) to ifname. IPv6
// addresses skip duplicate address detection so they are usable at once.
func (h *Host) AddAddr(ifname string, p netip.Prefix) error {
	link, err := h.handle.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("add address %s to %s in %s: %w", p, ifname, h.nsName, err)
	}
	a := &netlink.Addr{IPNet: prefixToIPNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := h.handle.AddrAdd(link, a); err != nil {
		return fmt.Errorf("add address %s to %s in %s: %w", p, ifname, h.nsName, err)
	}
	return nil
}

// AddRoute routes dst via gateway gw (which must be on a connected subnet). A dst of
// 0.0.0.0/0 or ::/0 adds a default route.
func (h *Host) AddRoute(dst netip.Prefix, gw netip.Addr) error {
	r := &netlink.Route{Dst: prefixToIPNet(dst.Masked()), Gw: gw.AsSlice()}
	if err := h.handle.RouteAdd(r); err != nil {
		return fmt.Errorf("add route %s via %s in %s: %w", dst, gw, h.nsName, err)
	}
	return nil
}

// SetLinkUp brings ifname up.
func (h *Host) SetLinkUp(ifname string) error {
	return h.setLink(ifname, true)
}

// SetLinkDown takes ifname down (e.g. to simulate a cable pull in a failover test).
func (h *Host) SetLinkDown(ifname string) error {
	return h.setLink(ifname, false)
}

func (h *Host) setLink(ifname string, up bool) error {
	state, set := "up", h.handle.LinkSetUp
	if !up {
		state, set = "down", h.handle.LinkSetDown
	}
	link, err := h.handle.LinkByName(ifname)
	if err == nil {
		err = set(link)
	}
	if err != nil {
		return fmt.Errorf("set %s %s in %s: %w", ifname, state, h.nsName, err)
	}
	return nil
}
