package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/vrrp/advert"
)

// Conn is an open VRRP socket.
type Conn struct {
	cfg Config
	ifi *net.Interface
	src netip.Addr
	pc  net.PacketConn
	p4  *ipv4.PacketConn
	p6  *ipv6.PacketConn
	buf []byte
	ah  *ahConn // protocol 51, when cfg.AH

	// One goroutine per socket hands what it reads to Receive.
	rx        chan received
	done      chan struct{}
	closeOnce sync.Once
}

type received struct {
	p   Packet
	err error
}

// Open opens the socket on cfg.Interface: bound to the device (SO_BINDTODEVICE, so
// adverts of another link never reach this instance), joined to the VRRP group unless
// unicast, sending with TTL 255 and TOS 0xc0, multicast loopback off; with cfg.AH the
// protocol 51 socket beside it, set up alike.
func Open(cfg Config) (*Conn, error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("open VRRP socket on %s: %w", cfg.Interface, err)
	}
	src := cfg.UnicastSrc
	if !src.IsValid() {
		if src, err = primaryAddr(ifi, cfg.IPv6); err != nil {
			return nil, fmt.Errorf("open VRRP socket on %s: %w", cfg.Interface, err)
		}
	}
	lc := net.ListenConfig{Control: bindToDevice(cfg.Interface, nil)}
	network, any := "ip4:112", "0.0.0.0"
	if cfg.IPv6 {
		network, any = "ip6:112", "::"
	}
	pc, err := lc.ListenPacket(context.Background(), network, any)
	if err != nil {
		return nil, fmt.Errorf("open raw VRRP socket on %s: %w", cfg.Interface, err)
	}
	c := &Conn{cfg: cfg, ifi: ifi, src: src, pc: pc, buf: make([]byte, 2048), rx: make(chan received), done: make(chan struct{})}
	fail := func(what string, err error) (*Conn, error) {
		pc.Close()
		return nil, fmt.Errorf("set up VRRP socket on %s: %s: %w", cfg.Interface, what, err)
	}
	multicast := len(cfg.UnicastPeers) == 0
	if cfg.IPv6 {
		c.p6 = ipv6.NewPacketConn(pc)
		if err := c.p6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
			return fail("receive hop limit", err)
		}
		if err := c.p6.SetHopLimit(advert.TTL); err != nil {
			return fail("hop limit", err)
		}
		if err := c.p6.SetTrafficClass(TOS); err != nil {
			return fail("traffic class", err)
		}
		if multicast {
			if err := c.p6.SetMulticastInterface(ifi); err != nil {
				return fail("multicast interface", err)
			}
			if err := c.p6.SetMulticastHopLimit(advert.TTL); err != nil {
				return fail("multicast hop limit", err)
			}
			if err := c.p6.SetMulticastLoopback(false); err != nil {
				return fail("multicast loopback", err)
			}
			if err := c.p6.JoinGroup(ifi, &net.IPAddr{IP: advert.Group6.AsSlice()}); err != nil {
				return fail("join ff02::12", err)
			}
		}
	} else {
		c.p4 = ipv4.NewPacketConn(pc)
		if err := c.p4.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
			return fail("receive TTL", err)
		}
		if err := c.p4.SetTTL(advert.TTL); err != nil {
			return fail("TTL", err)
		}
		if err := c.p4.SetTOS(TOS); err != nil {
			return fail("TOS", err)
		}
		if multicast {
			if err := c.p4.SetMulticastInterface(ifi); err != nil {
				return fail("multicast interface", err)
			}
			// The default multicast TTL is 1; keepalived drops anything but 255.
			if err := c.p4.SetMulticastTTL(advert.TTL); err != nil {
				return fail("multicast TTL", err)
			}
			if err := c.p4.SetMulticastLoopback(false); err != nil {
				return fail("multicast loopback", err)
			}
			if err := c.p4.JoinGroup(ifi, &net.IPAddr{IP: advert.Group4.AsSlice()}); err != nil {
				return fail("join 224.0.0.18", err)
			}
		}
		if cfg.AH {
			if c.ah, err = openAH(cfg.Interface, ifi, multicast); err != nil {
				pc.Close()
				return nil, fmt.Errorf("set up VRRP socket on %s: %w", cfg.Interface, err)
			}
			go c.pump(c.ah.read)
		}
	}
	go c.pump(c.read)
	return c, nil
}

