// Package transport is the VRRP socket: raw IP protocol 112 on one interface, multicast
// (224.0.0.18 / ff02::12) or unicast, TTL / hop limit 255 (RFC 5798 §5.1.1.3, §7.1), and
// beside it for VRRPv2 the IP protocol 51 socket of keepalived's AH authentication.
package transport

import "net/netip"

// Config selects the interface, the family and unicast operation.
type Config struct {
	Interface string
	// IPv6 selects ff02::12 and the interface's link-local address.
	IPv6 bool
	// UnicastSrc overrides the source address; UnicastPeers, when set, replace the
	// multicast group (no group is joined).
	UnicastSrc   netip.Addr
	UnicastPeers []netip.Addr
	// AH also opens a raw socket for IP protocol 51 (IPv4 only), where keepalived sends
	// VRRPv2 adverts wrapped in IPsec AH: Receive returns those as Packet.AH, and SendAH
	// sends them. A v2 instance opens it whatever its own authentication, so that a peer
	// that authenticates otherwise is heard, and counted, rather than silently missed.
	AH bool
}

// Packet is one received VRRP packet.
type Packet struct {
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL / IPv6 hop limit from the control message, -1 if absent.
	TTL     int
	Payload []byte
	// AH: the packet came on the protocol 51 socket and Payload is the whole IPv4
	// datagram, header included (the AH ICV covers it): see advert.ParseAH.
	AH bool
}

// TOS is the DSCP class keepalived sends VRRP with (CS6, "network control").
const TOS = 0xc0
