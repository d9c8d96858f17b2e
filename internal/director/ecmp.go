package director

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
)

// movedConnectionsWarning is the advice for a director that announces virtual IPs over
// BGP with kernel IPVS, "" when it needs none. The routers' ECMP moves established
// connections to this director when another one dies or withdraws (hash-threshold ECMP,
// RFC 2992, also moves some between the survivors). IPVS creates a TCP connection entry
// only from a SYN (tcp_conn_schedule), so a moved connection's next packet reaches the
// director's own stack, which holds the VIP on lo and resets it, whatever the scheduler.
// Two things keep such connections (docs/benchmarks.md, issue 19): connection sync
// (ipvs_sync: every director already has the entry), or scheduler mh with
// net.ipv4.vs.sloppy_tcp = 1 (IPVS schedules the mid-stream packet, and every director's
// Maglev table picks the same real server). sloppyTCP reads the sysctl; it is called only
// when an announced mh service depends on it.
func movedConnectionsWarning(cfg *conf.Config, sloppyTCP func() (bool, error)) string {
	if cfg.BGP == nil || syncConfig(cfg).configure {
		return ""
	}
	announced := map[netip.Prefix]bool{}
	for _, vs := range cfg.VirtualServers {
		for _, p := range vs.AnnouncedPrefixes() {
			announced[p] = true
		}
	}
	// Every TCP virtual server on an announced address: the router moves all its traffic.
	var notMH, mh []string
	for _, vs := range cfg.VirtualServers {
		if vs.Protocol != conf.TCP || !onAnnounced(vs, announced) {
			continue
		}
		if vs.Scheduler == conf.MaglevHashing {
			mh = append(mh, vs.Name)
		} else {
			notMH = append(notMH, vs.Name)
		}
	}
	why := ""
	if len(mh) > 0 {
		switch on, err := sloppyTCP(); {
		case err != nil:
			why = fmt.Sprintf("%s could not be read: %v", ipvs.SysctlSloppyTCP, err)
		case on:
			mh = nil
		default:
			why = ipvs.SysctlSloppyTCP + " is 0"
		}
	}
	names := append(notMH, mh...)
	if len(names) == 0 {
		return ""
	}
	return movedText(names, why)
}

func onAnnounced(vs *conf.VirtualServer, announced map[netip.Prefix]bool) bool {
	for _, p := range hostPrefixes(vs) {
		if announced[p] {
			return true
		}
	}
	return false
}

// movedText is the warning for the virtual servers names; why, if set, says what the
// kernel's sysctl showed.
func movedText(names []string, why string) string {
	s := fmt.Sprintf("virtual server(s) %s announced over BGP with kernel IPVS and no ipvs_sync: established connections that the routers' ECMP moves to this director (when another director dies or withdraws) are reset here. Keep them with either a top-level ipvs_sync block on every director, or scheduler = \"mh\" and sysctl %s=1 on every director (no router feature and no sync needed)",
		strings.Join(names, ", "), ipvs.SysctlSloppyTCP)
	if why != "" {
		s += "; " + why
	}
	return s
}
