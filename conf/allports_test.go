package conf

import (
	"net/netip"
	"testing"
)

// A virtual server without a port balances every port of its address, as ipvsadm's
// "-A -t VIP:0 -p" and keepalived's persistent "virtual_server VIP" without a port:
// IPVS takes it only persistent, and its real servers keep the client's port.
func TestAllPortsService(t *testing.T) {
	cfg := mustParse(t, `virtual_server "all" {
  address  = "198.18.0.254"
  protocol = "tcp"
  forwarding = "dr"
  persistence {}
  real_server "rs1" {
    address = "198.18.0.21"
    check "tcp" {
      connect_port = 80
    }
  }
}
virtual_server_group "g" {
  addresses = ["198.18.0.250-251", "198.18.0.252:443"]
}
virtual_server "grp" {
  group    = "g"
  protocol = "tcp"
  persistence { timeout = "60s" }
  real_server "rs1" {
    address = "198.18.0.22"
    check "tcp" {
      connect_port = 443
    }
  }
}
`, nil)
	vs := cfg.VirtualServers[0]
	if !vs.AllPorts() || vs.Address != netip.MustParseAddrPort("198.18.0.254:0") {
		t.Errorf("address %s, AllPorts %v; want port 0", vs.Address, vs.AllPorts())
	}
	if rs := vs.RealServers[0]; rs.Address.Port() != 0 || rs.Checks[0].Target.Port() != 80 {
		t.Errorf("real server %s, check target %s; want port 0 and the check on connect_port", rs.Address, rs.Checks[0].Target)
	}
	g := cfg.VirtualServers[1]
	if len(g.GroupMembers) != 3 || g.GroupMembers[0].Address.Port() != 0 || g.GroupMembers[2].Address.Port() != 443 {
		t.Errorf("group members %v", g.GroupMembers)
	}
	if rs := g.RealServers[0]; rs.Address.Port() != 0 {
		t.Errorf("a group with an all-ports member: real server %s, want port 0 (the client's, in each service)", rs.Address)
	}
}

func TestAllPortsServiceInvalid(t *testing.T) {
	vs := func(body string) string {
		return "virtual_server \"all\" {\n  address = \"198.18.0.254\"\n  protocol = \"tcp\"\n" + body + "\n}\n"
	}
	for _, tc := range []struct{ name, src, want, pos string }{
		{"not persistent", vs(""), "IPVS allows only for a persistent service: add a persistence block", "2:13"},
		{"a DR port", vs("  persistence {}\n  forwarding = \"dr\"\n  real_server \"rs1\" {\n    address = \"198.18.0.21:80\"\n  }"),
			"a real server of a service on every port takes the port the client used", "7:15"},
		{"a check without a port", vs("  persistence {}\n  real_server \"rs1\" {\n    address = \"198.18.0.21\"\n    check \"http\" {}\n  }"),
			"a service on every port", "7:5"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.src, tc.want, tc.pos) })
	}
}
