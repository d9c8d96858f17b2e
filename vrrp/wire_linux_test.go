package vrrp_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp"
	"github.com/vigil-lb/vigil/vrrp/advert"
	"github.com/vigil-lb/vigil/vrrp/fsm"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrpd"
	"github.com/vigil-lb/vigil/vrrp/vrrptest/vrrplab"
)

// TestMain lets the wire tests run each director as a separate process (this binary
// re-executed), so that kill -9 is a real crash.
func TestMain(m *testing.M) {
	vrrpd.MaybeRun()
	os.Exit(m.Run())
}

var (
	labD1 = vrrplab.D1Addr.Addr()
	labD2 = vrrplab.D2Addr.Addr()
)

// settleOne samples the VIP's holders every 20 ms for d and fails unless exactly want
// holds it at every sample (no split brain, no gap).
func settleOne(t *testing.T, lab *vrrplab.Lab, want string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if h := lab.Holders(); len(h) != 1 || h[0] != want {
			t.Fatalf("VIP held by %v, want exactly [%s]", h, want)
		}
	}
}

func waitHolder(t *testing.T, lab *vrrplab.Lab, want string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	vrrplab.WaitFor(t, timeout, want+" alone holding the VIP", func() bool {
		h := lab.Holders()
		return len(h) == 1 && h[0] == want
	})
	return time.Since(start)
}

func requireLab(t *testing.T) *vrrplab.Lab {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "nsenter")
	return vrrplab.New(t)
}

