package conf

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Limits of udp checks.
const (
	// MaxUDPPayload is the largest datagram payload over IPv4 (65535 - 20 - 8).
	MaxUDPPayload = 65507
	// UDPFailureWindow is how long the Linux neighbour table takes to give up on a host that
	// does not answer ARP or neighbour solicitation (3 probes, 1 s apart) and report it
	// unreachable to the socket: a udp check that needs no reply must wait at least that
	// long to see a dead host on its own network.
	UDPFailureWindow = 3 * time.Second
)

// UDPCheck sends one datagram and listens, as keepalived's UDP_CHECK. An ICMP destination
// unreachable (port, host, network or administratively prohibited) fails the check at
// once. Without RequireReply silence until the timeout passes: nothing said the port is
// closed. With it, a reply must arrive, and match Expect when set.
type UDPCheck struct {
	// Payload is the datagram sent (hex in the file); empty sends an empty datagram.
	Payload HexBytes `json:"payload"`
	// RequireReply: the check fails unless a datagram comes back (keepalived's
	// require_reply). Always true when Expect is set.
	RequireReply bool `json:"require_reply"`
	// Expect, when set, must match the start of the reply (hex, X for any nibble).
	Expect *BytePattern `json:"expect,omitempty"`
	// MinReplyLength and MaxReplyLength bound a required reply's size in bytes.
	MinReplyLength int `json:"min_reply_length"`
	MaxReplyLength int `json:"max_reply_length"`
}

// HexBytes are bytes written in the file, and printed, as hex.
type HexBytes []byte

// MarshalText implements encoding.TextMarshaler.
func (h HexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// BytePattern is a byte string some of whose nibbles match anything: keepalived's
// require_reply hex with X (or x) for a wildcard nibble, "0aXX" matching 0a00..0aff.
type BytePattern struct {
	Data []byte // the bytes to match, wildcard nibbles zero
	Mask []byte // per byte, the bits that must equal Data's
}

// Match reports whether b starts with the pattern.
func (p *BytePattern) Match(b []byte) bool {
	if len(b) < len(p.Data) {
		return false
	}
	for i := range p.Data {
		if (b[i]^p.Data[i])&p.Mask[i] != 0 {
			return false
		}
	}
	return true
}

// String renders the pattern as it is written, lower-case hex with X for a wildcard.
func (p *BytePattern) String() string {
	var b strings.Builder
	const digits = "0123456789abcdef"
	for i, v := range p.Data {
		for _, shift := range []uint{4, 0} {
			if p.Mask[i]>>shift&0xf == 0 {
				b.WriteByte('X')
			} else {
				b.WriteByte(digits[v>>shift&0xf])
			}
		}
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler.
func (p *BytePattern) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// parseHex reads hex digits, with spaces or colons allowed between bytes ("0a 0b",
// "0a:0b"). wild allows X / x for a nibble that matches anything.
func parseHex(s string, wild bool) (data, mask []byte, err error) {
	digits := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == ':' {
			return -1
		}
		return r
	}, strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if len(digits)%2 != 0 {
		return nil, nil, fmt.Errorf("%d hex digits is not a whole number of bytes", len(digits))
	}
	data, mask = make([]byte, len(digits)/2), make([]byte, len(digits)/2)
	for i := range len(digits) {
		c := digits[i]
		var v, m byte = 0, 0xf
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		case wild && (c == 'X' || c == 'x'):
			m = 0
		default:
			what := "a hex digit"
			if wild {
				what += " or X"
			}
			return nil, nil, fmt.Errorf("%q is not %s", c, what)
		}
		shift := uint(4 * (1 - i%2))
		data[i/2] |= v << shift
		mask[i/2] |= m << shift
	}
	return data, mask, nil
}

// hexBytes decodes a hex attribute of at most MaxUDPPayload bytes; what says what it holds.
func (d *decoder) hexBytes(a *hcl.Attribute, wild bool, what string) (data, mask []byte, ok bool) {
	s, ok := d.nonEmpty(a)
	if !ok {
		return nil, nil, false
	}
	data, mask, err := parseHex(s, wild)
	switch {
	case err != nil:
		d.errorf(a.Expr.Range(), "Invalid "+a.Name, "%s is %s: %v.", a.Name, what, err)
	case len(data) > MaxUDPPayload:
		d.errorf(a.Expr.Range(), "Invalid "+a.Name, "%s is %d bytes; a UDP datagram holds at most %d.", a.Name, len(data), MaxUDPPayload)
	default:
		return data, mask, true
	}
	return nil, nil, false
}

func (d *decoder) decodeUDP(at hcl.Attributes) *UDPCheck {
	c := &UDPCheck{MaxReplyLength: MaxUDPPayload}
	if a := at["payload"]; a != nil {
		if data, _, ok := d.hexBytes(a, false, "the datagram in hex, e.g. \"0a0b0c\""); ok {
			c.Payload = data
		}
	}
	if a := at["expect"]; a != nil {
		if data, mask, ok := d.hexBytes(a, true, "the start of the reply in hex, X for any nibble, e.g. \"0aXX\""); ok {
			c.Expect = &BytePattern{Data: data, Mask: mask}
		}
	}
	c.RequireReply = c.Expect != nil
	if a := at["require_reply"]; a != nil {
		if v, ok := d.boolean(a); ok {
			if !v && at["expect"] != nil {
				d.errorf(a.Expr.Range(), "Conflicting arguments", "expect needs a reply; remove require_reply = false.")
			}
			c.RequireReply = c.RequireReply || v
		}
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"min_reply_length", &c.MinReplyLength}, {"max_reply_length", &c.MaxReplyLength}} {
		a := at[f.name]
		if a == nil {
			continue
		}
		if n, ok := d.integer(a, 0, MaxUDPPayload); ok {
			*f.dst = int(n)
		}
		if !c.RequireReply {
			d.errorf(a.NameRange, "Length without a reply", "%s bounds the reply: it needs require_reply = true or expect.", f.name)
		}
	}
	if c.MinReplyLength > c.MaxReplyLength {
		d.errorf(at["min_reply_length"].Expr.Range(), "Value out of range",
			"min_reply_length (%d) is above max_reply_length (%d): every reply would fail.", c.MinReplyLength, c.MaxReplyLength)
	}
	if c.Expect != nil && len(c.Expect.Data) > c.MaxReplyLength {
		d.errorf(at["expect"].Expr.Range(), "Value out of range",
			"expect is %d bytes but max_reply_length is %d: every reply would fail.", len(c.Expect.Data), c.MaxReplyLength)
	}
	return c
}

// checkWarnings warns of udp checks that would call a dead host up: without a required
// reply only an ICMP error fails the check, and a host that is down on the local network
// is reported unreachable only once neighbour resolution gives up.
func checkWarnings(vs *VirtualServer, warn func(rng hcl.Range, summary, format string, args ...any)) {
	for _, rs := range vs.RealServers {
		for _, c := range rs.Checks {
			if c.Kind == CheckUDP && !c.UDP.RequireReply && c.Timeout < UDPFailureWindow {
				warn(c.DeclRange, "UDP check may miss a dead host",
					"the udp check of real server %q needs no reply, so only an ICMP error fails it; a host that is down on the local network is reported unreachable only after about %s, beyond this check's timeout (%s). Set timeout (and interval) to %s or more, or require a reply with expect or require_reply = true.",
					rs.Name, UDPFailureWindow, c.Timeout, UDPFailureWindow)
			}
		}
	}
}
