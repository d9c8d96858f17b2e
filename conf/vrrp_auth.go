package conf

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// AuthType is the kind of VRRPv2 authentication, keepalived's auth_type.
type AuthType string

// Authentication types.
const (
	// AuthPass sends the password in every advert (keepalived's PASS).
	AuthPass AuthType = "pass"
	// AuthAH wraps every advert in an IPsec AH header with HMAC-MD5-96 (keepalived's AH).
	AuthAH AuthType = "ah"
)

// MaxAuthPassword is the length of VRRPv2's authentication data (RFC 2338 §5.3.10).
const MaxAuthPassword = 8

// Authentication is a vrrp_instance's authentication block (VRRPv2 only).
type Authentication struct {
	Type AuthType `json:"type"`
	// Password is 1..8 bytes without NUL.
	Password Secret `json:"password"`

	DeclRange hcl.Range `json:"-"`
}

var authSchema = &hcl.BodySchema{Attributes: attrSchema("type", "password")}

// decodeAuthentication reads the instance's authentication block, if any; vi.Version is
// already decoded.
func (d *decoder) decodeAuthentication(blocks hcl.Blocks, vi *VRRPInstance) *Authentication {
	b := d.atMostOne(blocks, "authentication")
	if b == nil {
		return nil
	}
	content, diags := b.Body.Content(authSchema)
	d.diags = append(d.diags, diags...)
	au := &Authentication{DeclRange: b.DefRange}
	if vi.Version == 3 {
		d.errorf(b.DefRange, "Authentication with VRRP version 3",
			"RFC 5798 §9 removed authentication from VRRP version 3, and keepalived ignores it there. To authenticate as keepalived's PASS or AH, set version = 2 (keepalived's default vrrp_version); otherwise remove the block.")
	}
	if a := d.required(content.Attributes, "type", b, ` ("pass" or "ah")`); a != nil {
		if t, ok := enum(d, a, []AuthType{AuthPass, AuthAH}); ok {
			au.Type = t
		}
	}
	if a := d.required(content.Attributes, "password", b, ""); a != nil {
		if pw, ok := d.secret(a); ok {
			switch {
			case pw == "":
				d.secretErrorf(a, "Empty password", "The password must have 1 to %d characters.", MaxAuthPassword)
			case len(pw) > MaxAuthPassword:
				d.secretErrorf(a, "Password too long",
					"The password has %d bytes; VRRPv2 carries %d. keepalived silently uses only the first %d characters of a longer auth_pass: write those to interoperate with it.", len(pw), MaxAuthPassword, MaxAuthPassword)
			case strings.IndexByte(pw, 0) >= 0:
				d.secretErrorf(a, "Invalid password", "The password contains a NUL character, which VRRPv2 uses as padding.")
			default:
				au.Password = Secret(pw)
			}
		}
	}
	return au
}

// secret evaluates a string attribute whose value must never be echoed (it may come
// from env()): only a string is accepted, so that no conversion message shows it.
func (d *decoder) secret(a *hcl.Attribute) (string, bool) {
	v, diags := a.Expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return "", false
	}
	if v.IsNull() || !v.IsWhollyKnown() || v.Type() != cty.String {
		d.secretErrorf(a, "Incorrect attribute value type", "Inappropriate value for attribute %q: string required.", a.Name)
		return "", false
	}
	return v.AsString(), true
}

// secretErrorf reports a problem with a secret attribute at its name, and marks the
// diagnostic so that WriteDiagnostics masks the value on the quoted source line.
func (d *decoder) secretErrorf(a *hcl.Attribute, summary, format string, args ...any) {
	d.errorf(a.NameRange, summary, format, args...)
	d.diags[len(d.diags)-1].Extra = secretLine{}
}

// secretLine marks a diagnostic whose source line holds a secret.
type secretLine struct{}
