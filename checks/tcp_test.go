package checks

import (
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/loopback"
)

// banner listens on loopback and greets each connection with greeting, echoing what it
// reads after that into got.
func banner(t *testing.T, greeting string) (netip.AddrPort, chan string) {
	t.Helper()
	got := make(chan string, 16)
	srv := loopback.Listen(t, func(c net.Conn) {
		c.Write([]byte(greeting))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 64)
		n, _ := io.ReadAtLeast(c, b, 1)
		select {
		case got <- string(b[:n]):
		default:
		}
	})
	return srv.Addr, got
}

func TestTCPCheck(t *testing.T) {
	t.Parallel()
	target, _ := banner(t, "220 mail.test ESMTP\r\n")

	for _, tc := range []struct {
		name       string
		cfg        TCPConfig
		wantOK     bool
		wantReason string
	}{
		{"connect", TCPConfig{}, true, "connected to " + target.String()},
		{"banner match", TCPConfig{Expect: regexp.MustCompile(`^220 `)}, true, `answered "220 mail.test ESMTP\r\n"`},
		{"banner mismatch", TCPConfig{Expect: regexp.MustCompile(`^\+OK`)}, false, `answered "220 mail.test ESMTP\r\n", want /^\+OK/`},
		{"send only", TCPConfig{Send: []byte("PING\r\n")}, true, "sent 6 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New("tcp", target, &tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			res := check(t, c, 5*time.Second)
			if res.OK != tc.wantOK || !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("got OK=%v %q, want OK=%v containing %q", res.OK, res.Reason, tc.wantOK, tc.wantReason)
			}
		})
	}
}

func TestTCPCheckSendExpect(t *testing.T) {
	t.Parallel()
	srv := loopback.Listen(t, func(c net.Conn) {
		b := make([]byte, 16)
		n, _ := c.Read(b)
		if string(b[:n]) == "PING\r\n" {
			// Answer in two pieces: the check must keep reading until it matches.
			c.Write([]byte("+PO"))
			time.Sleep(20 * time.Millisecond)
			c.Write([]byte("NG\r\n"))
		}
	})
	c, err := NewTCP(srv.Addr, TCPConfig{Send: []byte("PING\r\n"), Expect: regexp.MustCompile(`^\+PONG\r\n`)})
	if err != nil {
		t.Fatal(err)
	}
	if res := check(t, c, 5*time.Second); !res.OK {
		t.Errorf("PING/PONG: %q", res.Reason)
	}
}

func TestTCPCheckClosedPortFailsFast(t *testing.T) {
	t.Parallel()
	target := loopback.ClosedAddr(t, "127.0.0.1")
	c, err := NewTCP(target, TCPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := check(t, c, 10*time.Second)
	if want := "connect " + target.String() + ": connection refused"; res.OK || res.Reason != want {
		t.Errorf("got OK=%v %q, want %q", res.OK, res.Reason, want)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a refused connect took %v; it must not wait for the 10 s timeout", took)
	}
}

func TestTCPCheckSilentServerTimesOut(t *testing.T) {
	t.Parallel()
	target, _ := banner(t, "") // says nothing
	c, err := NewTCP(target, TCPConfig{Expect: regexp.MustCompile(`^220`)})
	if err != nil {
		t.Fatal(err)
	}
	res := check(t, c, 200*time.Millisecond)
	if res.OK || !strings.Contains(res.Reason, "timeout after 200ms waiting for") {
		t.Errorf("got OK=%v %q, want a timeout", res.OK, res.Reason)
	}
}
