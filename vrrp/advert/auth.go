package advert

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// AuthType is the v2 Auth Type field. RFC 3768 keeps only 0; RFC 2338 §5.3.6 defined 1
// and 2, and keepalived still sends them (auth_type PASS, AH).
type AuthType uint8

const (
	AuthNone AuthType = 0
	// AuthPass carries a clear-text password in the advert's authentication data
	// (RFC 2338 §5.3.6.2).
	AuthPass AuthType = 1
	// AuthAH wraps the advert in an IPsec Authentication Header with HMAC-MD5-96
	// (RFC 2338 §5.3.6.3, RFC 2402, RFC 2403); the authentication data stays zero.
	AuthAH AuthType = 2
)

func (t AuthType) String() string {
	switch t {
	case AuthNone:
		return "none"
	case AuthPass:
		return "pass"
	case AuthAH:
		return "ah"
	}
	return fmt.Sprintf("auth type %d", uint8(t))
}

// MaxPassword is the length of the authentication data (RFC 2338 §5.3.10): keepalived
// keeps only the first 8 characters of auth_pass.
const MaxPassword = 8

// Key is the 8 bytes of authentication data: the password, NUL-padded, as keepalived
// stores auth_pass. PASS sends it as is; AH uses it as the HMAC-MD5 key. It is a
// secret: formatting, text, JSON and slog render it as "<redacted>".
type Key [MaxPassword]byte

// NewKey makes the key of a password of 1..8 bytes without NUL.
func NewKey(password string) (Key, error) {
	var k Key
	switch {
	case password == "":
		return k, errors.New("empty password")
	case len(password) > MaxPassword:
		return k, fmt.Errorf("password of %d bytes: at most %d", len(password), MaxPassword)
	case strings.IndexByte(password, 0) >= 0:
		return k, errors.New("password contains a NUL byte")
	}
	copy(k[:], password)
	return k, nil
}

// Equal compares in constant time, as keepalived does, so that the time a peer takes to
// refuse a password says nothing about it.
func (k Key) Equal(o Key) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// Reveal returns the password, for the one place that must use it.
func (k Key) Reveal() string { return strings.TrimRight(string(k[:]), "\x00") }

func (k Key) mask() string {
	if k == (Key{}) {
		return ""
	}
	return "<redacted>"
}

// String implements fmt.Stringer (it also serves %x and %q).
func (k Key) String() string { return k.mask() }

// GoString implements fmt.GoStringer, so %#v does not print it either.
func (k Key) GoString() string { return `"` + k.mask() + `"` }

// Format makes every verb print the mask, %d and %v of the bytes included.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.mask()) }

// MarshalText implements encoding.TextMarshaler (and so JSON).
func (k Key) MarshalText() ([]byte, error) { return []byte(k.mask()), nil }

// LogValue implements slog.LogValuer.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.mask()) }
