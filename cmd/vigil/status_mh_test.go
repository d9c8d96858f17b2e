package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/status"
)

// vigil status shows an mh virtual server's Maglev fingerprint on its line.
func TestRenderStatusMHFingerprint(t *testing.T) {
	var out bytes.Buffer
	renderStatus(&out, status.Snapshot{VirtualServers: []status.VirtualServer{{
		Name: "web", Key: "TCP 198.18.0.10:80", Protocol: "tcp", Address: "198.18.0.10:80",
		Scheduler: "mh", MHFingerprint: "5b847c55446ddbb0", Present: true, QuorumUp: true,
	}}})
	for line := range strings.Lines(out.String()) {
		if strings.Contains(line, "web") {
			if !strings.Contains(line, "mh 5b847c55446ddbb0") {
				t.Errorf("virtual server line %q has no mh fingerprint", line)
			}
			return
		}
	}
	t.Errorf("no line for the virtual server:\n%s", out.String())
}
