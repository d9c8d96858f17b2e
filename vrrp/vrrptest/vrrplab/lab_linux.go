// Package vrrplab is the wire lab for VRRP tests and benchmarks: two directors and a
// client in network namespaces on a bridge, vigil (vrrpd) and keepalived started as
// separate processes, a packet capture in the client namespace, and VIP sampling.
package vrrplab

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrpd"
)

// The lab's addresses (docs/reference.md, keepalived on the wire).
var (
	D1Addr     = netip.MustParsePrefix("198.18.0.11/24")
	D2Addr     = netip.MustParsePrefix("198.18.0.12/24")
	ClientAddr = netip.MustParsePrefix("198.18.0.100/24")
	VIP        = netip.MustParsePrefix("198.18.0.254/24")
)

// Lab is two directors and a client on one bridge, each with eth0.
type Lab struct {
	T              testing.TB
	Net            *netlab.Lab
	D1, D2, Client *netlab.Host
	Dir            string
}

// New builds the lab; everything is removed when t ends.
func New(t testing.TB) *Lab {
	t.Helper()
	n := netlab.New(t)
	br := n.Bridge("lan")
	l := &Lab{T: t, Net: n, D1: n.Host("d1"), D2: n.Host("d2"), Client: n.Host("client"), Dir: t.TempDir()}
	n.Link(l.D1, "eth0", br, D1Addr)
	n.Link(l.D2, "eth0", br, D2Addr)
	n.Link(l.Client, "eth0", br, ClientAddr)
	return l
}

// Director returns the Host of d1 or d2 by name.
func (l *Lab) Director(name string) *netlab.Host {
	if name == "d1" {
		return l.D1
	}
	return l.D2
}

// VigilConfig is the lab's standard instance for a director.
func VigilConfig(name string, prio uint8, version int, interval time.Duration) vrrp.Config {
	return vrrp.Config{
		Name: name, Interface: "eth0", VRID: 51, Priority: prio, Version: version,
		Interval: interval, Preempt: true, VIPs: []netip.Prefix{VIP},
	}
}

// Daemon is a VRRP speaker process in a namespace.
type Daemon struct {
	Name       string
	Keepalived bool
	cmd        *exec.Cmd
	stdin      *os.File
	out        *testenv.Buffer
	statusPath string
	pidDir     string
	done       chan struct{}
	waitErr    error
}

// StartVigil runs cfg in h as a separate process: the test binary re-executed with
// vrrpd's environment (its TestMain must call vrrpd.MaybeRun).
func (l *Lab) StartVigil(h *netlab.Host, cfg vrrp.Config) *Daemon {
	l.T.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		l.T.Fatal(err)
	}
	dir := filepath.Join(l.Dir, h.Name()+"-vigil-"+fmt.Sprint(time.Now().UnixNano()))
	os.MkdirAll(dir, 0o755)
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		l.T.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		l.T.Fatal(err)
	}
	d := &Daemon{Name: h.Name(), statusPath: filepath.Join(dir, "status.json"), out: &testenv.Buffer{}, done: make(chan struct{})}
	cmd := h.Command(context.Background(), self)
	cmd.Env = append(os.Environ(), vrrpd.EnvConfig+"="+cfgPath, vrrpd.EnvStatus+"="+d.statusPath)
	if pw := cfg.Auth.Key.Reveal(); pw != "" {
		cmd.Env = append(cmd.Env, vrrpd.EnvAuthKey+"="+pw) // the JSON form leaves the key out
	}
	l.start(d, cmd)
	return d
}

// KeepalivedConfig describes a keepalived peer.
type KeepalivedConfig struct {
	Priority  uint8
	Version   int
	Interval  time.Duration
	NoPreempt bool
	// Nice, when not 0, sets keepalived's vrrp_priority (the VRRP process's nice).
	Nice int
	// RTPriority, when not 0, sets keepalived's vrrp_rt_priority (SCHED_RR).
	RTPriority int
	// VIP overrides the lab's IPv4 VIP (an IPv6 prefix makes an IPv6 instance).
	VIP netip.Prefix
	// Auth and Unicast, when set, add authentication and unicast_src_ip / unicast_peer.
	Auth    KeepalivedAuth
	Unicast KeepalivedUnicast
}

