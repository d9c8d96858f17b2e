package conf

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseGroupAddress(t *testing.T) {
	tests := []struct {
		in          string
		first, last string
		port        uint16
		err         string
	}{
		{"198.18.0.10:80", "198.18.0.10", "198.18.0.10", 80, ""},
		{" 198.18.0.10-20:80 ", "198.18.0.10", "198.18.0.20", 80, ""},
		{"198.18.0.10-10:80", "198.18.0.10", "198.18.0.10", 80, ""},
		{"198.18.0.250-198.18.1.5:443", "198.18.0.250", "198.18.1.5", 443, ""},
		{"198.18.0.0/30:80", "198.18.0.0", "198.18.0.3", 80, ""},
		{"198.18.0.7/32:80", "198.18.0.7", "198.18.0.7", 80, ""},
		{"[2001:db8::10-1f]:53", "2001:db8::10", "2001:db8::1f", 53, ""},
		{"[2001:db8::a-2001:db8::1:2]:53", "2001:db8::a", "2001:db8::1:2", 53, ""},
		{"[2001:db8::/126]:80", "2001:db8::", "2001:db8::3", 80, ""},
		{"[2001:db8::1]:80", "2001:db8::1", "2001:db8::1", 80, ""},
		// Without a port: every port (a persistent virtual server only, checked there).
		{"198.18.0.10", "198.18.0.10", "198.18.0.10", 0, ""},
		{"198.18.0.10-12", "198.18.0.10", "198.18.0.12", 0, ""},
		{"[2001:db8::1]", "2001:db8::1", "2001:db8::1", 0, ""},
		{"2001:db8::1", "", "", 0, `"[address]:port"`},
		{"198.18.0.10:", "", "", 0, "not in 1..65535"},
		{"198.18.0.10:0", "", "", 0, "not in 1..65535"},
		{"198.18.0.10:99999", "", "", 0, "not in 1..65535"},
		{"198.18.0.20-10:80", "", "", 0, "ends (198.18.0.10) before it starts (198.18.0.20)"},
		{"198.18.0.10-256:80", "", "", 0, "not a last octet"},
		{"198.18.0.10-2001:db8::1:80", "", "", 0, "port"},
		{"[198.18.0.10-2001:db8::1]:80", "", "", 0, "different families"},
		{"[2001:db8::10-fffff]:80", "", "", 0, "last 16 bits in hex"},
		{"198.18.0.1/30:80", "", "", 0, "host bits set; the prefix is 198.18.0.0/30"},
		{"198.18.0.0/16:80", "", "", 0, "more than 4096 addresses"},
		{"[2001:db8::/64]:80", "", "", 0, "more than 4096 addresses"},
		{"198.18.0.0/33:80", "", "", 0, "not an address prefix"},
		{"web:80", "", "", 0, "not an IP address"},
		{"224.0.0.1:80", "", "", 0, "multicast"},
		{"0.0.0.0-5:80", "", "", 0, "unspecified"},
		{"[fe80::1%eth0]:80", "", "", 0, "zone"},
	}
	for _, tc := range tests {
		first, last, port, err := parseGroupAddress(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || first.String() != tc.first || last.String() != tc.last || port != tc.port {
			t.Errorf("%q = %s..%s port %d, %v; want %s..%s port %d", tc.in, first, last, port, err, tc.first, tc.last, tc.port)
		}
	}
}

// FuzzParseGroupAddress: an accepted entry is a non-empty ascending range of one family
// with a port, and small enough to expand.
func FuzzParseGroupAddress(f *testing.F) {
	for _, s := range []string{"198.18.0.10-20:80", "[2001:db8::10-1f]:53", "198.18.0.0/28:80", "198.18.0.1-198.18.0.9:1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, port, err := parseGroupAddress(s)
		if err != nil {
			return
		}
		if port == 0 || last.Less(first) || first.Is4() != last.Is4() || !first.IsValid() {
			t.Fatalf("%q = %s..%s port %d", s, first, last, port)
		}
	})
}

func mustAddrPorts(ss ...string) []Service {
	var out []Service
	for _, s := range ss {
		out = append(out, Service{Address: netip.MustParseAddrPort(s)})
	}
	return out
}

