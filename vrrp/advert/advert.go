// Package advert encodes and strictly decodes VRRP advertisements: version 2 (RFC 3768,
// IPv4, with RFC 2338's authentication) and version 3 (RFC 5798, IPv4 and IPv6), byte for
// byte as keepalived sends them.
package advert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is the IP protocol number of VRRP (RFC 3768 §5.2.4, RFC 5798 §5.1.1.4).
const Protocol = 112

// TTL is the only TTL / hop limit a VRRP packet may carry (RFC 3768 §7.1, RFC 5798
// §7.1): a router must drop anything else, which proves the sender is on the link.
const TTL = 255

// Multicast groups of VRRP (RFC 5798 §5.1.1.2, §5.1.2.2).
var (
	Group4 = netip.MustParseAddr("224.0.0.18")
	Group6 = netip.MustParseAddr("ff02::12")
)

// typeAdvertisement is the only VRRP packet type (RFC 5798 §5.2.2).
const typeAdvertisement = 1

const (
	headerLen = 8
	// authLen is the two 32-bit authentication words RFC 3768 §5.3.10 appends to a v2
	// advert; with auth type 0 they are zero but still count in length and checksum.
	authLen = 8
)

// Advert is one decoded VRRP advertisement.
type Advert struct {
	Version  int // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds in v2 (8 bits), centiseconds
	// in v3 (12 bits, RFC 5798 §5.2.7).
	Interval time.Duration
	// Addrs are the virtual addresses, all of one family.
	Addrs []netip.Addr
	// Auth and AuthData are the v2 authentication fields (RFC 2338 §5.3.6, §5.3.10):
	// keepalived's PASS puts the password in AuthData; AH leaves it zero and wraps the
	// advert in an IPsec AH header (see SealAH). Always zero in v3.
	Auth     AuthType
	AuthData Key
}

// Reason names why a received advert was dropped; it is the label of the
// "invalid adverts by reason" metric, so its values are stable.
type Reason string

// Every reason a receiver drops an advert. The codec produces the first group; the
// receiver (which knows the socket and the instance) the second.
const (
	ReasonTruncated     Reason = "truncated"      // shorter than its header or its addresses
	ReasonTrailing      Reason = "trailing_bytes" // bytes after the last address / auth data
	ReasonCountMismatch Reason = "count_mismatch" // whole addresses present, but not Count of them
	ReasonVersion       Reason = "version"        // not 2 or 3, or v2 over IPv6
	ReasonType          Reason = "type"           // not an ADVERTISEMENT
	ReasonChecksum      Reason = "checksum"
	ReasonAuthType      Reason = "auth_type" // v2 auth type other than 0, 1 (PASS) and 2 (AH)
	ReasonInterval      Reason = "interval"  // zero interval

	ReasonTTL          Reason = "ttl"  // TTL / hop limit not 255 (RFC 5798 §7.1)
	ReasonVRID         Reason = "vrid" // another virtual router on the same group
	ReasonVersionMatch Reason = "version_mismatch"
	ReasonFamily       Reason = "family"            // IPv4 advert to an IPv6 instance or the reverse
	ReasonIntervalV2   Reason = "interval_mismatch" // v2 interval differs from ours (keepalived drops it)
	ReasonAddrs        Reason = "addresses"         // VIP set differs from ours (RFC 5798 §7.1 MAY)
	ReasonSource       Reason = "source"            // unicast advert from an unknown peer
	// ReasonAuthentication: the authentication differs from the instance's: another type,
	// a wrong password, an AH ICV or SPI that does not verify, or a replayed sequence number.
	ReasonAuthentication Reason = "authentication"
)

// Reasons lists every Reason, for pre-creating metric series.
var Reasons = []Reason{
	ReasonTruncated, ReasonTrailing, ReasonCountMismatch, ReasonVersion, ReasonType,
	ReasonChecksum, ReasonAuthType, ReasonInterval, ReasonTTL, ReasonVRID,
	ReasonVersionMatch, ReasonFamily, ReasonIntervalV2, ReasonAddrs, ReasonSource,
	ReasonAuthentication,
}

