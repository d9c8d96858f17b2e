package transport_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vigil-lb/vigil/vrrp/advert"
	"github.com/vigil-lb/vigil/vrrp/transport"
)

func open(t *testing.T, h *netlab.Host, cfg transport.Config) *transport.Conn {
	t.Helper()
	var c *transport.Conn
	err := h.Do(func() (err error) {
		c, err = transport.Open(cfg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends msg from a to dst every 100 ms (links just brought up may drop the
// first packets) until b receives it.
func exchange(t *testing.T, a, b *transport.Conn, msg []byte, dst netip.Addr) transport.Packet {
	t.Helper()
	return exchangeWith(t, a.Send, b, msg, dst, false)
}

// exchangeWith is exchange with another send function; packets of the other socket
// (ah says which is awaited), left from an earlier exchange, are skipped.
func exchangeWith(t *testing.T, send func([]byte, netip.Addr) error, b *transport.Conn, msg []byte, dst netip.Addr, ah bool) transport.Packet {
	t.Helper()
	ch := make(chan transport.Packet, 1)
	go func() {
		for {
			p, err := b.Receive()
			if err != nil {
				return
			}
			if p.AH == ah {
				ch <- p
				return
			}
		}
	}()
	deadline := time.After(5 * time.Second)
	for {
		if err := send(msg, dst); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-ch:
			return p
		case <-deadline:
			t.Fatal("no packet within 5 s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func lab(t *testing.T) (*netlab.Host, *netlab.Host, *netlab.Host) {
	testenv.RequireRoot(t)
	l := netlab.New(t)
	br := l.Bridge("lan")
	a, b, c := l.Host("a"), l.Host("b"), l.Host("c")
	l.Link(a, "eth0", br, netip.MustParsePrefix("198.18.0.11/24"))
	l.Link(b, "eth0", br, netip.MustParsePrefix("198.18.0.12/24"))
	l.Link(c, "eth0", br, netip.MustParsePrefix("198.18.0.13/24"))
	return a, b, c
}

func TestMulticastIPv4(t *testing.T) {
	a, b, _ := lab(t)
	ca := open(t, a, transport.Config{Interface: "eth0"})
	cb := open(t, b, transport.Config{Interface: "eth0"})
	if got, want := ca.Source(), netip.MustParseAddr("198.18.0.11"); got != want {
		t.Fatalf("source %v, want the primary address %v", got, want)
	}
	adv := advert.Advert{Version: 3, VRID: 51, Priority: 150, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.254")}}
	msg, _ := adv.Marshal(ca.Source(), advert.Group4)
	p := exchange(t, ca, cb, msg, advert.Group4)
	if p.Src != ca.Source() || p.Dst != advert.Group4 || p.TTL != 255 || string(p.Payload) != string(msg) {
		t.Errorf("received %+v, want from %v to 224.0.0.18 TTL 255 with the exact message", p, ca.Source())
	}
}

// Unicast: sent straight to the peer, still with TTL 255 and the pinned source.
func TestUnicastIPv4(t *testing.T) {
	a, b, _ := lab(t)
	peerA, peerB := netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.12")
	ca := open(t, a, transport.Config{Interface: "eth0", UnicastSrc: peerA, UnicastPeers: []netip.Addr{peerB}})
	cb := open(t, b, transport.Config{Interface: "eth0", UnicastPeers: []netip.Addr{peerA}})
	adv := advert.Advert{Version: 2, VRID: 7, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.254")}}
	msg, _ := adv.Marshal(peerA, peerB)
	p := exchange(t, ca, cb, msg, peerB)
	if p.Src != peerA || p.Dst != peerB || p.TTL != 255 {
		t.Errorf("received %+v", p)
	}
}

func TestMulticastIPv6(t *testing.T) {
	a, b, _ := lab(t)
	for _, h := range []*netlab.Host{a, b} {
		waitLinkLocal(t, h)
	}
	ca := open(t, a, transport.Config{Interface: "eth0", IPv6: true})
	cb := open(t, b, transport.Config{Interface: "eth0", IPv6: true})
	if !ca.Source().IsLinkLocalUnicast() {
		t.Fatalf("source %v, want link-local", ca.Source())
	}
	adv := advert.Advert{Version: 3, VRID: 51, Priority: 150, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::254")}}
	msg, _ := adv.Marshal(ca.Source(), advert.Group6)
	p := exchange(t, ca, cb, msg, advert.Group6)
	if p.Src.WithZone("") != ca.Source() || p.TTL != 255 {
		t.Fatalf("received %+v", p)
	}
	if _, err := advert.Parse(p.Payload, p.Src.WithZone(""), p.Dst); err != nil {
		t.Errorf("received advert does not verify: %v", err)
	}
}

func waitLinkLocal(t *testing.T, h *netlab.Host) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l, err := h.Handle().LinkByName("eth0")
		if err == nil {
			addrs, _ := h.Handle().AddrList(l, netlink.FAMILY_V6)
			for _, a := range addrs {
				if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: no usable link-local address", h.Name())
}

// keepalived's AH (docs/reference.md, keepalived's authentication): whole datagrams on IP
// protocol 51, multicast and unicast, arriving byte for byte as sealed (the kernel's
// header checksum is the one SealAH computes); plain adverts still arrive beside them.
func TestAH(t *testing.T) {
	a, b, _ := lab(t)
	peerA, peerB := netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.12")
	key, _ := advert.NewKey("vigil-ah")
	adv := advert.Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.254")}, Auth: advert.AuthAH}
	for _, tc := range []struct {
		name   string
		ca, cb transport.Config
		dst    netip.Addr
	}{
		{"multicast", transport.Config{Interface: "eth0", AH: true}, transport.Config{Interface: "eth0", AH: true}, advert.Group4},
		{"unicast", transport.Config{Interface: "eth0", AH: true, UnicastSrc: peerA, UnicastPeers: []netip.Addr{peerB}},
			transport.Config{Interface: "eth0", AH: true, UnicastPeers: []netip.Addr{peerA}}, peerB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := open(t, a, tc.ca), open(t, b, tc.cb)
			msg, _ := adv.Marshal(peerA, tc.dst)
			pkt, err := advert.SealAH(msg, peerA, tc.dst, 1, 1, key, tc.dst != advert.Group4)
			if err != nil {
				t.Fatal(err)
			}
			p := exchangeWith(t, ca.SendAH, cb, pkt, tc.dst, true)
			if !p.AH || p.Src != peerA || p.Dst != tc.dst || p.TTL != 255 || string(p.Payload) != string(pkt) {
				t.Fatalf("received %+v\nwant AH from %v to %v, TTL 255, payload % x", p, peerA, tc.dst, pkt)
			}
			if err := advert.VerifyAH(p.Payload, key, tc.dst != advert.Group4); err != nil {
				t.Errorf("received datagram does not verify: %v", err)
			}
			plain, _ := advert.Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second, Addrs: adv.Addrs}.Marshal(peerA, tc.dst)
			if p := exchange(t, ca, cb, plain, tc.dst); p.AH || string(p.Payload) != string(plain) {
				t.Errorf("plain advert on an AH connection: %+v", p)
			}
		})
	}
}

// Without AH there is no protocol 51 socket to send on.
func TestSendAHNeedsAH(t *testing.T) {
	a, _, _ := lab(t)
	c := open(t, a, transport.Config{Interface: "eth0"})
	if err := c.SendAH([]byte{0x45}, advert.Group4); err == nil {
		t.Error("SendAH without Config.AH succeeded")
	}
}
