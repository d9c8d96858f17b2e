package vrrplab

import (
	"fmt"
	"net/netip"
	"strings"
)

// KeepalivedAuth is keepalived's authentication block; the zero value leaves it out.
type KeepalivedAuth struct {
	Type     string // "PASS" or "AH"
	Password string
}

func (a KeepalivedAuth) lines() string {
	if a.Type == "" {
		return ""
	}
	return fmt.Sprintf("    authentication {\n        auth_type %s\n        auth_pass %s\n    }\n", a.Type, a.Password)
}

// KeepalivedUnicast is keepalived's unicast mode; the zero value is multicast.
type KeepalivedUnicast struct {
	Src   netip.Addr
	Peers []netip.Addr
}

func (u KeepalivedUnicast) lines() string {
	if len(u.Peers) == 0 {
		return ""
	}
	var b strings.Builder
	if u.Src.IsValid() {
		fmt.Fprintf(&b, "    unicast_src_ip %s\n", u.Src)
	}
	b.WriteString("    unicast_peer {\n")
	for _, p := range u.Peers {
		fmt.Fprintf(&b, "        %s\n", p)
	}
	b.WriteString("    }\n")
	return b.String()
}
