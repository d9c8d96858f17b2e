package conf

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// activeSync is a top-level ipvs_sync block at lines 1..4.
const activeSync = "ipvs_sync {\n  interface = \"eth0\"\n  sync_id   = 7\n}\n"

const plainVS = "virtual_server \"web\" {\n  address = \"198.18.30.1:80\"\n  protocol = \"tcp\"\n}\n"

func TestActiveIPVSSync(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		top  *IPVSSync
		vi   *IPVSSync
	}{
		{"top level: both daemons", activeSync + plainVS, &IPVSSync{Interface: "eth0", SyncID: 7, Active: true}, nil},
		{"sync id 0 accepted", "ipvs_sync {\n  interface = \"bond0\"\n  sync_id = 0\n}\n" + plainVS, &IPVSSync{Interface: "bond0", SyncID: 0, Active: true}, nil},
		// The pair's block keeps its meaning and defaults.
		{"in an instance: follows VRRP", vi("  ipvs_sync {}"), nil, &IPVSSync{Interface: "eth0", SyncID: 51}},
		{"top level beside VRRP without sync", activeSync + vi(""), &IPVSSync{Interface: "eth0", SyncID: 7, Active: true}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.src, nil)
			if diff := cmp.Diff(tt.top, cfg.IPVSSync, cmpOpts); diff != "" {
				t.Errorf("top-level ipvs_sync (-want +got):\n%s", diff)
			}
			var got *IPVSSync
			if len(cfg.VRRPInstances) > 0 {
				got = cfg.VRRPInstances[0].IPVSSync
			}
			if diff := cmp.Diff(tt.vi, got, cmpOpts); diff != "" {
				t.Errorf("instance ipvs_sync (-want +got):\n%s", diff)
			}
		})
	}
}

func TestActiveIPVSSyncInvalid(t *testing.T) {
	tests := []struct {
		name, src, want, pos string
	}{
		{"no interface", "ipvs_sync {\n  sync_id = 7\n}\n" + plainVS, `"interface" is required`, "1:1"},
		{"no sync_id", "ipvs_sync {\n  interface = \"eth0\"\n}\n" + plainVS, `"sync_id" is required`, "1:1"},
		{"sync_id 256", "ipvs_sync {\n  interface = \"eth0\"\n  sync_id = 256\n}\n" + plainVS, "sync_id must be in 0..255", "3:13"},
		{"bad interface", "ipvs_sync {\n  interface = \"eth0:1\"\n  sync_id = 7\n}\n" + plainVS, "Invalid interface name", "2:15"},
		{"two top-level blocks", activeSync + activeSync + plainVS, "Duplicate ipvs_sync block", "5:1"},
		{"top level and an instance's", activeSync + vi("  ipvs_sync {}"), "Duplicate ipvs_sync", "9:3"},
		{"userspace data plane", "global {\n  dataplane = \"userspace\"\n}\n" + activeSync + plainVS, "ipvs_sync without kernel IPVS", "4:1"},
		{"unknown attribute", "ipvs_sync {\n  interface = \"eth0\"\n  syncid = 7\n}\n" + plainVS, `Did you mean "sync_id"?`, "3:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantDiagnostic(t, tt.src, tt.want, tt.pos) })
	}
}
