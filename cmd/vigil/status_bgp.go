package main

import (
	"bytes"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/vigil-lb/vigil/internal/status"
)

// renderBGP writes the BGP sessions and the announced virtual IPs.
func renderBGP(b *bytes.Buffer, g *status.BGP) {
	if g == nil {
		return
	}
	b.WriteString("\n")
	fmt.Fprintf(b, "BGP AS %d  router id %s\n", g.ASN, orDash(g.RouterID))
	if g.Error != "" {
		fmt.Fprintf(b, "BGP speaker NOT RUNNING: %s\n", g.Error)
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, n := range g.Neighbors {
		fmt.Fprintf(tw, "neighbor\t%s\tAS %d\t%s\tsince %s\tup %d times", n.Address, n.ASN, strings.ToUpper(n.State), fmtTime(n.Since), n.Established)
		if n.BFD {
			fmt.Fprint(tw, "\tbfd")
		}
		if n.LastDown != "" {
			fmt.Fprintf(tw, "\tlast down: %s", n.LastDown)
		}
		fmt.Fprintln(tw)
	}
	for _, r := range g.Routes {
		state := "withdrawn"
		if r.Announced {
			state = "ANNOUNCED"
		}
		fmt.Fprintf(tw, "route\t%s\t%s\tsince %s\t%s\t(%s)\n", r.Prefix, state, fmtTime(r.Since), r.Reason, strings.Join(r.VirtualServers, ", "))
	}
	tw.Flush()
}
