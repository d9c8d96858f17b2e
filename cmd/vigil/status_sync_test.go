package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/status"
)

func TestRenderActiveIPVSSync(t *testing.T) {
	for _, tt := range []struct {
		name string
		sy   *status.IPVSSync
		want string
	}{
		{"running", &status.IPVSSync{Interface: "eth0", SyncID: 7, Daemon: "master+backup"}, "\nipvs sync master+backup on eth0 (id 7)\n"},
		{"failed", &status.IPVSSync{Interface: "eth9", SyncID: 7, Daemon: "none", Error: "no such device"}, "\nipvs sync none on eth9 (id 7): no such device\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			renderStatus(&b, status.Snapshot{IPVSSync: tt.sy})
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("want %q in:\n%s", tt.want, b.String())
			}
		})
	}
	var b bytes.Buffer
	renderStatus(&b, status.Snapshot{})
	if strings.Contains(b.String(), "ipvs sync") {
		t.Errorf("ipvs sync shown without an ipvs_sync block:\n%s", b.String())
	}
}
