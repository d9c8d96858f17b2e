package checks

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// udpServer answers each datagram on loopback with the datagrams reply returns.
func udpServer(t *testing.T, reply func([]byte) [][]byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go servePackets(pc, reply)
	return addrOf(t, pc.LocalAddr())
}

// servePackets answers each datagram pc receives with the datagrams reply returns, until
// pc is closed.
func servePackets(pc net.PacketConn, reply func([]byte) [][]byte) {
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		for _, out := range reply(bytes.Clone(buf[:n])) {
			pc.WriteTo(out, from)
		}
	}
}

func echo(b []byte) [][]byte { return [][]byte{b} }

// closedUDPPort is a loopback UDP port nothing listens on: the kernel answers a datagram
// with an ICMP port unreachable.
func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := addrOf(t, pc.LocalAddr())
	pc.Close()
	return ap
}

// TestUDPCheck: keepalived's UDP_CHECK semantics on loopback. A reply passes (after its
// length and pattern), silence passes unless a reply is required, and an ICMP port
// unreachable fails at once.
func TestUDPCheck(t *testing.T) {
	t.Parallel()
	silent := func([]byte) [][]byte { return nil }
	tests := []struct {
		name   string
		target func(t *testing.T) netip.AddrPort
		cfg    UDPConfig
		ok     bool
		reason string
	}{
		{"echo", func(t *testing.T) netip.AddrPort { return udpServer(t, echo) },
			UDPConfig{Payload: []byte("ping")}, true, "replied 4 bytes"},
		{"echo matches a pattern with wildcards", func(t *testing.T) netip.AddrPort { return udpServer(t, echo) },
			UDPConfig{Payload: []byte{0x0a, 0x42, 0x01}, Expect: []byte{0x0a, 0x02}, ExpectMask: []byte{0xff, 0x0f}}, true, "replied 3 bytes"},
		{"reply differs", func(t *testing.T) netip.AddrPort { return udpServer(t, echo) },
			UDPConfig{Payload: []byte("ping"), Expect: []byte("pong")}, false, "replied 70 69 6e 67, want 70 6f 6e 67"},
		{"reply shorter than the pattern", func(t *testing.T) netip.AddrPort { return udpServer(t, echo) },
			UDPConfig{Payload: []byte("pi"), Expect: []byte("ping")}, false, "want 70 69 6e 67"},
		{"reply too short", func(t *testing.T) netip.AddrPort { return udpServer(t, echo) },
			UDPConfig{Payload: []byte("ping"), RequireReply: true, MinReply: 5}, false, "replied 4 bytes, want at least 5"},
		{"reply too long", func(t *testing.T) netip.AddrPort { return udpServer(t, echo) },
			UDPConfig{Payload: []byte("ping"), RequireReply: true, MaxReply: 3}, false, "replied more than 3 bytes"},
		{"empty payload, empty reply", func(t *testing.T) netip.AddrPort { return udpServer(t, echo) },
			UDPConfig{RequireReply: true}, true, "replied 0 bytes"},
		{"silent, no reply required", func(t *testing.T) netip.AddrPort { return udpServer(t, silent) },
			UDPConfig{Payload: []byte("x")}, true, "no ICMP error from udp 127.0.0.1:"},
		{"silent, reply required", func(t *testing.T) netip.AddrPort { return udpServer(t, silent) },
			UDPConfig{Payload: []byte("x"), RequireReply: true}, false, "timeout after 500ms waiting for a reply"},
		{"closed port", closedUDPPort, UDPConfig{Payload: []byte("x")}, false, ": nothing listens on udp port"},
		{"closed port, reply required", closedUDPPort, UDPConfig{RequireReply: true}, false, "ICMP port unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New("udp", tc.target(t), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			// An ICMP error must end the probe at once: give those a long timeout, so that
			// reaching it shows, even on a loaded machine.
			icmpError := !tc.ok && strings.Contains(tc.reason, "ICMP")
			timeout := 5 * time.Second // generous where the timeout is not the verdict
			switch {
			case icmpError:
				timeout = 10 * time.Second
			case !tc.cfg.RequireReply && len(tc.cfg.Expect) == 0 && strings.Contains(tc.reason, "no ICMP error"),
				strings.Contains(tc.reason, "timeout after"):
				timeout = 500 * time.Millisecond
			}
			start := time.Now()
			res := check(t, c, timeout)
			if res.OK != tc.ok || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("got OK=%v %q, want OK=%v and %q", res.OK, res.Reason, tc.ok, tc.reason)
			}
			if took := time.Since(start); icmpError && took > timeout/2 {
				t.Errorf("took %s: an ICMP error must end the probe at once, not at the timeout", took)
			}
		})
	}
}

func TestUDPCheckConfig(t *testing.T) {
	t.Parallel()
	if _, err := NewUDP(netip.MustParseAddrPort("198.18.0.2:0"), UDPConfig{}); err == nil {
		t.Error("port 0 accepted")
	}
	if _, err := NewUDP(netip.MustParseAddrPort("198.18.0.2:7"), UDPConfig{Expect: []byte{1, 2}, ExpectMask: []byte{1}}); err == nil {
		t.Error("a mask of another length accepted")
	}
}
