package checks

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeDNS answers each query on loopback with the datagrams answer returns for it.
func fakeDNS(t *testing.T, answer func(q dnsmessage.Message) [][]byte) netip.AddrPort {
	t.Helper()
	return udpServer(t, func(b []byte) [][]byte {
		var q dnsmessage.Message
		if q.Unpack(b) != nil {
			return nil
		}
		return answer(q)
	})
}

func dnsReply(t *testing.T, q dnsmessage.Message, h dnsmessage.Header) []byte {
	t.Helper()
	m := dnsmessage.Message{Header: h, Questions: q.Questions}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDNSCheckReplies: keepalived's DNS_CHECK rule, a reply with the query's ID and RCODE 0
// passes whatever it answers; other datagrams are ignored until the real reply or the
// timeout.
func TestDNSCheckReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer func(t *testing.T, q dnsmessage.Message) [][]byte
		ok     bool
		reason string
	}{
		{"noerror", func(t *testing.T, q dnsmessage.Message) [][]byte {
			return [][]byte{dnsReply(t, q, dnsmessage.Header{ID: q.ID, Response: true})}
		}, true, "answered NOERROR"},
		{"wrong ID first, then the reply", func(t *testing.T, q dnsmessage.Message) [][]byte {
			return [][]byte{
				dnsReply(t, q, dnsmessage.Header{ID: q.ID + 1, Response: true, RCode: dnsmessage.RCodeServerFailure}),
				dnsReply(t, q, dnsmessage.Header{ID: q.ID, RCode: dnsmessage.RCodeServerFailure}), // a query, not a response
				{0x12}, // too short for a header
				dnsReply(t, q, dnsmessage.Header{ID: q.ID, Response: true}),
			}
		}, true, "answered NOERROR"},
		{"servfail", func(t *testing.T, q dnsmessage.Message) [][]byte {
			return [][]byte{dnsReply(t, q, dnsmessage.Header{ID: q.ID, Response: true, RCode: dnsmessage.RCodeServerFailure})}
		}, false, "answered SERVFAIL (2), want NOERROR"},
		{"only strangers", func(t *testing.T, q dnsmessage.Message) [][]byte {
			return [][]byte{dnsReply(t, q, dnsmessage.Header{ID: q.ID ^ 0xffff, Response: true})}
		}, false, "timeout after 500ms waiting for the reply"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			queries := make(chan dnsmessage.Message, 1)
			target := fakeDNS(t, func(q dnsmessage.Message) [][]byte {
				select {
				case queries <- q:
				default:
				}
				return tc.answer(t, q)
			})
			c, err := New("dns", target, DNSConfig{QueryType: "MX", QueryName: "vigil.test"})
			if err != nil {
				t.Fatal(err)
			}
			timeout := 5 * time.Second // generous where the timeout is not the verdict
			if strings.Contains(tc.reason, "timeout after") {
				timeout = 500 * time.Millisecond
			}
			res := check(t, c, timeout)
			if res.OK != tc.ok || !strings.Contains(res.Reason, tc.reason) || !strings.Contains(res.Reason, "dns MX vigil.test.") {
				t.Errorf("got OK=%v %q, want OK=%v and %q", res.OK, res.Reason, tc.ok, tc.reason)
			}
			got := <-queries
			if q := got.Questions; len(q) != 1 || q[0].Type != dnsmessage.TypeMX || q[0].Name.String() != "vigil.test." || !got.RecursionDesired {
				t.Errorf("query = %+v, want one MX question for vigil.test. with RD set", got)
			}
		})
	}
}

func TestDNSCheckConfig(t *testing.T) {
	t.Parallel()
	target := netip.MustParseAddrPort("198.18.0.2:53")
	if _, err := New("dns", target, DNSConfig{QueryType: "PTR"}); err == nil {
		t.Error("PTR accepted; keepalived's DNS_CHECK has no PTR")
	}
	for _, typ := range []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY", "aaaa"} {
		if _, err := New("dns", target, DNSConfig{QueryType: typ}); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	c, err := NewDNS(target, DNSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.(*dnsChecker).query(0x1234)
	if err != nil {
		t.Fatal(err)
	}
	// keepalived's default query: the root zone's SOA, IN, RD set.
	want := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x06, 0x00, 0x01}
	if string(q) != string(want) {
		t.Errorf("default query\n got % x\nwant % x", q, want)
	}
}

// FuzzDNSReplyHeader: any datagram is either the reply to query id or ignored, never a panic.
func FuzzDNSReplyHeader(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}, uint16(0x1234))
	f.Add([]byte{0x12}, uint16(0x1234))
	f.Fuzz(func(t *testing.T, b []byte, id uint16) {
		if h, ok := replyHeader(b, id); ok && (h.ID != id || !h.Response || len(b) < 12) {
			t.Fatalf("replyHeader(% x, %#x) = %+v", b, id, h)
		}
	})
}
