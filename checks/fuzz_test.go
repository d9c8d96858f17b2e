package checks

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseStatusLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		code int
		ok   bool
	}{
		{"HTTP/1.1 200 OK\r", 200, true},
		{"HTTP/1.0 503 Service Unavailable", 503, true},
		{"HTTP/1.1 204", 204, true},
		{"HTTP/1.1 20 OK", 0, false},
		{"HTTP/1.1 +20 OK", 0, false},
		{"HTTP/1.1 099 x", 0, false},
		{"SSH-2.0-OpenSSH_9.2", 0, false},
		{"", 0, false},
	} {
		code, ok := parseStatusLine([]byte(tc.in))
		if code != tc.code || ok != tc.ok {
			t.Errorf("parseStatusLine(%q) = %d, %v, want %d, %v", tc.in, code, ok, tc.code, tc.ok)
		}
	}
}

// FuzzParseStatusLine: any bytes from a server give a code in 100-999 or a refusal.
func FuzzParseStatusLine(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r", "HTTP/1.0 301 Moved", "HTTP/1.1 999 x", "garbage", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, ok := parseStatusLine(b)
		if ok != (code != 0) || ok && (code < 100 || code > 999) {
			t.Fatalf("parseStatusLine(%q) = %d, %v", b, code, ok)
		}
	})
}

// FuzzParseStatusSet: a parsed set renders to a string that parses to the same set.
func FuzzParseStatusSet(f *testing.F) {
	for _, s := range []string{"200", "200-299", "200,204,301-302", "599", "abc", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseStatusSet(s)
		if err != nil {
			return
		}
		again, err := ParseStatusSet(set.String())
		if err != nil || again.String() != set.String() {
			t.Fatalf("%q -> %q -> %q, %v", s, set.String(), again.String(), err)
		}
		for _, r := range set {
			if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi || strings.Contains(set.String(), " ") {
				t.Fatalf("%q -> bad range %v", s, r)
			}
		}
	})
}

// FuzzStatusVerdict: any bytes from a server get a verdict once the connection ends or
// the head is full, never a panic; and the event loop's shortcut for a 200 (pass200)
// agrees with the full judgement.
func FuzzStatusVerdict(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\n", "HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n", "HTTP/1.1 301 Moved\r\n", "HTTP/1.0 200\n", "SSH-2.0-OpenSSH_9.2\r\n", "HTTP/1.1 2", ""} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	addr := netip.MustParseAddrPort("198.18.0.21:80")
	fp := &fastProbe{addr: addr, status: DefaultStatus, passReason: "http 200 from " + addr.String()}
	f.Fuzz(func(t *testing.T, b []byte, eof bool) {
		res, done := statusVerdict(addr, fp.status, b, eof)
		if !done && (eof || len(b) >= maxStatusHead) {
			t.Fatalf("statusVerdict(%q, eof %v) wants more", b, eof)
		}
		if done && res.Reason == "" {
			t.Fatalf("statusVerdict(%q, eof %v): no reason", b, eof)
		}
		if pass200(fp, b) && (!done || !res.OK || res.Reason != fp.passReason) {
			t.Fatalf("pass200(%q) but statusVerdict = %+v, done %v", b, res, done)
		}
	})
}
