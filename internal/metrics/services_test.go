package metrics

import (
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/status"
)

// TestGroupSeries: a group's virtual server exports each of its IPVS services, and an info
// series for each service's destinations under node_exporter's labels, while the
// real-server series (the vigil_ipvs_backend_* included) stay one per real server, and
// so do the virtual server's failed accepts: its services' added up.
func TestGroupSeries(t *testing.T) {
	dest := func(rs, addr string, w int, conns uint64) status.Destination {
		return status.Destination{RealServer: rs, Address: addr, InTable: true, AppliedWeight: &w, Stats: status.Stats{Conns: conns}}
	}
	snap := status.Snapshot{VirtualServers: []status.VirtualServer{{
		Name: "web", Key: `group "vips" TCP`, Protocol: "tcp", Group: "vips", Present: true, QuorumUp: true,
		Stats:   status.Stats{Conns: 12},
		Accepts: status.Accepts{AcceptErrors: new(uint64(3)), AcceptsPaused: true},
		Services: []status.Service{
			{Key: "TCP 198.18.0.10:80", Protocol: "tcp", Address: "198.18.0.10:80", Present: true, Stats: status.Stats{Conns: 5},
				Destinations: []status.Destination{dest("rs1", "198.18.0.21:80", 1, 3), dest("rs2", "198.18.0.22:80", 0, 2)}},
			{Key: "FWM 7", FWMark: 7, Present: true, Stats: status.Stats{Conns: 7},
				Destinations: []status.Destination{dest("rs1", "198.18.0.21:0", 1, 7), {RealServer: "rs2", Address: "198.18.0.22:0"}}},
		},
		RealServers: []status.RealServer{
			{Name: "rs1", Address: "198.18.0.21", Health: "up", ConfiguredWeight: 1, AppliedWeight: new(1), InTable: true, ActiveConns: 9},
			{Name: "rs2", Address: "198.18.0.22", Health: "down", ConfiguredWeight: 1},
		},
	}}}
	mfs := parse(t, scrape(t, New(&fakeSource{s: snap}, BuildInfo{}).Handler()))
	for name, want := range map[string][]string{
		"vigil_ipvs_service_connections_total": {
			`{local_address="198.18.0.10",local_port="80",proto="TCP",virtual_server="web"} 5`,
			`{local_mark="00000007",local_port="0",proto="FWM",virtual_server="web"} 7`,
		},
		"vigil_userspace_accept_errors_total": {`{virtual_server="web"} 3`},
		"vigil_userspace_accepts_paused":      {`{virtual_server="web"} 1`},
		// One per destination of each service, the key to node_ipvs_backend_*.
		"vigil_real_server_info": {
			`{local_address="198.18.0.10",local_port="80",proto="TCP",real_server="rs1",remote_address="198.18.0.21",remote_port="80",virtual_server="web"} 1`,
			`{local_address="198.18.0.10",local_port="80",proto="TCP",real_server="rs2",remote_address="198.18.0.22",remote_port="80",virtual_server="web"} 1`,
			`{local_mark="00000007",local_port="0",proto="FWM",real_server="rs1",remote_address="198.18.0.21",remote_port="0",virtual_server="web"} 1`,
			`{local_mark="00000007",local_port="0",proto="FWM",real_server="rs2",remote_address="198.18.0.22",remote_port="0",virtual_server="web"} 1`,
		},
		// One per real server: the group's services added up, at the lowest weight, and
		// only when every service holds it (rs2 is missing from FWM 7).
		"vigil_ipvs_backend_connections_active": {
			`{real_server="rs1",virtual_server="web"} 9`,
		},
		"vigil_ipvs_backend_weight": {
			`{real_server="rs1",virtual_server="web"} 1`,
		},
	} {
		if got := series(mfs[name]); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %s\nwant %s", name, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
		}
	}
}
