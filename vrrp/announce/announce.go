// Package announce builds and sends gratuitous ARP (RFC 5227 §3) and unsolicited
// neighbour advertisements (RFC 4861 §7.2.6) so that a new VRRP master's neighbours
// send the virtual addresses' traffic to it.
package announce

import (
	"encoding/binary"
	"net"
	"net/netip"
)

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// allNodes is ff02::1 and its Ethernet group address 33:33:00:00:00:01.
var (
	allNodes    = netip.MustParseAddr("ff02::1")
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
)

// GARP returns an Ethernet frame with a gratuitous ARP request for ip from mac, as
// keepalived sends it: broadcast, sender IP = target IP = ip, target MAC ff:ff:ff:ff:ff:ff.
func GARP(mac net.HardwareAddr, ip netip.Addr) []byte {
	f := make([]byte, 14+28)
	copy(f[0:], broadcast)
	copy(f[6:], mac)
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:], mac)
	ip4 := ip.As4()
	copy(a[14:], ip4[:])
	copy(a[18:], broadcast)
	copy(a[24:], ip4[:])
	return f
}

// NA returns an Ethernet frame with an unsolicited neighbour advertisement for target
// from src (a link-local address of the interface) to all nodes, with the Override flag
// so that caches update (RFC 4861 §7.2.6), hop limit 255 and the target link-layer
// address option.
func NA(mac net.HardwareAddr, src, target netip.Addr) []byte {
	const icmpLen = 24 + 8
	f := make([]byte, 14+40+icmpLen)
	copy(f[0:], allNodesMAC)
	copy(f[6:], mac)
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	ip := f[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], icmpLen)
	ip[6] = 58 // ICMPv6
	ip[7] = 255
	s, d, t := src.As16(), allNodes.As16(), target.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	m := ip[40:]
	m[0] = 136                                    // neighbour advertisement
	binary.BigEndian.PutUint32(m[4:], 0x20000000) // Override
	copy(m[8:], t[:])
	m[24], m[25] = 2, 1 // target link-layer address, 8 bytes
	copy(m[26:], mac)
	// Checksum over the IPv6 pseudo-header (RFC 8200 §8.1) and the message.
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	add(s[:])
	add(d[:])
	sum += icmpLen + 58
	add(m)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(m[2:], ^uint16(sum))
	return f
}
