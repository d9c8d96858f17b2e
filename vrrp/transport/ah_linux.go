package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/vrrp/advert"
)

// ahConn is the raw IP protocol 51 socket of keepalived's VRRPv2 AH authentication
// (docs/reference.md, keepalived's authentication). It carries whole datagrams both
// ways: the AH ICV covers the IPv4 header, so the sender writes it (IP_HDRINCL) and the
// receiver needs it as it arrived.
type ahConn struct {
	pc  net.PacketConn
	rc  syscall.RawConn
	buf []byte
}

func openAH(ifname string, ifi *net.Interface, multicast bool) (*ahConn, error) {
	lc := net.ListenConfig{Control: bindToDevice(ifname, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1)
	})}
	pc, err := lc.ListenPacket(context.Background(), fmt.Sprintf("ip4:%d", advert.ProtocolAH), "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("open raw AH socket: %w", err)
	}
	fail := func(what string, err error) (*ahConn, error) {
		pc.Close()
		return nil, fmt.Errorf("AH socket: %s: %w", what, err)
	}
	if multicast {
		p4 := ipv4.NewPacketConn(pc)
		if err := p4.SetMulticastInterface(ifi); err != nil {
			return fail("multicast interface", err)
		}
		if err := p4.SetMulticastLoopback(false); err != nil {
			return fail("multicast loopback", err)
		}
		if err := p4.JoinGroup(ifi, &net.IPAddr{IP: advert.Group4.AsSlice()}); err != nil {
			return fail("join 224.0.0.18", err)
		}
	}
	ipc, ok := pc.(*net.IPConn)
	if !ok {
		return fail("raw connection", fmt.Errorf("%T is not an IP connection", pc))
	}
	rc, err := ipc.SyscallConn()
	if err != nil {
		return fail("raw connection", err)
	}
	return &ahConn{pc: pc, rc: rc, buf: make([]byte, 2048)}, nil
}

func (a *ahConn) send(pkt []byte, dst netip.Addr) error {
	_, err := a.pc.WriteTo(pkt, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// read returns the next datagram with its header: the net package strips the IPv4
// header of what an IPConn reads, so this reads the socket itself.
func (a *ahConn) read() (Packet, error) {
	var (
		n    int
		rerr error
	)
	err := a.rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), a.buf, 0)
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return Packet{}, fmt.Errorf("receive AH: %w", err)
	}
	pkt := a.buf[:n]
	p := Packet{TTL: -1, AH: true, Payload: append([]byte(nil), pkt...)}
	if n >= 20 {
		p.TTL = int(pkt[8])
		p.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	}
	return p, nil
}

func (a *ahConn) close() { a.pc.Close() }
