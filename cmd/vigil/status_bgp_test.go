package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/status"
)

func TestRenderBGP(t *testing.T) {
	var b bytes.Buffer
	renderStatus(&b, status.Snapshot{BGP: &status.BGP{ASN: 65000, RouterID: "198.18.20.11",
		Neighbors: []status.BGPPeer{{Address: "198.18.20.1", ASN: 65001, State: "established", Established: 2, LastDown: "hold timer expired"}},
		Routes: []status.BGPRoute{
			{Prefix: "198.18.30.1/32", Announced: true, Reason: "up", VirtualServers: []string{"web", "tls"}},
			{Prefix: "198.18.30.2/32", Reason: "virtual server api drained", VirtualServers: []string{"api"}},
		}}})
	out := b.String()
	for _, want := range []string{"BGP AS 65000  router id 198.18.20.11", "ESTABLISHED", "up 2 times", "last down: hold timer expired",
		"198.18.30.1/32  ANNOUNCED", "(web, tls)", "198.18.30.2/32  withdrawn ", "virtual server api drained"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	b.Reset()
	renderStatus(&b, status.Snapshot{})
	if strings.Contains(b.String(), "BGP") {
		t.Errorf("BGP shown without a bgp block:\n%s", b.String())
	}
}