// Error is a rejected advert.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string { return "invalid VRRP advert: " + string(e.Reason) + ": " + e.Detail }

func reject(r Reason, format string, args ...any) error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the Reason of an error from Parse, or "" for any other error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Marshal encodes a as sent from src to dst (the addresses enter the v3 checksum
// through the pseudo-header of RFC 5798 §5.2.8).
func (a Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	if len(a.Addrs) > 255 {
		return nil, fmt.Errorf("encode VRRP advert for VRID %d: %d addresses, at most 255", a.VRID, len(a.Addrs))
	}
	is6 := src.Is6() && !src.Is4In6()
	alen := 4
	if is6 {
		alen = 16
	}
	for _, ad := range a.Addrs {
		if ad.Is4() == is6 {
			return nil, fmt.Errorf("encode VRRP advert for VRID %d: address %s is not of the family of source %s", a.VRID, ad, src)
		}
	}
	n := headerLen + alen*len(a.Addrs)
	var b []byte
	switch a.Version {
	case 2:
		if is6 {
			return nil, fmt.Errorf("encode VRRP advert for VRID %d: version 2 is IPv4 only (RFC 3768)", a.VRID)
		}
		secs := a.Interval / time.Second
		if secs < 1 || secs > 255 || a.Interval%time.Second != 0 {
			return nil, fmt.Errorf("encode VRRP advert for VRID %d: v2 interval %s is not 1-255 whole seconds", a.VRID, a.Interval)
		}
		if a.Auth > AuthAH {
			return nil, fmt.Errorf("encode VRRP advert for VRID %d: authentication type %d", a.VRID, a.Auth)
		}
		b = make([]byte, n+authLen)
		b[0] = 2<<4 | typeAdvertisement
		b[4] = byte(a.Auth)
		b[5] = byte(secs)
		copy(b[n:], a.AuthData[:])
	case 3:
		if a.Auth != AuthNone || a.AuthData != (Key{}) {
			return nil, fmt.Errorf("encode VRRP advert for VRID %d: version 3 has no authentication (RFC 5798 §9)", a.VRID)
		}
		cs := a.Interval / (10 * time.Millisecond)
		if cs < 1 || cs > 0xfff || a.Interval%(10*time.Millisecond) != 0 {
			return nil, fmt.Errorf("encode VRRP advert for VRID %d: v3 interval %s is not 1-4095 centiseconds", a.VRID, a.Interval)
		}
		b = make([]byte, n)
		b[0] = 3<<4 | typeAdvertisement
		binary.BigEndian.PutUint16(b[4:], uint16(cs)) // 4 reserved bits stay 0
	default:
		return nil, fmt.Errorf("encode VRRP advert for VRID %d: version %d", a.VRID, a.Version)
	}
	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = byte(len(a.Addrs))
	off := headerLen
	for _, ad := range a.Addrs {
		s := ad.AsSlice()
		off += copy(b[off:], s)
	}
	var sum uint16
	if a.Version == 3 {
		sum = checksum(pseudoHeader(src, dst, len(b)), b)
	} else {
		sum = checksum(nil, b)
	}
	binary.BigEndian.PutUint16(b[6:], sum)
	return b, nil
}

// Parse decodes and validates the VRRP message b (the IP payload, nothing after it)
// received from src for dst. Every rejection is an *Error with a Reason.
//
// Validation follows RFC 5798 §7.1 and keepalived: the version, the type, the checksum,
// a v2 authentication type keepalived knows (0, 1 or 2; the receiver compares it and the
// data with its own), and an exact length: the message holds the fixed header, exactly
// Count addresses and (v2) the 8 authentication bytes, and nothing more.
func Parse(b []byte, src, dst netip.Addr) (Advert, error) {
	if len(b) < headerLen {
		return Advert{}, reject(ReasonTruncated, "%d bytes, header needs %d", len(b), headerLen)
	}
	is6 := src.Is6() && !src.Is4In6()
	version := int(b[0] >> 4)
	if version != 2 && version != 3 || version == 2 && is6 {
		return Advert{}, reject(ReasonVersion, "version %d", version)
	}
	if t := b[0] & 0x0f; t != typeAdvertisement {
		return Advert{}, reject(ReasonType, "type %d", t)
	}
	alen, trailer := 4, 0
	if is6 {
		alen = 16
	}
	if version == 2 {
		trailer = authLen
	}
	count := int(b[3])
	area := len(b) - headerLen - trailer
	want := count * alen
	switch {
	case area < 0:
		return Advert{}, reject(ReasonTruncated, "%d bytes, v2 header and authentication need %d", len(b), headerLen+trailer)
	case area == want:
	case area%alen == 0:
		return Advert{}, reject(ReasonCountMismatch, "count %d but room for %d addresses", count, area/alen)
	case area < want:
		return Advert{}, reject(ReasonTruncated, "%d bytes, %d addresses need %d", len(b), count, headerLen+want+trailer)
	default:
		return Advert{}, reject(ReasonTrailing, "%d bytes after %d addresses", area-want, count)
	}
	var sum uint16
	if version == 3 {
		sum = checksum(pseudoHeader(src, dst, len(b)), b)
	} else {
		sum = checksum(nil, b)
	}
	if sum != 0 {
		return Advert{}, reject(ReasonChecksum, "checksum 0x%04x does not verify", binary.BigEndian.Uint16(b[6:]))
	}
	a := Advert{Version: version, VRID: b[1], Priority: b[2]}
	if version == 2 {
		if AuthType(b[4]) > AuthAH {
			return Advert{}, reject(ReasonAuthType, "auth type %d", b[4])
		}
		a.Auth = AuthType(b[4])
		a.AuthData = Key(b[len(b)-authLen:])
		a.Interval = time.Duration(b[5]) * time.Second
	} else {
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:])&0xfff) * 10 * time.Millisecond
	}
	if a.Interval == 0 {
		return Advert{}, reject(ReasonInterval, "zero advertisement interval")
	}
	a.Addrs = make([]netip.Addr, count)
	for i := range count {
		p := b[headerLen+i*alen : headerLen+(i+1)*alen]
		if alen == 4 {
			a.Addrs[i] = netip.AddrFrom4([4]byte(p))
		} else {
			a.Addrs[i] = netip.AddrFrom16([16]byte(p))
		}
	}
	return a, nil
}

