package userspace

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// maxDatagram bounds a UDP payload (65535 minus the IPv4 and UDP headers, rounded up).
const maxDatagram = 64 << 10

// udpFlow is one client's UDP conversation with a real server: the kernel's UDP
// "connection", which lives until it has been idle for the UDP timeout.
type udpFlow struct {
	s      *service
	client netip.AddrPort
	d      *dest
	tp     *template
	conn   *net.UDPConn // connected to the real server
	last   atomic.Int64 // unix nanoseconds of the last datagram either way
	done   atomic.Bool  // run has ended: the next datagram starts a new flow
}

func (f *udpFlow) cut() { f.conn.Close() }

func (f *udpFlow) touch() { f.last.Store(time.Now().UnixNano()) }

// serveUDP reads datagrams on the service address and forwards each to its client's
// flow, creating the flow (scheduling a real server) on a client's first datagram.
func (s *service) serveUDP() {
	defer s.wg.Done()
	flows := map[netip.AddrPort]*udpFlow{}
	sweepAt := 64
	buf := make([]byte, maxDatagram)
	for {
		n, src, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			continue // e.g. ECONNREFUSED echoed from an ICMP error
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		f := flows[src]
		if f != nil && f.done.Load() {
			f = nil // idle timeout passed: this datagram starts a new flow
		}
		if f == nil {
			if len(flows) >= sweepAt {
				for k, f := range flows {
					if f.done.Load() {
						delete(flows, k)
					}
				}
				sweepAt = 2*len(flows) + 64
			}
			if f = s.newFlow(src); f == nil {
				delete(flows, src)
				continue // no real server: the datagram is dropped, as by ip_vs
			}
			flows[src] = f
		}
		f.touch()
		if _, err := f.conn.Write(buf[:n]); err == nil {
			f.d.stats.inPkts.Add(1)
			f.d.stats.inBytes.Add(uint64(n))
			s.stats.inPkts.Add(1)
			s.stats.inBytes.Add(uint64(n))
		}
	}
	// The listening socket carries every flow's replies: without it the flows are over.
	s.udp.Close()
	for _, f := range flows {
		f.cut()
	}
}

func (s *service) newFlow(src netip.AddrPort) *udpFlow {
	f := &udpFlow{s: s, client: src}
	var skip *dest
	for range 2 {
		d, tp := s.pick(src, skip, true, f)
		if d == nil {
			return nil
		}
		raddr := net.UDPAddrFromAddrPort(d.target(s.key.Addr.Port()))
		conn, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			s.unreachable(d, err)
			s.release(d, tp, false, f)
			skip = d
			continue
		}
		f.d, f.tp, f.conn = d, tp, conn
		s.stats.conns.Add(1)
		f.touch()
		s.wg.Add(1)
		go f.run()
		return f
	}
	return nil
}

// run forwards the real server's replies to the client until the flow has been idle for
// the UDP timeout, the real server refuses (ICMP port unreachable) or the flow is cut.
func (f *udpFlow) run() {
	s := f.s
	defer s.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		timeout := s.t.udpTimeout()
		idle := time.Since(time.Unix(0, f.last.Load()))
		if idle >= timeout {
			break
		}
		f.conn.SetReadDeadline(time.Now().Add(timeout - idle))
		n, err := f.conn.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			break
		}
		f.touch()
		if _, err := s.udp.WriteToUDPAddrPort(buf[:n], f.client); err == nil {
			f.d.stats.outPkts.Add(1)
			f.d.stats.outBytes.Add(uint64(n))
			s.stats.outPkts.Add(1)
			s.stats.outBytes.Add(uint64(n))
		}
	}
	f.done.Store(true)
	f.conn.Close()
	s.release(f.d, f.tp, false, f)
}
