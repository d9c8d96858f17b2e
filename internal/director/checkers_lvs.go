package director

import (
	"fmt"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/conf"
)

// newLVSChecker builds the dns, udp, ping and smtp checks: keepalived's DNS_CHECK,
// UDP_CHECK, PING_CHECK and SMTP_CHECK, aimed at the check's target.
func newLVSChecker(c *conf.Check) (checks.Checker, error) {
	switch c.Kind {
	case conf.CheckDNS:
		return checks.NewDNS(c.Target, checks.DNSConfig{QueryType: c.DNS.QueryType, QueryName: c.DNS.QueryName, SourceAddr: c.Source})
	case conf.CheckUDP:
		u := c.UDP
		cfg := checks.UDPConfig{
			Payload:      u.Payload,
			RequireReply: u.RequireReply,
			MinReply:     u.MinReplyLength,
			MaxReply:     u.MaxReplyLength,
			SourceAddr:   c.Source,
		}
		if u.Expect != nil {
			cfg.Expect, cfg.ExpectMask = u.Expect.Data, u.Expect.Mask
		}
		return checks.NewUDP(c.Target, cfg)
	case conf.CheckPing:
		return checks.NewPing(c.Target.Addr(), checks.PingConfig{SourceAddr: c.Source})
	case conf.CheckSMTP:
		return checks.NewSMTP(c.Target, checks.SMTPConfig{HELOName: c.SMTP.HELOName, SourceAddr: c.Source})
	}
	return nil, fmt.Errorf("check %q of %s: unknown kind", c.Kind, c.Target)
}
