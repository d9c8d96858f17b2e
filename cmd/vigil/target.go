package main

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/vigil-lb/vigil/conf"
)

// errAPIOff: the configuration disables the API (listen = "").
var errAPIOff = errors.New("the API is off, so there is no status to read (use kill -HUP or systemctl reload vigil to reload)")

// apiAddr is the address of the API that the configuration file at path makes `vigil
// run` serve: its global.listen, an unspecified address (0.0.0.0, ::) read as loopback.
// Only the global block is read, so the rest of the file need not validate here (an
// env() password the daemon's environment alone sets).
func apiAddr(path string) (string, error) {
	g, diags := conf.LoadGlobal(path, conf.Limits{})
	if diags.HasErrors() {
		return "", fmt.Errorf("read global.listen from %s: %s", path, conf.DiagnosticLines(diags, 1)[0])
	}
	l := g.Listen
	if !l.IsValid() {
		return "", fmt.Errorf("%s sets listen = \"\": %w", path, errAPIOff)
	}
	switch {
	case l.Addr() == netip.IPv4Unspecified():
		l = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), l.Port())
	case l.Addr() == netip.IPv6Unspecified():
		l = netip.AddrPortFrom(netip.IPv6Loopback(), l.Port())
	}
	return l.String(), nil
}

// sameFile reports whether a and b name the same file, as the daemon's config path (always
// absolute) and a -f argument (maybe relative, maybe through a symlink) do.
func sameFile(a, b string) bool {
	ea, errA := filepath.EvalSymlinks(a)
	eb, errB := filepath.EvalSymlinks(b)
	if errA != nil || errB != nil {
		aa, _ := filepath.Abs(a)
		ab, _ := filepath.Abs(b)
		return aa == ab
	}
	return ea == eb
}