// vigil against vigil: election, kill -9, SIGTERM, preempt back, nopreempt, link down,
// gratuitous ARP on the wire.
func TestWireVigilPair(t *testing.T) {
	lab := requireLab(t)
	cap := lab.Capture(lab.Client)
	const iv = 100 * time.Millisecond
	mdi := fsm.MasterDownInterval(3, 100, iv)
	skew := fsm.SkewTime(3, 100, iv)

	d1 := lab.StartVigil(lab.D1, vrrplab.VigilConfig("d1", 150, 3, iv))
	d2 := lab.StartVigil(lab.D2, vrrplab.VigilConfig("d2", 100, 3, iv))
	waitHolder(t, lab, "d1", 10*time.Second)
	settleOne(t, lab, "d1", time.Second)
	vrrplab.WaitFor(t, 5*time.Second, ">= 5 gratuitous ARPs for the VIP on the wire", func() bool { return cap.GARPsAfter(vrrplab.VIP.Addr(), time.Time{}) >= 5 })
	for _, f := range cap.Frames() {
		if f.VRRP && f.TTL != 255 {
			t.Fatalf("advert from %v with TTL %d", f.Src, f.TTL)
		}
	}

	t.Run("kill -9 master", func(t *testing.T) {
		killed := time.Now()
		d1.Kill()
		// The dead master's VIP stays on its interface (as with keepalived): the backup
		// takes over on the wire; count from the kill to d2's first advert.
		vrrplab.WaitFor(t, 10*time.Second, "d2 advert", func() bool { _, ok := cap.FirstAdvertAfter(labD2, killed); return ok })
		f, _ := cap.FirstAdvertAfter(labD2, killed)
		took := f.T.Sub(killed)
		t.Logf("takeover after kill -9: %v (Master_Down_Interval %v)", took, mdi)
		if took > mdi+2*time.Second {
			t.Errorf("takeover took %v, want about Master_Down_Interval %v", took, mdi)
		}
		vrrplab.WaitFor(t, 5*time.Second, "GARPs from d2", func() bool { return cap.GARPsAfter(vrrplab.VIP.Addr(), killed) >= 5 })
		vrrplab.WaitFor(t, 5*time.Second, "d2 holds VIP", func() bool { return vrrplab.HoldsVIP(lab.D2) })
		// Clean up what a crashed d1 left behind, as an operator's reboot would.
		lab.D1.Handle().AddrDel(mustLink(t, lab.D1), netlinkAddr(vrrplab.VIP))
	})

	t.Run("preempt back", func(t *testing.T) {
		d1 = lab.StartVigil(lab.D1, vrrplab.VigilConfig("d1", 150, 3, iv))
		waitHolder(t, lab, "d1", 10*time.Second)
		settleOne(t, lab, "d1", 500*time.Millisecond)
	})

	t.Run("SIGTERM master", func(t *testing.T) {
		termed := time.Now()
		d1.Term()
		if err := d1.Wait(5 * time.Second); err != nil {
			t.Fatalf("d1 exit: %v", err)
		}
		if vrrplab.HoldsVIP(lab.D1) {
			t.Error("d1 kept the VIP after SIGTERM")
		}
		vrrplab.WaitFor(t, 10*time.Second, "d2 advert", func() bool { _, ok := cap.FirstAdvertAfter(labD2, termed); return ok })
		f, _ := cap.FirstAdvertAfter(labD2, termed)
		took := f.T.Sub(termed)
		t.Logf("takeover after SIGTERM: %v (skew %v)", took, skew)
		if took > mdi {
			t.Errorf("takeover after priority 0 took %v, want about the skew %v", took, skew)
		}
		waitHolder(t, lab, "d2", 5*time.Second)
	})

	t.Run("nopreempt", func(t *testing.T) {
		c := vrrplab.VigilConfig("d1", 150, 3, iv)
		c.Preempt = false
		d1 = lab.StartVigil(lab.D1, c)
		time.Sleep(2 * time.Second) // well past its Master_Down_Interval
		settleOne(t, lab, "d2", time.Second)
		s, err := d1.Status()
		if err != nil || s.State != vrrp.Backup {
			t.Errorf("d1 status %+v (%v), want BACKUP", s, err)
		}
	})

	t.Run("link down on master", func(t *testing.T) {
		down := time.Now()
		if err := lab.D2.SetLinkDown("eth0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lab.D2.SetLinkUp("eth0") })
		waitHolder(t, lab, "d1", 10*time.Second)
		vrrplab.WaitFor(t, 5*time.Second, "d1 advert", func() bool { _, ok := cap.FirstAdvertAfter(labD1, down); return ok })
		f, _ := cap.FirstAdvertAfter(labD1, down)
		t.Logf("takeover after link down: %v", f.T.Sub(down))
		vrrplab.WaitFor(t, 5*time.Second, "d2 in Fault", func() bool { s, _ := d2.Status(); return s.State == vrrp.Fault })
		if err := lab.D2.SetLinkUp("eth0"); err != nil {
			t.Fatal(err)
		}
		vrrplab.WaitFor(t, 5*time.Second, "d2 backup again", func() bool { s, _ := d2.Status(); return s.State == vrrp.Backup })
		settleOne(t, lab, "d1", 500*time.Millisecond)
	})

	t.Run("tracked virtual server down", func(t *testing.T) {
		// d2 returns with priority 200 and a weight-0 track (the director reports a
		// virtual server without healthy real servers): it preempts, then faults.
		c := vrrplab.VigilConfig("d2", 200, 3, iv)
		c.Tracks = []vrrp.Track{{Name: "web", Kind: vrrp.TrackExternal, Weight: 0}}
		d2.Term()
		d2.Wait(5 * time.Second)
		d2 = lab.StartVigil(lab.D2, c)
		waitHolder(t, lab, "d2", 10*time.Second)
		d2.Track("web", false)
		waitHolder(t, lab, "d1", 5*time.Second)
		vrrplab.WaitFor(t, 5*time.Second, "d2 in Fault", func() bool { s, _ := d2.Status(); return s.State == vrrp.Fault })
		d2.Track("web", true)
		waitHolder(t, lab, "d2", 10*time.Second)
		settleOne(t, lab, "d2", 500*time.Millisecond)
	})
}

// vigil against Debian's keepalived, v2 at 1 s and v3 at 0.1 s, both roles.
func TestWireKeepalived(t *testing.T) {
	testenv.RequireBinary(t, "keepalived")
	cases := []struct {
		version int
		iv      time.Duration
	}{{2, time.Second}, {3, 100 * time.Millisecond}}
	for _, tc := range cases {
		for _, vigilMaster := range []bool{true, false} {
			role := "keepalived master"
			if vigilMaster {
				role = "vigil master"
			}
			t.Run(fmt.Sprintf("v%d %s", tc.version, role), func(t *testing.T) {
				lab := requireLab(t)
				cap := lab.Capture(lab.Client)
				mdi := fsm.MasterDownInterval(tc.version, 100, tc.iv)
				start := func(name string, vigil bool, prio uint8) *vrrplab.Daemon {
					h := lab.Director(name)
					if vigil {
						return lab.StartVigil(h, vrrplab.VigilConfig(name, prio, tc.version, tc.iv))
					}
					return lab.StartKeepalived(h, vrrplab.KeepalivedConfig{Priority: prio, Version: tc.version, Interval: tc.iv})
				}
				// d1 is the higher priority; vigil is d1 when vigil is master.
				d1 := start("d1", vigilMaster, 150)
				d2 := start("d2", !vigilMaster, 100)
				waitHolder(t, lab, "d1", mdi+10*time.Second)
				settleOne(t, lab, "d1", 3*tc.iv+time.Second)

				// Clean failover: d1 sends priority 0, d2 takes over after its skew.
				termed := time.Now()
				d1.Term()
				if err := d1.Wait(10 * time.Second); err != nil {
					t.Fatalf("d1: %v", err)
				}
				waitHolder(t, lab, "d2", mdi+5*time.Second)
				// The capture goroutine may lag the VIP change: poll for the advert.
				vrrplab.WaitFor(t, 5*time.Second, "d2's advert on the wire", func() bool { _, ok := cap.FirstAdvertAfter(labD2, termed); return ok })
				f, _ := cap.FirstAdvertAfter(labD2, termed)
				t.Logf("SIGTERM takeover by d2: %v", f.T.Sub(termed))
				vrrplab.WaitFor(t, 5*time.Second, ">= 5 gratuitous ARPs after the takeover", func() bool { return cap.GARPsAfter(vrrplab.VIP.Addr(), termed) >= 5 })
				settleOne(t, lab, "d2", 3*tc.iv+500*time.Millisecond)

				// d1 returns and preempts back (both preempt by default).
				d1 = start("d1", vigilMaster, 150)
				waitHolder(t, lab, "d1", 2*mdi+10*time.Second)
				settleOne(t, lab, "d1", 3*tc.iv+500*time.Millisecond)

				// Crash: kill -9 of d1; d2 takes over after Master_Down_Interval.
				killed := time.Now()
				d1.Kill()
				vrrplab.WaitFor(t, mdi+5*time.Second, "d2 advert after the crash", func() bool { _, ok := cap.FirstAdvertAfter(labD2, killed); return ok })
				f, _ = cap.FirstAdvertAfter(labD2, killed)
				t.Logf("kill -9 takeover by d2: %v (Master_Down_Interval %v)", f.T.Sub(killed), mdi)

				d2.Term()
				d2.Wait(10 * time.Second)
				for _, d := range []*vrrplab.Daemon{d1, d2} {
					if d.Keepalived {
						checkKeepalivedLog(t, d.Output())
					} else if s, err := d.Status(); err == nil {
						for r, n := range s.Invalid {
							t.Errorf("vigil on %s dropped %d of keepalived's adverts: %s", d.Name, n, r)
						}
						if s.AdvertsReceived == 0 {
							t.Errorf("vigil on %s received no advert from keepalived", d.Name)
						}
					} else {
						t.Errorf("vigil status: %v", err)
					}
				}
			})
		}
	}
}

// keepalivedRejects matches keepalived 2.2.7's messages for adverts it drops or a
// configuration disagreement with its peer (vrrp.c vrrp_check_packet and friends).
var keepalivedRejects = regexp.MustCompile(`(?i)invalid|mismatch|not present|bad |wrong|discard|ignor|error|checksum|ttl`)

func checkKeepalivedLog(t *testing.T, out string) {
	t.Helper()
	if keepalivedRejects.MatchString(out) {
		for _, line := range regexp.MustCompile(`.*\n`).FindAllString(out, -1) {
			// A preempting backup hearing a lower priority "discards" it: that is the
			// election working, not a rejected packet.
			if keepalivedRejects.MatchString(line) && !strings.Contains(line, "received lower priority") {
				t.Errorf("keepalived: %s", line)
			}
		}
	}
	if !regexp.MustCompile(`Entering (MASTER|BACKUP) STATE`).MatchString(out) {
		t.Errorf("keepalived log shows no state: %s", out)
	}
}

// Hostile adverts injected from a third namespace: ignored, counted by reason, no state
// change on either director.
func TestWireHostileInput(t *testing.T) {
	lab := requireLab(t)
	const iv = 100 * time.Millisecond
	d1 := lab.StartVigil(lab.D1, vrrplab.VigilConfig("d1", 150, 3, iv))
	d2 := lab.StartVigil(lab.D2, vrrplab.VigilConfig("d2", 100, 3, iv))
	waitHolder(t, lab, "d1", 10*time.Second)
	settleOne(t, lab, "d1", 500*time.Millisecond)
	before1, _ := d1.Status()
	before2, _ := d2.Status()

	evil := vrrplab.ClientAddr.Addr()
	good := advert.Advert{Version: 3, VRID: 51, Priority: 254, Interval: iv, Addrs: []netip.Addr{vrrplab.VIP.Addr()}}
	enc := func(a advert.Advert) []byte {
		b, err := a.Marshal(evil, advert.Group4)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	edit := func(f func([]byte) []byte) []byte { return f(enc(good)) }
	other := good
	other.VRID = 52
	cases := []struct {
		name string
		ttl  byte
		msg  []byte
		want advert.Reason
	}{
		{"TTL 254", 254, enc(good), advert.ReasonTTL},
		{"bad checksum", 255, edit(func(b []byte) []byte { b[7] ^= 0x55; return b }), advert.ReasonChecksum},
		{"wrong VRID", 255, enc(other), advert.ReasonVRID},
		{"wrong version", 255, edit(func(b []byte) []byte { b[0] = 0x41; return b }), advert.ReasonVersion},
		{"truncated", 255, edit(func(b []byte) []byte { return b[:10] }), advert.ReasonTruncated},
		{"trailing bytes", 255, edit(func(b []byte) []byte { return append(b, 0xde, 0xad) }), advert.ReasonTrailing},
		{"count mismatch", 255, edit(func(b []byte) []byte { b[3] = 3; return b }), advert.ReasonCountMismatch},
	}
	const copies = 5
	err := lab.Client.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW) // IP_HDRINCL
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, "eth0"); err != nil {
			return err
		}
		for _, c := range cases {
			pkt := ipv4Packet(evil, advert.Group4, c.ttl, c.msg)
			for range copies {
				if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: advert.Group4.As4()}); err != nil {
					return fmt.Errorf("inject %s: %w", c.name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*vrrplab.Daemon{d1, d2} {
		vrrplab.WaitFor(t, 5*time.Second, d.Name+" counting every hostile advert", func() bool {
			s, err := d.Status()
			if err != nil {
				return false
			}
			for _, c := range cases {
				if s.Invalid[c.want] < copies {
					return false
				}
			}
			return true
		})
		s, _ := d.Status()
		t.Logf("%s invalid adverts by reason: %v", d.Name, s.Invalid)
	}
	settleOne(t, lab, "d1", 500*time.Millisecond)
	after1, _ := d1.Status()
	after2, _ := d2.Status()
	if after1.Transitions != before1.Transitions || after2.Transitions != before2.Transitions ||
		after1.State != vrrp.Master || after2.State != vrrp.Backup {
		t.Errorf("state changed: d1 %v (%d->%d transitions), d2 %v (%d->%d)", after1.State,
			before1.Transitions, after1.Transitions, after2.State, before2.Transitions, after2.Transitions)
	}
}

// ipv4Packet builds an IPv4 header (TOS 0xc0, the given TTL, protocol 112) and payload;
// the kernel fills in the checksum and the ID for an IP_HDRINCL socket.
func ipv4Packet(src, dst netip.Addr, ttl byte, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	h[0] = 0x45
	h[1] = 0xc0
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	h[8] = ttl
	h[9] = advert.Protocol
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	return append(h, payload...)
}

func mustLink(t *testing.T, h *netlab.Host) netlink.Link {
	t.Helper()
	l, err := h.Handle().LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func netlinkAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
}

var vip6 = netip.MustParsePrefix("2001:db8::254/64")

func vigil6(name string, prio uint8) vrrp.Config {
	c := vrrplab.VigilConfig(name, prio, 3, 100*time.Millisecond)
	c.VIPs = []netip.Prefix{vip6}
	return c
}

func holds6(t *testing.T, h *netlab.Host) bool {
	addrs, err := h.Handle().AddrList(mustLink(t, h), netlink.FAMILY_V6)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, _ := netip.AddrFromSlice(a.IP); ip == vip6.Addr() {
			return true
		}
	}
	return false
}

// waitLinkLocal waits for usable link-local addresses (DAD done) on both directors.
func waitLinkLocal(t *testing.T, lab *vrrplab.Lab) {
	for _, h := range []*netlab.Host{lab.D1, lab.D2} {
		vrrplab.WaitFor(t, 10*time.Second, h.Name()+" link-local", func() bool {
			addrs, _ := h.Handle().AddrList(mustLink(t, h), netlink.FAMILY_V6)
			for _, a := range addrs {
				if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
					return true
				}
			}
			return false
		})
	}
}

