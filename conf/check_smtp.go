package conf

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// DefaultHELOName is keepalived's SMTP_CHECK helo_name (include/check_smtp.h), kept so that
// mail-server rules written for keepalived's probes keep matching vigil's.
const DefaultHELOName = "smtpchecker.keepalived.org"

// SMTPCheck holds a short SMTP conversation: the server's 220 greeting, HELO answered by
// 250, then QUIT, as keepalived's SMTP_CHECK.
type SMTPCheck struct {
	HELOName string `json:"helo_name"`
}

func (d *decoder) decodeSMTP(at hcl.Attributes) *SMTPCheck {
	c := &SMTPCheck{HELOName: DefaultHELOName}
	if a := at["helo_name"]; a != nil {
		if s, ok := d.nonEmpty(a); ok {
			switch {
			case len(s) > 255:
				d.errorf(a.Expr.Range(), "Invalid helo_name", "helo_name must be at most 255 bytes.")
			case strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
				d.errorf(a.Expr.Range(), "Invalid helo_name", "helo_name is one word (a domain name or an address literal such as \"[198.18.0.11]\"), without spaces or control characters: %q.", s)
			default:
				c.HELOName = s
			}
		}
	}
	return c
}
