package announce

import (
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"
)

// keepalived 2.2.7's gratuitous ARP for 198.18.0.254 from 02:00:c6:12:00:0b, as captured
// (vrrp/advert/testdata/v2-adv1-sigterm-failover.pcap).
const keepalivedGARP = "ffffffffffff0200c612000b080600010800060400010200c612000bc61200feffffffffffffc61200fe"

func TestGARPMatchesKeepalived(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:c6:12:00:0b")
	got := hex.EncodeToString(GARP(mac, netip.MustParseAddr("198.18.0.254")))
	if got != keepalivedGARP {
		t.Errorf("GARP =\n%s\nwant keepalived's\n%s", got, keepalivedGARP)
	}
}

func TestNA(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:c6:12:00:0b")
	src := netip.MustParseAddr("fe80::c6ff:fe12:b")
	target := netip.MustParseAddr("2001:db8::254")
	f := NA(mac, src, target)
	if got := binary.BigEndian.Uint16(f[12:]); got != 0x86dd {
		t.Fatalf("ethertype %#x", got)
	}
	ip := f[14:]
	if ip[7] != 255 || ip[6] != 58 {
		t.Errorf("hop limit %d next header %d, want 255 and ICMPv6", ip[7], ip[6])
	}
	m := ip[40:]
	if m[0] != 136 || m[4]&0x20 == 0 || m[4]&0x40 != 0 {
		t.Errorf("type %d flags %#x: want NA with Override, not Solicited", m[0], m[4])
	}
	if netip.AddrFrom16([16]byte(m[8:24])) != target || net.HardwareAddr(m[26:32]).String() != mac.String() {
		t.Errorf("target or link-layer option wrong: % x", m)
	}
	// The checksum verifies: the one's complement sum over pseudo-header and message is 0xffff.
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	add(ip[8:40])
	sum += uint32(len(m)) + 58
	add(m)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		t.Errorf("ICMPv6 checksum does not verify: sum %#x", sum)
	}
}