// VRRPv3 over IPv6 against keepalived, both roles: election, clean failover, no
// rejected advert on either side.
func TestWireKeepalivedIPv6(t *testing.T) {
	testenv.RequireBinary(t, "keepalived")
	for _, vigilMaster := range []bool{true, false} {
		t.Run(fmt.Sprintf("vigil master %v", vigilMaster), func(t *testing.T) {
			lab := requireLab(t)
			waitLinkLocal(t, lab)
			start := func(name string, vigil bool, prio uint8) *vrrplab.Daemon {
				h := lab.Director(name)
				if vigil {
					return lab.StartVigil(h, vigil6(name, prio))
				}
				return lab.StartKeepalived(h, vrrplab.KeepalivedConfig{Priority: prio, Version: 3, Interval: 100 * time.Millisecond, VIP: vip6})
			}
			d1 := start("d1", vigilMaster, 150)
			d2 := start("d2", !vigilMaster, 100)
			vrrplab.WaitFor(t, 10*time.Second, "d1 alone holding the IPv6 VIP", func() bool { return holds6(t, lab.D1) && !holds6(t, lab.D2) })
			time.Sleep(time.Second)
			if !holds6(t, lab.D1) || holds6(t, lab.D2) {
				t.Fatalf("IPv6 VIP: d1 %v d2 %v after settling", holds6(t, lab.D1), holds6(t, lab.D2))
			}
			d1.Term()
			vrrplab.WaitFor(t, 10*time.Second, "d2 alone holding the IPv6 VIP", func() bool { return holds6(t, lab.D2) && !holds6(t, lab.D1) })
			d2.Term()
			d2.Wait(10 * time.Second)
			d1.Wait(10 * time.Second)
			for _, d := range []*vrrplab.Daemon{d1, d2} {
				if d.Keepalived {
					checkKeepalivedLog(t, d.Output())
				} else if s, err := d.Status(); err != nil || len(s.Invalid) != 0 || !vigilMaster && s.AdvertsReceived == 0 {
					// A vigil master hears nothing: a keepalived backup is silent.
					t.Errorf("vigil on %s: status %+v (%v): want keepalived's adverts received, none dropped", d.Name, s, err)
				}
			}
		})
	}
}