// TestVirtualServerGroup: a group's addresses, ranges, prefixes and fwmarks become the
// services of the virtual server that names it; real servers take the group's port when
// all its members share one, and follow each service's port otherwise.
func TestVirtualServerGroup(t *testing.T) {
	cfg := mustParse(t, `
virtual_server_group "vips" {
  addresses = ["198.18.0.10:80", "198.18.0.11-12:80", "198.18.1.0/31:80"]
}
virtual_server_group "mixed" {
  addresses = ["198.18.0.20:80", "198.18.0.20:443"]
  fwmarks   = [6]
}
virtual_server_group "marks" {
  fwmarks = [7, 8]
  family  = "inet6"
}
virtual_server "web" {
  group    = "vips"
  protocol = "tcp"
  forwarding = "dr"
  real_server "rs1" {
    address = "198.18.0.21"
    check "tcp" {}
  }
}
virtual_server "web-udp" {
  group    = "vips"
  protocol = "udp"
  real_server "rs1" {
    address = "198.18.0.21:8080"
  }
}
virtual_server "mixed" {
  group      = "mixed"
  protocol   = "tcp"
  forwarding = "dr"
  real_server "rs1" {
    address = "198.18.0.21"
    check "http" {
      connect_port = 80
    }
  }
}
virtual_server "marks" {
  group = "marks"
  real_server "rs1" {
    address = "[2001:db8::21]"
  }
}
`, nil)
	want := map[string][]Service{
		"web":     mustAddrPorts("198.18.0.10:80", "198.18.0.11:80", "198.18.0.12:80", "198.18.1.0:80", "198.18.1.1:80"),
		"web-udp": mustAddrPorts("198.18.0.10:80", "198.18.0.11:80", "198.18.0.12:80", "198.18.1.0:80", "198.18.1.1:80"),
		"mixed":   append(mustAddrPorts("198.18.0.20:80", "198.18.0.20:443"), Service{FWMark: 6}),
		"marks":   {{FWMark: 7}, {FWMark: 8}},
	}
	for name, services := range want {
		vs := cfg.VirtualServer(name)
		if diff := cmp.Diff(services, vs.Services(), cmpOpts); diff != "" {
			t.Errorf("%s services (-want +got):\n%s", name, diff)
		}
	}
	for name, want := range map[string]string{"web": "198.18.0.21:80", "web-udp": "198.18.0.21:8080", "mixed": "198.18.0.21:0", "marks": "[2001:db8::21]:0"} {
		if got := cfg.VirtualServer(name).RealServers[0].Address.String(); got != want {
			t.Errorf("%s: real server address %s, want %s", name, got, want)
		}
	}
	if f := cfg.VirtualServer("marks").Family; f != Inet6 {
		t.Errorf("fwmark group family %s, want inet6", f)
	}
	if got := cfg.VirtualServer("web").RealServers[0].Checks[0].Target.String(); got != "198.18.0.21:80" {
		t.Errorf("check target %s", got)
	}
	if g := cfg.VirtualServerGroups[0]; g.Name != "vips" || len(g.Entries) != 3 || g.Entries[1] != "198.18.0.11-12:80" {
		t.Errorf("group %+v", g)
	}
	if _, err := cfg.JSON(); err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Warnings() {
		if strings.Contains(w.Summary, "Unused") {
			t.Errorf("unexpected warning %s: %s", w.Summary, w.Detail)
		}
	}
}