// StartKeepalived runs Debian's keepalived in h as a VRRP-only foreground process with
// its own pid files (docs/reference.md, keepalived on the wire).
func (l *Lab) StartKeepalived(h *netlab.Host, kc KeepalivedConfig) *Daemon {
	l.T.Helper()
	np := ""
	if kc.NoPreempt {
		np = "    nopreempt\n"
	}
	vip := VIP
	if kc.VIP.IsValid() {
		vip = kc.VIP
	}
	nice := ""
	if kc.Nice != 0 {
		nice = fmt.Sprintf("    vrrp_priority %d\n", kc.Nice)
	}
	if kc.RTPriority != 0 {
		nice += fmt.Sprintf("    vrrp_rt_priority %d\n", kc.RTPriority)
	}
	conf := fmt.Sprintf(`global_defs {
    router_id %s
    vrrp_version %d
%s}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int %s
%s%s    virtual_ipaddress {
        %s
    }
}
`, h.Name(), kc.Version, nice, kc.Priority, strconv.FormatFloat(kc.Interval.Seconds(), 'f', -1, 64), np, kc.Auth.lines()+kc.Unicast.lines(), vip)
	return l.StartKeepalivedConf(h, conf)
}

func (l *Lab) start(d *Daemon, cmd *exec.Cmd) {
	l.T.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		l.T.Fatal(err)
	}
	cmd.Stdin = r
	cmd.Stdout = d.out
	cmd.Stderr = d.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		l.T.Fatalf("start %s on %s: %v", cmd.Args, d.Name, err)
	}
	r.Close()
	d.cmd, d.stdin = cmd, w
	go func() {
		d.waitErr = cmd.Wait()
		close(d.done)
	}()
	l.T.Cleanup(func() {
		d.Kill()
		if l.T.Failed() {
			l.T.Logf("--- %s (keepalived=%v) output:\n%s", d.Name, d.Keepalived, d.Output())
		}
	})
}

// Output is everything the daemon logged.
func (d *Daemon) Output() string { return d.out.String() }

// Exited reports whether the process has exited.
func (d *Daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit (at most timeout) and returns its error.
func (d *Daemon) Wait(timeout time.Duration) error {
	select {
	case <-d.done:
		return d.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %v", d.Name, timeout)
	}
}

// Term asks for a clean shutdown (SIGTERM): vigil and keepalived send priority 0.
func (d *Daemon) Term() { d.cmd.Process.Signal(syscall.SIGTERM) }

// Kill kills the daemon without a chance to say goodbye. For keepalived the parent is
// stopped first, so that it cannot notice its VRRP child die and restart or clean up.
func (d *Daemon) Kill() {
	if d.Exited() {
		return
	}
	if d.Keepalived {
		d.cmd.Process.Signal(syscall.SIGSTOP)
		if b, err := os.ReadFile(filepath.Join(d.pidDir, "vrrp.pid")); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	d.cmd.Process.Kill()
	d.Wait(10 * time.Second)
}

// Track sends "track NAME up|down" to a vigil daemon.
func (d *Daemon) Track(name string, up bool) {
	s := "down"
	if up {
		s = "up"
	}
	fmt.Fprintf(d.stdin, "track %s %s\n", name, s)
}

// Status reads a vigil daemon's last status.
func (d *Daemon) Status() (vrrp.Status, error) {
	var s vrrp.Status
	b, err := os.ReadFile(d.statusPath)
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(b, &s)
	return s, err
}

// HoldsVIP reports whether h has the VIP on eth0.
func HoldsVIP(h *netlab.Host) bool {
	link, err := h.Handle().LinkByName("eth0")
	if err != nil {
		return false
	}
	addrs, err := h.Handle().AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == VIP.Addr() {
			return true
		}
	}
	return false
}

// Holders names the directors holding the VIP.
func (l *Lab) Holders() []string {
	var hs []string
	for _, h := range []*netlab.Host{l.D1, l.D2} {
		if HoldsVIP(h) {
			hs = append(hs, h.Name())
		}
	}
	return hs
}

// WaitFor polls cond every 10 ms until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Frame is one captured VRRP advert or ARP packet.
type Frame struct {
	T       time.Time // kernel receive timestamp
	SrcMAC  [6]byte
	VRRP    bool
	Src     netip.Addr // IPv4 source (VRRP)
	TTL     uint8
	Prio    uint8
	GARP    bool // ARP with sender IP = target IP
	NA      bool // unsolicited ICMPv6 neighbour advertisement (target in ARPAddr)
	ARPAddr netip.Addr
}

// Capture records VRRP and ARP frames seen on a host's eth0 (an AF_PACKET socket with
// kernel timestamps, so the figures do not depend on when the test goroutine runs).
type Capture struct {
	fd     int
	mu     sync.Mutex
	frames []Frame
	done   chan struct{}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Capture starts capturing in h until the test ends.
func (l *Lab) Capture(h *netlab.Host) *Capture {
	l.T.Helper()
	c := &Capture{done: make(chan struct{})}
	err := h.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: link.Attrs().Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind AF_PACKET: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			unix.Close(fd)
			return err
		}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
		c.fd = fd
		return nil
	})
	if err != nil {
		l.T.Fatalf("capture on %s: %v", h.Name(), err)
	}
	go c.loop()
	l.T.Cleanup(func() {
		close(c.done)
		time.Sleep(150 * time.Millisecond)
		unix.Close(c.fd)
	})
	return c
}