// VRRPv3 over IPv6: vigil against vigil, VIP moved with unsolicited NAs.
func TestWireIPv6(t *testing.T) {
	lab := requireLab(t)
	cfg := vigil6
	holds := func(h *netlab.Host) bool { return holds6(t, h) }
	waitLinkLocal(t, lab)
	cap := lab.Capture(lab.Client)
	d1 := lab.StartVigil(lab.D1, cfg("d1", 150))
	d2 := lab.StartVigil(lab.D2, cfg("d2", 100))
	vrrplab.WaitFor(t, 5*time.Second, "unsolicited NAs for the VIP", func() bool { return cap.NAsAfter(vip6.Addr(), time.Time{}) >= 5 })
	vrrplab.WaitFor(t, 10*time.Second, "d1 holding the IPv6 VIP alone", func() bool { return holds(lab.D1) && !holds(lab.D2) })
	time.Sleep(500 * time.Millisecond)
	if s, _ := d2.Status(); s.State != vrrp.Backup || s.AdvertsReceived == 0 || len(s.Invalid) != 0 {
		t.Errorf("d2 status %+v: want BACKUP hearing valid adverts", s)
	}
	d1.Term()
	vrrplab.WaitFor(t, 10*time.Second, "d2 holding the IPv6 VIP alone", func() bool { return holds(lab.D2) && !holds(lab.D1) })
}

