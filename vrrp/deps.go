package vrrp

import (
	"context"
	"net/netip"

	"github.com/vigil-lb/vigil/vrrp/transport"
)

// Packet is one VRRP packet as the socket delivered it: source, destination, TTL / hop
// limit (-1 when unknown) and the VRRP message, nothing after it.
type Packet = transport.Packet

// Transport sends and receives VRRP messages on one interface.
type Transport interface {
	// Source is the address adverts are sent from: the interface's primary address
	// (IPv4), its link-local address (IPv6), or the configured unicast source.
	Source() netip.Addr
	// Send sends one VRRP message to dst (the multicast group or a unicast peer) with
	// TTL / hop limit 255.
	Send(msg []byte, dst netip.Addr) error
	// SendAH sends a whole IPv4 datagram of IP protocol 51 (advert.SealAH) to dst, for
	// VRRPv2 with AH authentication.
	SendAH(pkt []byte, dst netip.Addr) error
	// Receive blocks for the next packet. It returns an error once closed.
	Receive() (Packet, error)
	Close() error
}

// AddressManager adds and removes virtual addresses on the instance's interface. Both
// are idempotent: adding a present address or removing an absent one is no error.
type AddressManager interface {
	Add(ctx context.Context, vips []netip.Prefix) error
	Remove(ctx context.Context, vips []netip.Prefix) error
}

// Announcer sends one round of gratuitous ARP (IPv4) / unsolicited neighbour
// advertisement (IPv6) for each address, so that neighbours move to this host's MAC.
type Announcer interface {
	Announce(vips []netip.Addr) error
}

// LinkWatcher reports interface state. Watch calls fn with the current state of each
// named interface, then on every change, until ctx is done.
type LinkWatcher interface {
	Watch(ctx context.Context, names []string, fn func(name string, up bool)) error
}