func TestVirtualServerGroupInvalid(t *testing.T) {
	group := func(body string) string { return "virtual_server_group \"g\" {\n" + body + "\n}\n" }
	user := func(body string) string {
		return "virtual_server \"web\" {\n  group = \"g\"\n  protocol = \"tcp\"\n" + body + "\n}\n"
	}
	tests := []struct {
		name, src, want, pos string
	}{
		{"empty group", group(""), "Empty virtual_server_group", "1:1"},
		{"empty lists", group("addresses = []\nfwmarks = []"), "must list at least one", "2:13"},
		{"bad address", group("addresses = [\"web:80\"]") + user(""), `"web:80": "web" is not an IP address`, "2:13"},
		{"members without a port, not persistent", group("addresses = [\"198.18.0.10\"]") + user(""), `members without a port, which balance every port`, "5:11"},
		{"duplicate member", group("addresses = [\"198.18.0.10-12:80\", \"198.18.0.12:80\"]") + user(""), `198.18.0.12:80 is in the group twice ("198.18.0.10-12:80" and "198.18.0.12:80")`, "2:13"},
		{"duplicate fwmark", group("fwmarks = [6, 6]") + user(""), "fwmark 6 is in the group twice", "2:11"},
		{"fwmark range", group("fwmarks = [0]") + user(""), "1..4294967295", "2:11"},
		{"mixed families", group("addresses = [\"198.18.0.10:80\", \"[2001:db8::1]:80\"]") + user(""), "a group is of one family", "2:13"},
		{"family against addresses", group("addresses = [\"198.18.0.10:80\"]\nfwmarks = [1]\nfamily = \"inet6\"") + user(""), "differs from the group's addresses", "4:10"},
		{"family without fwmarks", group("addresses = [\"198.18.0.10:80\"]\nfamily = \"inet\"") + user(""), "family is only for a group's fwmarks", "3:1"},
		{"too large", group(`addresses = ["198.18.0.0/20:80", "198.18.16.0/20:80"]`) + user(""), "expands to more than 4096 services", "2:13"},
		{"unknown group", group("fwmarks = [1]") + "virtual_server \"web\" {\n  group = \"h\"\n}\n", `No virtual_server_group is named "h". Did you mean "g"?`, "5:11"},
		{"group and address", group("fwmarks = [1]") + user("  address = \"198.18.0.10:80\""), "remove address", "7:3"},
		{"group and family", group("fwmarks = [1]") + user("  family = \"inet\""), "remove family", "7:3"},
		{"protocol for addresses", group("addresses = [\"198.18.0.10:80\"]") + "virtual_server \"web\" {\n  group = \"g\"\n}\n", `"protocol" is required`, "4:1"},
		{"same service twice", group("addresses = [\"198.18.0.10:80\"]") + user("") + "virtual_server \"web2\" {\n  address = \"198.18.0.10:80\"\n  protocol = \"tcp\"\n}\n",
			`"web2" is the same IPVS service (tcp 198.18.0.10:80) as "web"`, "9:1"},
		{"group used twice with one protocol", group("addresses = [\"198.18.0.10:80\"]") + user("") + strings.Replace(user(""), "web", "web2", 1),
			`(tcp 198.18.0.10:80, of group "g") as "web"`, "9:1"},
		{"DR port on a group of several ports", group("addresses = [\"198.18.0.10:80\", \"198.18.0.10:443\"]") + user("  forwarding = \"dr\"\n  real_server \"rs1\" {\n    address = \"198.18.0.21:80\"\n  }"),
			"services of group \"g\" are on several ports", "9:15"},
		{"DR port against the group's", group("addresses = [\"198.18.0.10:80\"]") + user("  forwarding = \"dr\"\n  real_server \"rs1\" {\n    address = \"198.18.0.21:81\"\n  }"),
			"must equal the virtual server's (80)", "9:15"},
		{"check without a port on a group of several ports", group("addresses = [\"198.18.0.10:80\", \"198.18.0.10:443\"]") + user("  real_server \"rs1\" {\n    address = \"198.18.0.21\"\n    check \"tcp\" {}\n  }"),
			"needs connect_port", "9:5"},
		{"real server family", group("addresses = [\"198.18.0.10:80\"]") + user("  real_server \"rs1\" {\n    address = \"[2001:db8::1]:80\"\n  }"),
			"Address family mismatch", "8:15"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.src, tc.want, tc.pos) })
	}
}

func TestUnusedGroupWarning(t *testing.T) {
	// Beside a virtual server that does not use it: a file of a group alone runs nothing.
	cfg := mustParse(t, "virtual_server_group \"g\" {\n  fwmarks = [1]\n}\nvirtual_server \"web\" {\n  fwmark = 2\n  real_server \"a\" {\n    address = \"198.18.0.21\"\n  }\n}\n", nil)
	w := cfg.Warnings()
	if len(w) != 1 || w[0].Summary != "Unused virtual_server_group" || w[0].Subject.Start.Line != 1 {
		t.Errorf("warnings %v, want one for the unused group at line 1", w)
	}
}

// TestVirtualServerGroupManyServers: with enough virtual servers that they decode on
// several goroutines, each still finds the groups it names.
func TestVirtualServerGroupManyServers(t *testing.T) {
	var b strings.Builder
	n := 4 * minParallelBlocks
	for i := range n {
		fmt.Fprintf(&b, "virtual_server_group \"g%d\" {\n  addresses = [\"198.18.%d.%d:80\"]\n}\n", i, i/250, i%250+1)
	}
	for i := range n {
		fmt.Fprintf(&b, "virtual_server \"vs%d\" {\n  group = \"g%d\"\n  protocol = \"tcp\"\n  forwarding = \"dr\"\n  real_server \"rs1\" {\n    address = \"198.19.0.1\"\n  }\n}\n", i, i)
	}
	cfg := mustParse(t, b.String(), nil)
	if got := len(cfg.VirtualServers); got != n {
		t.Fatalf("%d virtual servers, want %d", got, n)
	}
	for i, vs := range cfg.VirtualServers {
		if want := fmt.Sprintf("g%d", i); vs.Group != want {
			t.Fatalf("%s: group %q, want %s", vs.Name, vs.Group, want)
		}
	}
}