// pseudoHeader is the IPv4 (RFC 768 style) or IPv6 (RFC 8200 §8.1) pseudo-header that
// RFC 5798 §5.2.8 puts under the v3 checksum.
func pseudoHeader(src, dst netip.Addr, n int) []byte {
	if src.Is4() || src.Is4In6() {
		s, d := src.Unmap().As4(), dst.Unmap().As4()
		p := make([]byte, 12)
		copy(p, s[:])
		copy(p[4:], d[:])
		p[9] = Protocol
		binary.BigEndian.PutUint16(p[10:], uint16(n))
		return p
	}
	s, d := src.As16(), dst.As16()
	p := make([]byte, 40)
	copy(p, s[:])
	copy(p[16:], d[:])
	binary.BigEndian.PutUint32(p[32:], uint32(n))
	p[39] = Protocol
	return p
}

// checksum is the Internet checksum (RFC 1071) over pre then b. Over a message whose
// checksum field is filled in it returns 0.
func checksum(pre, b []byte) uint16 {
	var s uint32
	add := func(p []byte) {
		for len(p) >= 2 {
			s += uint32(p[0])<<8 | uint32(p[1])
			p = p[2:]
		}
		if len(p) == 1 {
			s += uint32(p[0]) << 8
		}
	}
	add(pre) // pseudo-headers have even length
	add(b)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
