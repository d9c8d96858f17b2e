package director

import (
	"fmt"

	"github.com/vigil-lb/vigil/conf"
)

// vsNames are the scheduler's names of one virtual server's real servers and checks. They
// follow from the virtual server's decode alone, so they are kept for as long as that decode
// is: the Loader hands a reload the same *conf.VirtualServer while its file is unchanged,
// and a reload of 4,000 real servers then formats none of them again (the formatting was a
// third of a conf.d reload's apply, issue 18).
type vsNames struct {
	// servers are the rsKey strings, by real server.
	servers []string
	// checks are the check IDs, and labels their metric labels, by real server and check.
	checks, labels [][]string
}

// namesOf returns the names of every virtual server of cfg: those of cur (the running
// view's) where the virtual server is the same decode, the others formatted.
func namesOf(cur map[*conf.VirtualServer]*vsNames, cfg *conf.Config) map[*conf.VirtualServer]*vsNames {
	out := make(map[*conf.VirtualServer]*vsNames, len(cfg.VirtualServers))
	for _, vs := range cfg.VirtualServers {
		if n, ok := cur[vs]; ok {
			out[vs] = n
			continue
		}
		out[vs] = formatNames(vs)
	}
	return out
}

func formatNames(vs *conf.VirtualServer) *vsNames {
	key := vsKeyOf(vs)
	n := &vsNames{servers: make([]string, len(vs.RealServers)), checks: make([][]string, len(vs.RealServers)), labels: make([][]string, len(vs.RealServers))}
	for ri, rs := range vs.RealServers {
		server := rsKey{key, rs.Address}.String()
		n.servers[ri] = server
		seen := map[conf.CheckKind]int{}
		for i, c := range rs.Checks {
			seen[c.Kind]++
			n.checks[ri] = append(n.checks[ri], checkID(server, i, c.Kind))
			// The metric label, as metrics.CheckLabels names it: the kind, and "kind#N"
			// for the N-th check of one kind on a real server.
			label := string(c.Kind)
			if k := seen[c.Kind]; k > 1 {
				label = fmt.Sprintf("%s#%d", c.Kind, k)
			}
			n.labels[ri] = append(n.labels[ri], label)
		}
	}
	return n
}