// Handover on the wire: a vigil master stopped with SIGTERM keeps the VIP until the
// backup (vigil, or Debian's keepalived) holds it, so at no sample is the VIP unowned;
// without handover (keepalived's behaviour) it is unowned for about the backup's skew.
func TestWireHandover(t *testing.T) {
	const iv = 100 * time.Millisecond
	for _, tc := range []struct {
		name       string
		keepalived bool
		handover   bool
	}{
		{"vigil to vigil", false, true},
		{"vigil to keepalived", true, true},
		{"vigil to vigil without handover", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.keepalived {
				testenv.RequireBinary(t, "keepalived")
			}
			lab := requireLab(t)
			c1 := vrrplab.VigilConfig("d1", 150, 3, iv)
			c1.Handover = tc.handover
			d1 := lab.StartVigil(lab.D1, c1)
			var d2 *vrrplab.Daemon
			if tc.keepalived {
				d2 = lab.StartKeepalived(lab.D2, vrrplab.KeepalivedConfig{Priority: 100, Version: 3, Interval: iv})
			} else {
				d2 = lab.StartVigil(lab.D2, vrrplab.VigilConfig("d2", 100, 3, iv))
			}
			waitHolder(t, lab, "d1", 10*time.Second)
			settleOne(t, lab, "d1", 500*time.Millisecond)

			// Sample the holders every millisecond from the signal until d1 has exited and
			// d2 holds the VIP alone.
			var unowned, both time.Duration
			var last time.Time
			termed := time.Now()
			d1.Term()
			for {
				now := time.Now()
				h := lab.Holders()
				if !last.IsZero() {
					switch len(h) {
					case 0:
						unowned += now.Sub(last)
					case 2:
						both += now.Sub(last)
					}
				}
				last = now
				if d1.Exited() && len(h) == 1 && h[0] == "d2" {
					break
				}
				if now.Sub(termed) > 10*time.Second {
					t.Fatalf("no handover after 10 s: holders %v, d1 exited %v", h, d1.Exited())
				}
				time.Sleep(time.Millisecond)
			}
			t.Logf("VIP unowned for %v, held by both for %v, d2 alone after %v", unowned, both, time.Since(termed))
			if tc.handover && unowned > 0 {
				t.Errorf("VIP unowned for %v during a handover, want never", unowned)
			}
			if !tc.handover && unowned == 0 {
				t.Errorf("without handover the VIP was never unowned: the sampling cannot see a gap")
			}
			if err := d1.Wait(5 * time.Second); err != nil {
				t.Errorf("d1 exit: %v", err)
			}
			settleOne(t, lab, "d2", 500*time.Millisecond)
			if tc.keepalived {
				checkKeepalivedLog(t, d2.Output())
			}
		})
	}
}