func (c *Capture) loop() {
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		n, oobn, _, _, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err != nil {
			continue
		}
		ts := time.Now()
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
					tsp := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
					ts = time.Unix(tsp.Unix())
				}
			}
		}
		if f, ok := parseFrame(buf[:n]); ok {
			f.T = ts
			c.mu.Lock()
			c.frames = append(c.frames, f)
			c.mu.Unlock()
		}
	}
}

func parseFrame(b []byte) (Frame, bool) {
	if len(b) < 14 {
		return Frame{}, false
	}
	var f Frame
	copy(f.SrcMAC[:], b[6:12])
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		ip := b[14:]
		if len(ip) < 20 || ip[9] != 112 {
			return Frame{}, false
		}
		ihl := int(ip[0]&0xf) * 4
		if len(ip) < ihl+4 {
			return Frame{}, false
		}
		f.VRRP = true
		f.TTL = ip[8]
		f.Src = netip.AddrFrom4([4]byte(ip[12:16]))
		f.Prio = ip[ihl+2]
		return f, true
	case 0x86dd:
		ip := b[14:]
		if len(ip) < 40+24 || ip[6] != 58 || ip[40] != 136 {
			return Frame{}, false
		}
		f.NA = true
		f.ARPAddr = netip.AddrFrom16([16]byte(ip[48:64]))
		return f, true
	case 0x0806:
		a := b[14:]
		if len(a) < 28 {
			return Frame{}, false
		}
		spa, tpa := netip.AddrFrom4([4]byte(a[14:18])), netip.AddrFrom4([4]byte(a[24:28]))
		f.ARPAddr = spa
		f.GARP = spa == tpa
		return f, true
	}
	return Frame{}, false
}

// Frames returns what was captured so far.
func (c *Capture) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// FirstAdvertAfter returns the first advert from src with a non-zero priority captured
// at or after t.
func (c *Capture) FirstAdvertAfter(src netip.Addr, t time.Time) (Frame, bool) {
	for _, f := range c.Frames() {
		if f.VRRP && f.Src == src && f.Prio > 0 && !f.T.Before(t) {
			return f, true
		}
	}
	return Frame{}, false
}

// LastAdvertBefore returns the last advert from src with a non-zero priority captured
// before t.
func (c *Capture) LastAdvertBefore(src netip.Addr, t time.Time) (Frame, bool) {
	var last Frame
	ok := false
	for _, f := range c.Frames() {
		if f.VRRP && f.Src == src && f.Prio > 0 && f.T.Before(t) {
			last, ok = f, true
		}
	}
	return last, ok
}

// FirstGARPAfter returns the first gratuitous ARP for addr captured at or after t.
func (c *Capture) FirstGARPAfter(addr netip.Addr, t time.Time) (Frame, bool) {
	for _, f := range c.Frames() {
		if f.GARP && f.ARPAddr == addr && !f.T.Before(t) {
			return f, true
		}
	}
	return Frame{}, false
}

// NAsAfter counts unsolicited neighbour advertisements for addr captured at or after t.
func (c *Capture) NAsAfter(addr netip.Addr, t time.Time) int {
	n := 0
	for _, f := range c.Frames() {
		if f.NA && f.ARPAddr == addr && !f.T.Before(t) {
			n++
		}
	}
	return n
}

// GARPsAfter counts gratuitous ARPs for addr captured at or after t.
func (c *Capture) GARPsAfter(addr netip.Addr, t time.Time) int {
	n := 0
	for _, f := range c.Frames() {
		if f.GARP && f.ARPAddr == addr && !f.T.Before(t) {
			n++
		}
	}
	return n
}