// bindToDevice is a ListenConfig.Control that binds the socket to ifname, then runs more.
func bindToDevice(ifname string, more func(fd int) error) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
			if serr == nil && more != nil {
				serr = more(int(fd))
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// pump hands what read returns to Receive until an error, which it hands over too.
func (c *Conn) pump(read func() (Packet, error)) {
	for {
		p, err := read()
		select {
		case c.rx <- received{p, err}:
		case <-c.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// primaryAddr is the address keepalived sends from: the first IPv4 address of the
// interface, or its link-local IPv6 address (RFC 5798 §5.1.2.1).
func primaryAddr(ifi *net.Interface, v6 bool) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !v6 && ip.Is4() || v6 && ip.Is6() && ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	if v6 {
		return netip.Addr{}, errors.New("no IPv6 link-local address")
	}
	return netip.Addr{}, errors.New("no IPv4 address")
}

// Source is the address adverts go out from.
func (c *Conn) Source() netip.Addr { return c.src }

// Send sends msg to dst with the source address pinned (IP_PKTINFO / IPV6_PKTINFO), so
// that a VIP added to the interface never becomes the source.
func (c *Conn) Send(msg []byte, dst netip.Addr) error {
	var err error
	if c.p6 != nil {
		// No zone: the interface goes in IPV6_PKTINFO. A zone name would be resolved in
		// the calling thread's network namespace, which need not be the socket's.
		to := &net.IPAddr{IP: dst.AsSlice()}
		_, err = c.p6.WriteTo(msg, &ipv6.ControlMessage{Src: c.src.AsSlice(), IfIndex: c.ifi.Index}, to)
	} else {
		_, err = c.p4.WriteTo(msg, &ipv4.ControlMessage{Src: c.src.AsSlice()}, &net.IPAddr{IP: dst.AsSlice()})
	}
	if err != nil {
		return fmt.Errorf("send VRRP advert from %s to %s on %s: %w", c.src, dst, c.cfg.Interface, err)
	}
	return nil
}

// SendAH sends pkt, a whole IPv4 datagram of protocol 51 (advert.SealAH), to dst on the
// AH socket: the header is the caller's (IP_HDRINCL), the kernel fills in its checksum.
func (c *Conn) SendAH(pkt []byte, dst netip.Addr) error {
	if c.ah == nil {
		return fmt.Errorf("send AH advert to %s on %s: no AH socket (IPv4 VRRPv2 only)", dst, c.cfg.Interface)
	}
	if err := c.ah.send(pkt, dst); err != nil {
		return fmt.Errorf("send AH advert from %s to %s on %s: %w", c.src, dst, c.cfg.Interface, err)
	}
	return nil
}

// Receive returns the next packet from either socket. On the VRRP socket the kernel has
// already trimmed it to the IP total length and x/net stripped the IPv4 header, so
// Payload is exactly the VRRP message; an AH packet keeps its header (Packet.AH).
func (c *Conn) Receive() (Packet, error) {
	select {
	case r := <-c.rx:
		return r.p, r.err
	case <-c.done:
		return Packet{}, fmt.Errorf("receive on %s: %w", c.cfg.Interface, net.ErrClosed)
	}
}

// read reads the protocol 112 socket.
func (c *Conn) read() (Packet, error) {
	p := Packet{TTL: -1}
	var (
		n    int
		from net.Addr
		err  error
	)
	if c.p6 != nil {
		var cm *ipv6.ControlMessage
		n, cm, from, err = c.p6.ReadFrom(c.buf)
		if cm != nil {
			p.TTL = cm.HopLimit
			p.Dst, _ = netip.AddrFromSlice(cm.Dst)
		}
	} else {
		var cm *ipv4.ControlMessage
		n, cm, from, err = c.p4.ReadFrom(c.buf)
		if cm != nil {
			p.TTL = cm.TTL
			p.Dst, _ = netip.AddrFromSlice(cm.Dst)
			p.Dst = p.Dst.Unmap()
		}
	}
	if err != nil {
		return Packet{}, fmt.Errorf("receive on %s: %w", c.cfg.Interface, err)
	}
	if ia, ok := from.(*net.IPAddr); ok {
		p.Src, _ = netip.AddrFromSlice(ia.IP)
		p.Src = p.Src.Unmap()
	}
	p.Payload = append([]byte(nil), c.buf[:n]...)
	return p, nil
}

// Close closes the sockets; a blocked Receive returns an error.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	if c.ah != nil {
		c.ah.close()
	}
	return c.pc.Close()
}
