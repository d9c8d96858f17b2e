package conf

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLVSCheckKinds decodes the dns, udp, ping and smtp kinds with their defaults and
// every attribute, as keepalived's DNS_CHECK, UDP_CHECK, PING_CHECK and SMTP_CHECK.
func TestLVSCheckKinds(t *testing.T) {
	rs := netip.MustParseAddrPort("198.18.0.21:80")
	common := func(kind CheckKind) Check {
		return Check{Kind: kind, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, Target: rs}
	}
	with := func(c Check, f func(*Check)) *Check { f(&c); return &c }
	tests := []struct {
		kind, body string
		want       *Check
	}{
		{"dns", "", with(common(CheckDNS), func(c *Check) { c.DNS = &DNSCheck{QueryType: "SOA", QueryName: "."} })},
		{"dns", "query_type = \"aaaa\"\nquery_name = \"www.example.test.\"\nconnect_port = 53",
			with(common(CheckDNS), func(c *Check) {
				c.Target = netip.MustParseAddrPort("198.18.0.21:53")
				c.DNS = &DNSCheck{QueryType: "AAAA", QueryName: "www.example.test."}
			})},
		{"udp", "", with(common(CheckUDP), func(c *Check) { c.UDP = &UDPCheck{MaxReplyLength: MaxUDPPayload} })},
		{"udp", "payload = \"de ad:be ef\"\nrequire_reply = true\nmin_reply_length = 2\nmax_reply_length = 255",
			with(common(CheckUDP), func(c *Check) {
				c.UDP = &UDPCheck{Payload: HexBytes{0xde, 0xad, 0xbe, 0xef}, RequireReply: true, MinReplyLength: 2, MaxReplyLength: 255}
			})},
		{"udp", "expect = \"0aXx\"",
			with(common(CheckUDP), func(c *Check) {
				c.UDP = &UDPCheck{RequireReply: true, Expect: &BytePattern{Data: []byte{0x0a, 0}, Mask: []byte{0xff, 0}}, MaxReplyLength: MaxUDPPayload}
			})},
		{"ping", "connect_address = \"198.18.1.21\"\nsource_address = \"198.18.0.11\"",
			with(common(CheckPing), func(c *Check) {
				c.Target = netip.MustParseAddrPort("198.18.1.21:0")
				c.Source = netip.MustParseAddr("198.18.0.11")
				c.Ping = &PingCheck{}
			})},
		{"smtp", "", with(common(CheckSMTP), func(c *Check) { c.SMTP = &SMTPCheck{HELOName: "smtpchecker.keepalived.org"} })},
		{"smtp", "helo_name = \"lb1.example.test\"", with(common(CheckSMTP), func(c *Check) { c.SMTP = &SMTPCheck{HELOName: "lb1.example.test"} })},
	}
	for _, tc := range tests {
		t.Run(tc.kind+"/"+strings.ReplaceAll(tc.body, "\n", ";"), func(t *testing.T) {
			cfg := mustParse(t, chk(tc.kind, tc.body), nil)
			got := cfg.VirtualServers[0].RealServers[0].Checks[0]
			if diff := cmp.Diff(tc.want, got, cmpOpts); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestLVSCheckKindsInvalid: every mistake in the new kinds is a located error.
func TestLVSCheckKindsInvalid(t *testing.T) {
	tests := []struct {
		name, kind, body string
		want             string // substring of "Summary: Detail"
		pos              string // line:col
	}{
		{"dns unknown type", "dns", "query_type = \"PTR\"", `"PTR" is not a query type`, "7:14"},
		{"dns type hint", "dns", "query_type = \"AAA\"", `Did you mean "AAAA"?`, "7:14"},
		{"dns empty label", "dns", "query_name = \"a..b\"", "empty label", "7:14"},
		{"dns leading dot", "dns", "query_name = \".a\"", "empty label", "7:14"},
		{"dns long label", "dns", "query_name = \"" + strings.Repeat("a", 64) + ".test\"", "longer than 63", "7:14"},
		{"dns space", "dns", "query_name = \"a b\"", "space", "7:14"},
		{"dns empty", "dns", "query_name = \"\"", "must not be empty", "7:14"},
		{"dns attribute of http", "dns", "path = \"/\"", "belongs to http checks", "7:1"},
		{"udp odd hex", "udp", "payload = \"abc\"", "not a whole number of bytes", "7:11"},
		{"udp bad hex", "udp", "payload = \"zz\"", `'z' is not a hex digit`, "7:11"},
		{"udp wildcard in payload", "udp", "payload = \"0X\"", "not a hex digit", "7:11"},
		{"udp expect and no reply", "udp", "expect = \"01\"\nrequire_reply = false", "expect needs a reply", "8:17"},
		{"udp length without reply", "udp", "max_reply_length = 10", "needs require_reply", "7:1"},
		{"udp min above max", "udp", "require_reply = true\nmin_reply_length = 20\nmax_reply_length = 10", "every reply would fail", "8:20"},
		{"udp expect longer than max", "udp", "expect = \"0102\"\nmax_reply_length = 1", "every reply would fail", "7:10"},
		{"udp length range", "udp", "require_reply = true\nmax_reply_length = 70000", "Value out of range", "8:20"},
		{"udp huge payload", "udp", fmt.Sprintf("payload = \"%s\"", strings.Repeat("00", MaxUDPPayload+1)), "at most 65507", "7:11"},
		{"ping port", "ping", "connect_port = 7", "ICMP echo has no port", "7:1"},
		{"ping send", "ping", "send = \"x\"", "belongs to tcp checks", "7:1"},
		{"smtp space", "smtp", "helo_name = \"a b\"", "Invalid helo_name", "7:13"},
		{"smtp crlf", "smtp", "helo_name = \"a\\r\\nMAIL FROM:<x>\"", "Invalid helo_name", "7:13"},
		{"unknown kind hint", "dnss", "", `Did you mean "dns"?`, "6:11"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantError(t, chk(tc.kind, tc.body), tc.want, tc.pos) })
	}
}

func TestBytePattern(t *testing.T) {
	data, mask, err := parseHex("0aXx f0", true)
	if err != nil {
		t.Fatal(err)
	}
	p := &BytePattern{Data: data, Mask: mask}
	if p.String() != "0aXXf0" {
		t.Errorf("String() = %q", p.String())
	}
	for _, tc := range []struct {
		in   []byte
		want bool
	}{
		{[]byte{0x0a, 0x00, 0xf0}, true},
		{[]byte{0x0a, 0xff, 0xf0, 0x99}, true}, // the pattern is a prefix
		{[]byte{0x0b, 0x00, 0xf0}, false},
		{[]byte{0x0a, 0x00, 0xf1}, false},
		{[]byte{0x0a, 0x00}, false}, // shorter than the pattern
		{nil, false},
	} {
		if got := p.Match(tc.in); got != tc.want {
			t.Errorf("Match(% x) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzParseHex: a parsed pattern renders to text that parses to the same bytes and mask.
func FuzzParseHex(f *testing.F) {
	for _, s := range []string{"0a0b", "0aXx f0", "de:ad:be:ef", "0x01", "abc", "zz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data, mask, err := parseHex(s, true)
		if err != nil {
			return
		}
		p := &BytePattern{Data: data, Mask: mask}
		d2, m2, err := parseHex(p.String(), true)
		if err != nil || string(d2) != string(data) || string(m2) != string(mask) {
			t.Fatalf("%q -> %q -> %x/%x, %v", s, p.String(), d2, m2, err)
		}
		for i := range data {
			if data[i]&^mask[i] != 0 {
				t.Fatalf("%q: wildcard bits set in data", s)
			}
		}
	})
}

func TestUDPCheckWarning(t *testing.T) {
	for _, tc := range []struct {
		body string
		warn bool
	}{
		{"", true},
		{"interval = \"5s\"\ntimeout = \"3s\"", false},
		{"require_reply = true", false},
		{"expect = \"00\"", false},
	} {
		cfg := mustParse(t, chk("udp", tc.body), nil)
		var got bool
		for _, w := range cfg.Warnings() {
			if strings.Contains(w.Summary, "UDP check may miss a dead host") {
				got = true
				if w.Subject == nil || w.Subject.Start.Line != 6 {
					t.Errorf("%q: warning not located at the check block: %v", tc.body, w.Subject)
				}
			}
		}
		if got != tc.warn {
			t.Errorf("%q: warning = %v, want %v", tc.body, got, tc.warn)
		}
	}
}
