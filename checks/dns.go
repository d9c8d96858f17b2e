package checks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSConfig configures a dns check.
type DNSConfig struct {
	// QueryType is A, NS, CNAME, SOA, MX, TXT, AAAA, RRSIG or DNSKEY; default SOA.
	QueryType string
	// QueryName is the name asked for; default "." (the root zone).
	QueryName string
	// SourceAddr binds the probe's source address.
	SourceAddr netip.Addr
}

// dnsTypes are keepalived's DNS_CHECK types (check_dns.c) by their codes (RFC 1035,
// RFC 3596 for AAAA, RFC 4034 for RRSIG and DNSKEY).
var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "NS": dnsmessage.TypeNS, "CNAME": dnsmessage.TypeCNAME, "SOA": dnsmessage.TypeSOA,
	"MX": dnsmessage.TypeMX, "TXT": dnsmessage.TypeTXT, "AAAA": dnsmessage.TypeAAAA,
	"RRSIG": dnsmessage.Type(46), "DNSKEY": dnsmessage.Type(48),
}

type dnsChecker struct {
	addr  netip.AddrPort
	cfg   DNSConfig
	qtype dnsmessage.Type
	qname dnsmessage.Name
}

// NewDNS returns a check that sends one query to target over UDP and passes on a reply
// with the query's ID and RCODE 0 (NOERROR), as keepalived's DNS_CHECK: an empty answer is
// a pass (the server works), an NXDOMAIN, SERVFAIL or REFUSED a failure. Datagrams that
// are not the reply (another ID, not a response, too short) are ignored until the
// timeout; an ICMP port unreachable fails at once.
func NewDNS(target netip.AddrPort, cfg DNSConfig) (Checker, error) {
	if !target.IsValid() || target.Port() == 0 {
		return nil, fmt.Errorf("new dns check: invalid target %v", target)
	}
	if cfg.QueryType == "" {
		cfg.QueryType = "SOA"
	}
	if cfg.QueryName == "" {
		cfg.QueryName = "."
	}
	qt, ok := dnsTypes[strings.ToUpper(cfg.QueryType)]
	if !ok {
		return nil, fmt.Errorf("new dns check for %s: unknown query type %q", target, cfg.QueryType)
	}
	name := cfg.QueryName
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	qn, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, fmt.Errorf("new dns check for %s: query name %q: %w", target, cfg.QueryName, err)
	}
	return &dnsChecker{addr: target, cfg: cfg, qtype: qt, qname: qn}, nil
}

func (c *dnsChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := c.check(ctx, start)
	res.Latency = time.Since(start)
	res.Weight = NoWeight
	return res
}

// query builds the query with id: one question, recursion desired, as keepalived sends.
func (c *dnsChecker) query(id uint16) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 64), dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: c.qname, Type: c.qtype, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	return b.Finish()
}

func (c *dnsChecker) what() string {
	return fmt.Sprintf("dns %s %s", c.cfg.QueryType, c.qname)
}

func (c *dnsChecker) check(ctx context.Context, start time.Time) Result {
	id := uint16(rand.N(1 << 16))
	q, err := c.query(id)
	if err != nil {
		return Result{Reason: fmt.Sprintf("%s: build query: %v", c.what(), err)}
	}
	conn, err := dialUDP(ctx, c.addr, c.cfg.SourceAddr)
	if err != nil {
		return Result{Reason: udpIOReason(ctx, start, c.addr, "open udp socket to "+c.addr.String(), err)}
	}
	defer conn.Close()
	stop := deadlineConn(ctx, conn)
	defer stop()
	if _, err := conn.Write(q); err != nil {
		return Result{Reason: c.what() + ": " + udpIOReason(ctx, start, c.addr, "sending to "+c.addr.String(), err)}
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return Result{Reason: c.what() + ": " + udpIOReason(ctx, start, c.addr, "waiting for the reply of "+c.addr.String(), err)}
		}
		h, ok := replyHeader(buf[:n], id)
		if !ok {
			continue // not our reply: keep listening until the timeout, as keepalived
		}
		if h.RCode != dnsmessage.RCodeSuccess {
			return Result{Reason: fmt.Sprintf("%s: %s answered %s, want NOERROR", c.what(), c.addr, rcodeName(h.RCode))}
		}
		return Result{OK: true, Reason: fmt.Sprintf("%s: %s answered NOERROR", c.what(), c.addr)}
	}
}

// replyHeader returns the header of b when b is a DNS response with the given ID.
func replyHeader(b []byte, id uint16) (dnsmessage.Header, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil || h.ID != id || !h.Response {
		return dnsmessage.Header{}, false
	}
	return h, true
}

// rcodeName renders an RCODE as "NXDOMAIN (3)".
func rcodeName(rc dnsmessage.RCode) string {
	names := map[dnsmessage.RCode]string{
		dnsmessage.RCodeFormatError: "FORMERR", dnsmessage.RCodeServerFailure: "SERVFAIL",
		dnsmessage.RCodeNameError: "NXDOMAIN", dnsmessage.RCodeNotImplemented: "NOTIMP",
		dnsmessage.RCodeRefused: "REFUSED",
	}
	if n, ok := names[rc]; ok {
		return fmt.Sprintf("%s (%d)", n, rc)
	}
	return fmt.Sprintf("rcode %d", rc)
}
