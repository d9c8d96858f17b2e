package conf

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Defaults of dns checks: keepalived's DNS_CHECK asks for the root zone's SOA.
const (
	DefaultDNSQueryType = "SOA"
	DefaultDNSQueryName = "."
)

// DNSQueryTypes are the query types a dns check may ask for: keepalived's DNS_CHECK list
// (check_dns.c), so that every keepalived configuration has a home here.
var DNSQueryTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"}

// DNSCheck sends one query over UDP and passes on a reply with the query's ID and RCODE 0
// (NOERROR), whatever its answer section holds, as keepalived's DNS_CHECK.
type DNSCheck struct {
	// QueryType is one of DNSQueryTypes, upper case.
	QueryType string `json:"query_type"`
	// QueryName is the name asked for, "." for the root; a trailing dot is implied.
	QueryName string `json:"query_name"`
}

func (d *decoder) decodeDNS(at hcl.Attributes) *DNSCheck {
	c := &DNSCheck{QueryType: DefaultDNSQueryType, QueryName: DefaultDNSQueryName}
	if a := at["query_type"]; a != nil {
		if s, ok := d.str(a); ok {
			u := strings.ToUpper(strings.TrimSpace(s))
			if !slices.Contains(DNSQueryTypes, u) {
				d.errorf(a.Expr.Range(), "Invalid value for query_type", "%q is not a query type a dns check asks for; use one of %s.%s",
					s, strings.Join(DNSQueryTypes, ", "), didYouMean(u, DNSQueryTypes))
			} else {
				c.QueryType = u
			}
		}
	}
	if a := at["query_name"]; a != nil {
		if s, ok := d.nonEmpty(a); ok {
			if why := dnsNameProblem(s); why != "" {
				d.errorf(a.Expr.Range(), "Invalid query_name", "%q is not a domain name: %s.", s, why)
			} else {
				c.QueryName = s
			}
		}
	}
	return c
}

// dnsNameProblem says what is wrong with a query name, or "" when it can be sent: labels
// of 1..63 bytes without spaces or control characters, at most 253 bytes in all (RFC 1035
// §2.3.4). keepalived refuses empty labels too ("a..b", ".a").
func dnsNameProblem(s string) string {
	if s == "." {
		return ""
	}
	name := strings.TrimSuffix(s, ".")
	if len(name) > 253 {
		return "longer than 253 bytes"
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return "it has an empty label"
		case len(label) > 63:
			return "a label is longer than 63 bytes"
		case strings.IndexFunc(label, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
			return "it holds a space or a control character"
		}
	}
	return ""
}
