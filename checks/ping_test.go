package checks

import (
	"net/netip"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// quoted builds what an ICMP error quotes: the IP header of our echo request and the
// start of the echo.
func quoted(t *testing.T, v4 bool, dst netip.Addr, id, seq int) []byte {
	t.Helper()
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if !v4 {
		typ = ipv6.ICMPTypeEchoRequest
	}
	echo, err := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("x")}}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v4 {
		h := make([]byte, 20)
		h[0], h[9] = 0x45, protoICMP
		copy(h[12:16], []byte{198, 18, 0, 1})
		a := dst.As4()
		copy(h[16:20], a[:])
		return append(h, echo[:8]...)
	}
	h := make([]byte, 40)
	h[0], h[6] = 0x60, protoICMPv6
	a := dst.As16()
	copy(h[24:40], a[:])
	return append(h, echo...)
}

func TestQuotesEcho(t *testing.T) {
	t.Parallel()
	v4, v6 := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8:18::2")
	tests := []struct {
		name string
		v4   bool
		b    []byte
		dst  netip.Addr
		want bool
	}{
		{"v4 ours", true, quoted(t, true, v4, 7, 9), v4, true},
		{"v4 other seq", true, quoted(t, true, v4, 7, 10), v4, false},
		{"v4 other id", true, quoted(t, true, v4, 8, 9), v4, false},
		{"v4 other destination", true, quoted(t, true, netip.MustParseAddr("198.18.0.3"), 7, 9), v4, false},
		{"v4 truncated", true, quoted(t, true, v4, 7, 9)[:24], v4, false},
		{"v4 not ICMP", true, func() []byte { b := quoted(t, true, v4, 7, 9); b[9] = 17; return b }(), v4, false},
		{"v4 header length too short", true, func() []byte { b := quoted(t, true, v4, 7, 9); b[0] = 0x44; return b }(), v4, false},
		{"v6 ours", false, quoted(t, false, v6, 7, 9), v6, true},
		{"v6 other seq", false, quoted(t, false, v6, 7, 8), v6, false},
		{"v6 truncated", false, quoted(t, false, v6, 7, 9)[:45], v6, false},
		{"v4 packet read as v6", false, quoted(t, true, v4, 7, 9), v6, false},
		{"empty", true, nil, v4, false},
	}
	for _, tc := range tests {
		if got := quotesEcho(tc.v4, tc.b, tc.dst, 7, 9); got != tc.want {
			t.Errorf("%s: quotesEcho = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzQuotesEcho: whatever an ICMP error quotes, quotesEcho answers without panicking, and
// says yes only for an echo request to the destination with the sequence number.
func FuzzQuotesEcho(f *testing.F) {
	f.Add(true, []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 8, 0, 0, 0, 0, 7, 0, 9})
	f.Add(false, make([]byte, 48))
	f.Fuzz(func(t *testing.T, v4 bool, b []byte) {
		dst := netip.MustParseAddr("198.18.0.2")
		if !v4 {
			dst = netip.MustParseAddr("2001:db8:18::2")
		}
		if quotesEcho(v4, b, dst, 7, 9) && len(b) < 28 {
			t.Fatalf("quotesEcho accepted %d bytes", len(b))
		}
	})
}

func TestPingConfig(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"0.0.0.0", "224.0.0.1", "ff02::1"} {
		if _, err := NewPing(netip.MustParseAddr(a), PingConfig{}); err == nil {
			t.Errorf("target %s accepted", a)
		}
	}
	if _, err := NewPing(netip.MustParseAddr("198.18.0.2"), PingConfig{SourceAddr: netip.MustParseAddr("2001:db8::1")}); err == nil {
		t.Error("a source of the other family accepted")
	}
	if _, err := New("ping", netip.MustParseAddrPort("198.18.0.2:0"), PingConfig{}); err != nil {
		t.Errorf("a target without a port: %v", err)
	}
}
