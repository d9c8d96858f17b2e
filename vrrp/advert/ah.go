package advert

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"net/netip"
)

// ProtocolAH is the IP protocol number of the IPsec Authentication Header (RFC 2402).
const ProtocolAH = 51

// IPsec AH as keepalived builds it around a v2 advert (docs/reference.md, keepalived's
// authentication): next header 112, payload length 4 (in 32-bit words, minus 2), the
// SPI, the sequence number and a 96-bit ICV: 24 bytes between the IPv4 header and the
// VRRP message.
const (
	AHLen      = 24
	ahPayload  = AHLen/4 - 2
	icvLen     = 12 // HMAC-MD5-96 (RFC 2403)
	ipv4Header = 20
)

// ErrNotVRRP is returned by ParseAH for an AH datagram that does not carry VRRP: other
// IPsec traffic, which a VRRP router ignores without counting it.
var ErrNotVRRP = errors.New("AH datagram does not carry VRRP")

// AH is the decoded Authentication Header of an advert.
type AH struct {
	// SPI is keepalived's choice: the sender's IPv4 address, since multicast leaves no
	// receiver to pick one.
	SPI uint32
	// Seq is the anti-replay sequence number, one more per advert sent.
	Seq uint32
}

// SealAH returns the IPv4 datagram keepalived sends for the v2 advert msg (marshalled
// with Auth = AuthAH): an IPv4 header (TOS 0xc0, TTL 255, no fragment flags, protocol 51,
// identification id), the AH header with seq, and msg. The ICV is HMAC-MD5 under key,
// truncated to 96 bits, over the IPv4 header with the mutable fields TOS, fragment
// offset and checksum zeroed (and TTL too when unicast, since a routed unicast advert
// may lose some), the AH header with a zero ICV, and msg: keepalived's vrrp_update_pkt.
// The IPv4 checksum is filled in (the kernel rewrites it on sending anyway). id must not
// be 0: the kernel would choose one after the ICV was computed.
func SealAH(msg []byte, src, dst netip.Addr, id uint16, seq uint32, key Key, unicast bool) ([]byte, error) {
	if !src.Is4() || !dst.Is4() {
		return nil, errors.New("seal AH advert: IPv4 only")
	}
	if id == 0 {
		return nil, errors.New("seal AH advert: IP identification 0")
	}
	total := ipv4Header + AHLen + len(msg)
	b := make([]byte, total)
	b[0] = 0x45
	b[1] = 0xc0 // CS6, as keepalived
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], id)
	b[8] = TTL
	b[9] = ProtocolAH
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	ah := b[ipv4Header:]
	ah[0] = Protocol
	ah[1] = ahPayload
	copy(ah[4:8], s[:]) // SPI = source address
	binary.BigEndian.PutUint32(ah[8:], seq)
	copy(b[ipv4Header+AHLen:], msg)
	icv := computeICV(b, ipv4Header, key, unicast)
	copy(ah[12:], icv[:])
	binary.BigEndian.PutUint16(b[10:], checksum(nil, b[:ipv4Header]))
	return b, nil
}

// ParseAH splits an IPv4 datagram of protocol 51 (header included, as a raw socket
// receives it) into its AH header and the VRRP message after it, checking only the
// structure: VerifyAH checks the ICV. A datagram whose AH does not carry VRRP returns
// ErrNotVRRP; any other rejection is an *Error with a Reason.
func ParseAH(pkt []byte) (AH, []byte, error) {
	if len(pkt) < ipv4Header {
		return AH{}, nil, reject(ReasonTruncated, "%d bytes, an IPv4 header needs %d", len(pkt), ipv4Header)
	}
	if pkt[0]>>4 != 4 {
		return AH{}, nil, reject(ReasonVersion, "IP version %d in an AH datagram", pkt[0]>>4)
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < ipv4Header || len(pkt) < ihl {
		return AH{}, nil, reject(ReasonTruncated, "IPv4 header length %d in %d bytes", ihl, len(pkt))
	}
	if pkt[9] != ProtocolAH {
		return AH{}, nil, reject(ReasonType, "IP protocol %d, not AH", pkt[9])
	}
	switch total := int(binary.BigEndian.Uint16(pkt[2:])); {
	case total > len(pkt):
		return AH{}, nil, reject(ReasonTruncated, "IPv4 total length %d, %d bytes received", total, len(pkt))
	case total < len(pkt):
		return AH{}, nil, reject(ReasonTrailing, "%d bytes after the IPv4 total length %d", len(pkt)-total, total)
	}
	ah := pkt[ihl:]
	if len(ah) < AHLen {
		return AH{}, nil, reject(ReasonTruncated, "%d bytes after the IPv4 header, AH needs %d", len(ah), AHLen)
	}
	if ah[0] != Protocol {
		return AH{}, nil, ErrNotVRRP
	}
	if ah[1] != ahPayload {
		// keepalived only speaks HMAC-MD5-96; another ICV length is not its advert.
		return AH{}, nil, reject(ReasonAuthentication, "AH payload length %d, HMAC-MD5-96 has %d", ah[1], ahPayload)
	}
	h := AH{SPI: binary.BigEndian.Uint32(ah[4:]), Seq: binary.BigEndian.Uint32(ah[8:])}
	return h, ah[AHLen:], nil
}

// VerifyAH checks the ICV of an AH datagram that ParseAH accepted, under key, and that
// the SPI is the source address as keepalived requires. unicast must be the receiver's
// mode: it decides whether the TTL is covered. The sequence number is the caller's to
// check, against the highest it has seen.
func VerifyAH(pkt []byte, key Key, unicast bool) error {
	if len(pkt) < ipv4Header || int(pkt[0]&0x0f)*4 < ipv4Header || int(pkt[0]&0x0f)*4+AHLen > len(pkt) {
		return reject(ReasonTruncated, "%d bytes: not an AH datagram ParseAH accepts", len(pkt))
	}
	ihl := int(pkt[0]&0x0f) * 4
	ah := pkt[ihl:]
	icv := computeICV(pkt, ihl, key, unicast)
	if !hmac.Equal(icv[:], ah[12:AHLen]) {
		return reject(ReasonAuthentication, "AH ICV does not verify: another password, or a changed packet")
	}
	if [4]byte(ah[4:8]) != [4]byte(pkt[12:16]) {
		return reject(ReasonAuthentication, "AH SPI %#08x is not the source address", binary.BigEndian.Uint32(ah[4:]))
	}
	return nil
}

// computeICV is HMAC-MD5-96 over pkt with the IPv4 header's mutable fields and the ICV
// zeroed (RFC 2402 §3.3.3.1), the IPv4 header being pkt[:ihl] and AH following it.
func computeICV(pkt []byte, ihl int, key Key, unicast bool) [icvLen]byte {
	hdr := make([]byte, ihl+AHLen)
	copy(hdr, pkt)
	hdr[1] = 0              // TOS
	hdr[6], hdr[7] = 0, 0   // flags and fragment offset
	hdr[10], hdr[11] = 0, 0 // header checksum
	if unicast {
		hdr[8] = 0 // TTL: keepalived covers it only for multicast, where it must be 255
	}
	clear(hdr[ihl+12 : ihl+AHLen])
	m := hmac.New(md5.New, key[:])
	m.Write(hdr)
	m.Write(pkt[ihl+AHLen:])
	var icv [icvLen]byte
	copy(icv[:], m.Sum(nil))
	return icv
}
