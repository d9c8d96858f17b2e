package advert

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	d1  = netip.MustParseAddr("198.18.0.11")
	d2  = netip.MustParseAddr("198.18.0.12")
	vip = netip.MustParseAddr("198.18.0.254")
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden bytes: keepalived 2.2.7 on the wire (docs/reference.md, keepalived on the wire; testdata/*.pcap).
var golden = []struct {
	name string
	src  netip.Addr
	hex  string
	want Advert
}{
	{"v2 prio 150", d1, "21 33 96 01 00 01 81 b9 c6 12 00 fe 00 00 00 00 00 00 00 00",
		Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip}}},
	{"v2 prio 0", d1, "21 33 00 01 00 01 17 ba c6 12 00 fe 00 00 00 00 00 00 00 00",
		Advert{Version: 2, VRID: 51, Priority: 0, Interval: time.Second, Addrs: []netip.Addr{vip}}},
	{"v2 prio 150 PASS s3cr3t", d1, "21 33 96 01 01 01 76 9f c6 12 00 fe 73 33 63 72 33 74 00 00",
		Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip},
			Auth: AuthPass, AuthData: Key{'s', '3', 'c', 'r', '3', 't'}}},
	{"v2 prio 150 in AH", d1, "21 33 96 01 02 01 7f b9 c6 12 00 fe 00 00 00 00 00 00 00 00",
		Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip}, Auth: AuthAH}},
	{"v3 prio 150", d1, "31 33 96 01 00 0a cb 03 c6 12 00 fe",
		Advert{Version: 3, VRID: 51, Priority: 150, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip}}},
	{"v3 prio 0", d1, "31 33 00 01 00 0a 61 04 c6 12 00 fe",
		Advert{Version: 3, VRID: 51, Priority: 0, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip}}},
	{"v3 prio 100 from d2", d2, "31 33 64 01 00 0a fd 02 c6 12 00 fe",
		Advert{Version: 3, VRID: 51, Priority: 100, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip}}},
}

func TestGoldenKeepalived(t *testing.T) {
	for _, tc := range golden {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.hex)
			got, err := Parse(b, tc.src, Group4)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			enc, err := tc.want.Marshal(tc.src, Group4)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if got, want := hex.EncodeToString(enc), hex.EncodeToString(b); got != want {
				t.Errorf("Marshal = %s, want keepalived's %s", got, want)
			}
		})
	}
}

// readPcap returns the IPv4 packets (Ethernet type 0x0800) of a classic pcap file.
func readPcap(t testing.TB, path string) [][]byte {
	t.Helper()
	d, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint32(d) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(d[20:]) != 1 {
		t.Fatalf("%s: not a little-endian Ethernet pcap", path)
	}
	var out [][]byte
	for off := 24; off+16 <= len(d); {
		n := int(binary.LittleEndian.Uint32(d[off+8:]))
		frame := d[off+16 : off+16+n]
		off += 16 + n
		if len(frame) > 14 && binary.BigEndian.Uint16(frame[12:]) == 0x0800 {
			out = append(out, frame[14:])
		}
	}
	return out
}

// TestPcapVectors decodes every VRRP packet keepalived sent in two captured failovers
// and re-encodes it to the same bytes.
func TestPcapVectors(t *testing.T) {
	for _, f := range []string{"testdata/v2-adv1-sigterm-failover.pcap", "testdata/v3-adv0.1-sigterm-failover.pcap"} {
		n := 0
		for _, ip := range readPcap(t, f) {
			if ip[9] != Protocol {
				continue
			}
			n++
			if ip[8] != TTL || ip[1] != 0xc0 {
				t.Errorf("%s: keepalived sent TTL %d TOS %#x", f, ip[8], ip[1])
			}
			ihl := int(ip[0]&0xf) * 4
			total := int(binary.BigEndian.Uint16(ip[2:]))
			src := netip.AddrFrom4([4]byte(ip[12:16]))
			dst := netip.AddrFrom4([4]byte(ip[16:20]))
			msg := ip[ihl:total]
			a, err := Parse(msg, src, dst)
			if err != nil {
				t.Errorf("%s: Parse(% x): %v", f, msg, err)
				continue
			}
			enc, err := a.Marshal(src, dst)
			if err != nil || string(enc) != string(msg) {
				t.Errorf("%s: re-encoded % x (err %v), want % x", f, enc, err, msg)
			}
		}
		if n < 5 {
			t.Errorf("%s: only %d VRRP packets", f, n)
		}
	}
}

func TestV3IPv6RoundTrip(t *testing.T) {
	src := netip.MustParseAddr("fe80::1")
	a := Advert{Version: 3, VRID: 7, Priority: 200, Interval: 50 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::7")}}
	b, err := a.Marshal(src, Group6)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8+32 {
		t.Fatalf("len = %d, want 40", len(b))
	}
	got, err := Parse(b, src, Group6)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The pseudo-header binds the checksum to the addresses: another source fails.
	if _, err := Parse(b, netip.MustParseAddr("fe80::2"), Group6); ReasonOf(err) != ReasonChecksum {
		t.Errorf("other source: err %v, want checksum", err)
	}
}

func TestRejections(t *testing.T) {
	v2 := unhex(t, "21 33 96 01 00 01 81 b9 c6 12 00 fe 00 00 00 00 00 00 00 00")
	v3 := unhex(t, "31 33 96 01 00 0a cb 03 c6 12 00 fe")
	mod := func(b []byte, f func([]byte) []byte) []byte {
		return f(append([]byte(nil), b...))
	}
	// fix recomputes the checksum so that only the intended defect remains.
	fix := func(version int) func([]byte) []byte {
		return func(b []byte) []byte {
			b[6], b[7] = 0, 0
			var s uint16
			if version == 3 {
				s = checksum(pseudoHeader(d1, Group4, len(b)), b)
			} else {
				s = checksum(nil, b)
			}
			binary.BigEndian.PutUint16(b[6:], s)
			return b
		}
	}
	tests := []struct {
		name string
		b    []byte
		src  netip.Addr
		want Reason
	}{
		{"empty", nil, d1, ReasonTruncated},
		{"7 bytes", v3[:7], d1, ReasonTruncated},
		{"v2 without auth", v2[:12], d1, ReasonTruncated},
		{"v2 cut by 2", v2[:18], d1, ReasonTruncated},
		{"v3 cut by 2", v3[:10], d1, ReasonTruncated},
		{"v3 trailing 3", mod(v3, func(b []byte) []byte { return append(b, 1, 2, 3) }), d1, ReasonTrailing},
		{"v2 trailing 1", mod(v2, func(b []byte) []byte { return append(b, 0) }), d1, ReasonTrailing},
		{"v3 count 2 one address", mod(v3, func(b []byte) []byte { b[3] = 2; return b }), d1, ReasonCountMismatch},
		{"v3 count 0 one address", mod(v3, func(b []byte) []byte { b[3] = 0; return b }), d1, ReasonCountMismatch},
		{"v3 count 1 two addresses", mod(v3, func(b []byte) []byte { return fix(3)(append(b, 1, 2, 3, 4)) }), d1, ReasonCountMismatch},
		{"version 1", mod(v3, func(b []byte) []byte { b[0] = 0x11; return b }), d1, ReasonVersion},
		{"version 4", mod(v3, func(b []byte) []byte { b[0] = 0x41; return b }), d1, ReasonVersion},
		{"v2 over IPv6", v2, netip.MustParseAddr("fe80::1"), ReasonVersion},
		{"type 2", mod(v3, func(b []byte) []byte { b[0] = 0x32; return b }), d1, ReasonType},
		{"v3 bad checksum", mod(v3, func(b []byte) []byte { b[7] ^= 1; return b }), d1, ReasonChecksum},
		{"v2 bad checksum", mod(v2, func(b []byte) []byte { b[6] ^= 0x80; return b }), d1, ReasonChecksum},
		{"v3 from another source", v3, d2, ReasonChecksum},
		{"v2 auth type 3", mod(v2, func(b []byte) []byte { b[4] = 3; return fix(2)(b) }), d1, ReasonAuthType},
		{"v3 interval 0", mod(v3, func(b []byte) []byte { b[5] = 0; return fix(3)(b) }), d1, ReasonInterval},
		{"v2 interval 0", mod(v2, func(b []byte) []byte { b[5] = 0; return fix(2)(b) }), d1, ReasonInterval},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.b, tc.src, Group4)
			if got := ReasonOf(err); got != tc.want {
				t.Errorf("Parse(% x): reason %q (err %v), want %q", tc.b, got, err, tc.want)
			}
		})
	}
}

func TestMarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		a    Advert
		src  netip.Addr
	}{
		{"v2 fractional", Advert{Version: 2, Interval: 1500 * time.Millisecond, Addrs: []netip.Addr{vip}}, d1},
		{"v2 IPv6", Advert{Version: 2, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}, netip.MustParseAddr("fe80::1")},
		{"v3 too long", Advert{Version: 3, Interval: 41 * time.Second, Addrs: []netip.Addr{vip}}, d1},
		{"v3 sub-centisecond", Advert{Version: 3, Interval: 5 * time.Millisecond, Addrs: []netip.Addr{vip}}, d1},
		{"mixed family", Advert{Version: 3, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}, d1},
		{"version 4", Advert{Version: 4, Interval: time.Second}, d1},
		{"v3 with authentication", Advert{Version: 3, Interval: time.Second, Addrs: []netip.Addr{vip}, Auth: AuthPass}, d1},
		{"v2 auth type 3", Advert{Version: 2, Interval: time.Second, Addrs: []netip.Addr{vip}, Auth: 3}, d1},
	}
	for _, tc := range tests {
		if _, err := tc.a.Marshal(tc.src, Group4); err == nil {
			t.Errorf("%s: Marshal succeeded", tc.name)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, g := range golden {
		f.Add(unhex(f, g.hex), false)
	}
	f.Add(unhex(f, "31 33 96 01 00 0a cb 03 c6 12 00"), false)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		src, dst := d1, Group4
		if v6 {
			src, dst = netip.MustParseAddr("fe80::1"), Group6
		}
		a, err := Parse(b, src, dst)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		// Whatever parses must encode back to the same length and parse again (the reserved
		// v3 bits are not kept).
		enc, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatalf("Marshal of parsed %+v: %v", a, err)
		}
		if len(enc) != len(b) {
			t.Fatalf("re-encoded length %d, want %d", len(enc), len(b))
		}
		if _, err := Parse(enc, src, dst); err != nil {
			t.Fatalf("re-encoded advert does not parse: %v", err)
		}
	})
}
