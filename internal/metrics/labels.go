package metrics

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/status"
)

// CheckLabels names the checks of one real server for the check label: the kind ("http"),
// and "kind#N" for the N-th (N >= 2) check of a kind already seen, so two http checks on
// one real server do not collide. The director passes the same name to ObserveCheck.
func CheckLabels(checks []status.Check) []string {
	seen := make(map[string]int, len(checks))
	out := make([]string, len(checks))
	for i, ck := range checks {
		seen[ck.Kind]++
		if n := seen[ck.Kind]; n > 1 {
			out[i] = fmt.Sprintf("%s#%d", ck.Kind, n)
		} else {
			out[i] = ck.Kind
		}
	}
	return out
}

// serviceLabelValues renders proto, local_address, local_port, local_mark the way
// node_exporter does: proto TCP/UDP/FWM; for a fwmark service an empty address, port "0"
// and the mark as /proc/net/ip_vs prints it and node_exporter passes it on (%08X: mark
// 6666 is "00001A0A"); otherwise an empty mark.
func serviceLabelValues(fwmark uint32, protocol, address string) []string {
	if fwmark != 0 {
		return []string{"FWM", "", "0", fmt.Sprintf("%08X", fwmark)}
	}
	addr, port := splitAddrPort(address)
	return []string{strings.ToUpper(protocol), addr, port, ""}
}

// splitAddrPort turns "198.18.0.21:80" or "[2001:db8::1]:80" into address and port; node_exporter
// prints IPv6 addresses without brackets. A string that is not ip:port passes through as the address.
func splitAddrPort(s string) (addr, port string) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().String(), strconv.Itoa(int(ap.Port()))
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), "0"
	}
	return s, "0"
}

func orReady(admin string) string {
	if admin == "" {
		return "ready"
	}
	return admin
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t interface{ UnixNano() int64 }) float64 {
	return float64(t.UnixNano()) / 1e9
}
