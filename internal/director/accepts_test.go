package director

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/ipvs"
)

// TestTableViewAccepts: a virtual server's failed accepts add up its services' (a
// group's), paused when any one is; a table without listeners (kernel IPVS) has none,
// and a group shows each service's own.
func TestTableViewAccepts(t *testing.T) {
	key := func(a string) ipvs.ServiceKey { return ipvs.AddrKey(ipvs.TCP, netip.MustParseAddrPort(a)) }
	svc := func(a string, acc *ipvs.AcceptStats) tableService {
		return tableService{key: key(a), present: true, info: ipvs.ServiceInfo{Accepts: acc}}
	}
	tests := []struct {
		name         string
		view         tableView
		want         status.Accepts
		wantServices []status.Accepts
	}{
		{"kernel", tableView{svc("198.18.0.10:80", nil)}, status.Accepts{}, []status.Accepts{{}}},
		{"userspace, no failure", tableView{svc("198.18.0.10:80", &ipvs.AcceptStats{})},
			status.Accepts{AcceptErrors: new(uint64(0))}, []status.Accepts{{AcceptErrors: new(uint64(0))}}},
		{"group", tableView{
			svc("198.18.0.10:80", &ipvs.AcceptStats{Errors: 4}),
			svc("198.18.0.11:80", &ipvs.AcceptStats{Errors: 3, Paused: true}),
			{key: key("198.18.0.12:80")}, // not in the table
		}, status.Accepts{AcceptErrors: new(uint64(7)), AcceptsPaused: true}, []status.Accepts{
			{AcceptErrors: new(uint64(4))}, {AcceptErrors: new(uint64(3)), AcceptsPaused: true}, {},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.view.accepts()); diff != "" {
				t.Errorf("accepts (-want +got):\n%s", diff)
			}
			var got []status.Accepts
			for _, s := range tt.view.services(&conf.VirtualServer{Protocol: "tcp"}, false) {
				got = append(got, s.Accepts)
			}
			if diff := cmp.Diff(tt.wantServices, got); diff != "" {
				t.Errorf("services' accepts (-want +got):\n%s", diff)
			}
		})
	}
}
