package conf

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// bgpBlock is the example: line 1 bgp {, 2 asn, 3 router_id, 4 neighbor {, 5 asn,
// 6 hold_time, 7.. body.
func bgpBlock(body string) string {
	return "bgp {\n  asn = 65000\n  router_id = \"198.18.20.11\"\n  neighbor \"198.18.20.1\" {\n    asn = 65001\n    hold_time = \"3s\"\n" + body + "\n  }\n}\n"
}

// announcedVS is an announced address service starting at the line after the bgp block.
const announcedVS = "virtual_server \"web\" {\n  address = \"198.18.30.1:80\"\n  protocol = \"tcp\"\n  announce = true\n}\n"

func TestBGP(t *testing.T) {
	src := bgpBlock("    password = env(\"BGP_PASSWORD\")\n    bfd = true") + announcedVS +
		"virtual_server \"tls\" {\n  address = \"198.18.30.1:443\"\n  protocol = \"tcp\"\n  announce = true\n}\n" +
		"virtual_server \"quiet\" {\n  address = \"198.18.30.2:80\"\n  protocol = \"tcp\"\n}\n"
	cfg := mustParse(t, src, map[string]string{"BGP_PASSWORD": "s3cret-md5"})
	want := &BGP{
		ASN:           65000,
		RouterID:      netip.MustParseAddr("198.18.20.11"),
		WithdrawDelay: DefaultWithdrawDelay,
		Neighbors: []*BGPNeighbor{{
			Address: netip.MustParseAddr("198.18.20.1"), ASN: 65001, HoldTime: 3 * time.Second,
			Password: "s3cret-md5", BFD: true, BFDInterval: DefaultBFDInterval, BFDMultiplier: DefaultBFDMultiplier,
		}},
	}
	if diff := cmp.Diff(want, cfg.BGP, cmpOpts); diff != "" {
		t.Errorf("bgp (-want +got):\n%s", diff)
	}
	for i, wantP := range [][]netip.Prefix{{netip.MustParsePrefix("198.18.30.1/32")}, {netip.MustParsePrefix("198.18.30.1/32")}, nil} {
		if got := cfg.VirtualServers[i].AnnouncedPrefixes(); !cmp.Equal(got, wantP, cmpOpts) {
			t.Errorf("%s: AnnouncedPrefixes() = %v, want %v", cfg.VirtualServers[i].Name, got, wantP)
		}
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "s3cret-md5") || strings.Contains(fmt.Sprintf("%+v", *cfg.BGP.Neighbors[0]), "s3cret-md5") {
		t.Errorf("the TCP MD5 password leaks: %s", js)
	}
}

func TestBGPDefaults(t *testing.T) {
	cfg := mustParse(t, "bgp {\n  asn = 4200000000\n  neighbor \"2001:db8::1\" {\n    asn = 65001\n  }\n}\n"+
		"virtual_server \"v6\" {\n  address = \"[2001:db8::30]:80\"\n  protocol = \"tcp\"\n  announce = true\n}\n", nil)
	b := cfg.BGP
	if b.RouterID.IsValid() || b.ListenPort != 0 || b.WithdrawDelay != 2*time.Second {
		t.Errorf("router_id %v listen_port %d withdraw_delay %v, want unset, 0 (no listener), 2s", b.RouterID, b.ListenPort, b.WithdrawDelay)
	}
	n := b.Neighbors[0]
	if n.HoldTime != 90*time.Second || n.BFD || n.Password != "" || n.Port != 0 {
		t.Errorf("neighbor defaults: %+v", *n)
	}
	if got := cfg.VirtualServers[0].AnnouncedPrefixes(); len(got) != 1 || got[0] != netip.MustParsePrefix("2001:db8::30/128") {
		t.Errorf("AnnouncedPrefixes() = %v, want [2001:db8::30/128]", got)
	}
}

func TestBGPInvalid(t *testing.T) {
	tests := []struct {
		name, src, want, pos string
	}{
		{"announce without bgp", announcedVS, "No bgp block", "4:3"},
		{"announce not a bool", strings.Replace(announcedVS, "true", "\"yes\"", 1), "Incorrect attribute value type", "4:14"},
		{"announce on fwmark", bgpBlock("") + "virtual_server \"m\" {\n  fwmark = 6\n  announce = true\n}\n", "Nothing to announce", "12:3"},
		{"no asn", "bgp {\n  neighbor \"198.18.20.1\" {\n    asn = 65001\n  }\n}\n" + announcedVS, `"asn" is required`, "1:1"},
		{"asn zero", strings.Replace(bgpBlock(""), "asn = 65000", "asn = 0", 1) + announcedVS, "must be in 1..4294967295", "2:9"},
		{"router_id IPv6", strings.Replace(bgpBlock(""), `"198.18.20.11"`, `"2001:db8::1"`, 1) + announcedVS, "Invalid router_id", "3:15"},
		{"no neighbor", "bgp {\n  asn = 65000\n}\n" + announcedVS, "Missing neighbor", "1:1"},
		{"bad neighbor address", strings.Replace(bgpBlock(""), `neighbor "198.18.20.1"`, `neighbor "router1"`, 1) + announcedVS, "Invalid neighbor address", "4:12"},
		{"duplicate neighbor", strings.Replace(bgpBlock(""), "\n}\n", "\n  neighbor \"198.18.20.1\" {\n    asn = 65002\n  }\n}\n", 1) + announcedVS, "Duplicate neighbor", "9:3"},
		{"neighbor without asn", strings.Replace(bgpBlock(""), "    asn = 65001\n", "", 1) + announcedVS, `"asn" is required`, "4:3"},
		{"hold time too short", strings.Replace(bgpBlock(""), `"3s"`, `"1s"`, 1) + announcedVS, "Value out of range", "6:17"},
		{"hold time not whole seconds", strings.Replace(bgpBlock(""), `"3s"`, `"3500ms"`, 1) + announcedVS, "whole seconds", "6:17"},
		{"empty password", bgpBlock("    password = \"\""), "Empty password", "7:5"},
		{"password too long", bgpBlock("    password = \"" + strings.Repeat("x", 81) + "\""), "Password too long", "7:5"},
		{"password not a string", bgpBlock("    password = 42"), "string required", "7:5"},
		{"bfd_interval without bfd", bgpBlock("    bfd_interval = \"100ms\""), "BFD not enabled", "7:5"},
		{"bfd_interval too short", bgpBlock("    bfd = true\n    bfd_interval = \"1ms\""), "Value out of range", "8:20"},
		{"withdraw_delay negative", strings.Replace(bgpBlock(""), "asn = 65000", "asn = 65000\n  withdraw_delay = \"-1s\"", 1) + announcedVS, "Value out of range", "3:20"},
		{"two bgp blocks", bgpBlock("") + bgpBlock("") + announcedVS, "Duplicate bgp block", "10:1"},
		{"unknown neighbor argument", bgpBlock("    holdtime = \"3s\"") + announcedVS, "Unsupported argument", "7:5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantDiagnostic(t, tt.src, tt.want, tt.pos) })
	}
}

// TestBGPPasswordNotInDiagnostics: a rejected password is never quoted back.
func TestBGPPasswordNotInDiagnostics(t *testing.T) {
	long := strings.Repeat("k", 81)
	src := bgpBlock("    password = \"" + long + "\"")
	_, diags := parse([]byte(src), "test.hcl", testOptions(nil))
	var b strings.Builder
	WriteDiagnostics(&b, diags, map[string][]byte{"test.hcl": []byte(src)})
	if !strings.Contains(b.String(), "Password too long") || strings.Contains(b.String(), long) {
		t.Errorf("diagnostics:\n%s", b.String())
	}
}

// TestBGPFamilyWarning: an announced IPv6 address with IPv4 neighbors only (or the reverse)
// is announced to no one, and `vigil check` says so; with a neighbor of its family it is not.
func TestBGPFamilyWarning(t *testing.T) {
	v6vs := "virtual_server \"web6\" {\n  address = \"[2001:db8::30]:80\"\n  protocol = \"tcp\"\n  announce = true\n}\n"
	for name, tc := range map[string]struct {
		src  string
		want int
	}{
		"IPv4 VIP, IPv4 neighbor": {bgpBlock("") + announcedVS, 0},
		"IPv6 VIP, IPv4 neighbor": {bgpBlock("") + v6vs, 1},
		"IPv6 VIP, IPv6 neighbor": {strings.Replace(bgpBlock(""), `"198.18.20.1"`, `"2001:db8::1"`, 1) + v6vs, 0},
		"IPv4 VIP, IPv6 neighbor": {strings.Replace(bgpBlock(""), `"198.18.20.1"`, `"2001:db8::1"`, 1) + announcedVS, 1},
	} {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, d := range mustParse(t, tc.src, nil).Warnings() {
				if d.Summary == "Announced to no neighbor" {
					got = append(got, d.Detail)
				}
			}
			if len(got) != tc.want {
				t.Errorf("warnings %q, want %d", got, tc.want)
			}
		})
	}
}
