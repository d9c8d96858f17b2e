package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// dataplaneConfig is one virtual server; fwmark or forwarding make it kernel-only.
func dataplaneConfig(t *testing.T, dataplane, vsBody string) *conf.Config {
	t.Helper()
	src := fmt.Sprintf(`
global {
  dataplane = %q
}
virtual_server "web" {
  protocol = "tcp"
  %s
  real_server "rs1" {
    address = "198.18.0.21"
  }
  real_server "rs2" {
    address = "198.18.0.22"
  }
}
`, dataplane, vsBody)
	cfg, diags := conf.Parse([]byte(src), "vigil.hcl")
	if diags.HasErrors() {
		t.Fatalf("config: %v", diags)
	}
	return cfg
}

var errNoIPVS = fmt.Errorf("%w (test): load the ip_vs module", ipvs.ErrUnavailable)

func TestOpenTable(t *testing.T) {
	noKernel := func(*slog.Logger) (ipvs.Table, error) { return nil, errNoIPVS }
	kernel := func(*slog.Logger) (ipvs.Table, error) { return ipvstest.New(), nil }
	broken := func(*slog.Logger) (ipvs.Table, error) { return nil, errors.New("netlink: permission denied") }
	const (
		nat    = `address = "198.18.0.254:80"` + "\n  forwarding = \"nat\""
		dr     = `address = "198.18.0.254:80"` + "\n  forwarding = \"dr\""
		tun    = `address = "198.18.0.254:80"` + "\n  forwarding = \"tun\""
		fwmark = `fwmark = 6666` + "\n  forwarding = \"dr\""
		all    = `address = "198.18.0.254"` + "\n  forwarding = \"nat\"\n  persistence {}"
	)
	for _, tc := range []struct {
		name      string
		dataplane string
		vs        string
		open      func(*slog.Logger) (ipvs.Table, error)
		want      string   // the data plane opened, "" for an error
		errHas    []string // substrings of the error
		errHasNot []string
	}{
		{"auto with kernel IPVS, DR", "auto", dr, kernel, "kernel", nil, nil},
		{"auto without kernel IPVS, NAT falls back", "auto", nat, noKernel, "userspace", nil, nil},
		{"auto without kernel IPVS, DR is an error", "auto", dr, noKernel, "",
			[]string{`virtual_server "web" (forwarding = "dr": rs1, rs2)`, "modprobe ip_vs", `set dataplane = "userspace"`, "NAT semantics", "(test)"}, nil},
		{"auto without kernel IPVS, TUN is an error", "auto", tun, noKernel, "",
			[]string{`forwarding = "tun": rs1, rs2`, "modprobe ip_vs"}, nil},
		{"auto without kernel IPVS, fwmark is an error the userspace cannot fix", "auto", fwmark, noKernel, "",
			[]string{`virtual_server "web" (firewall mark 6666)`, "modprobe ip_vs"}, []string{`dataplane = "userspace"`}},
		{"auto without kernel IPVS, an all-ports service is an error the userspace cannot fix", "auto", all, noKernel, "",
			[]string{`virtual_server "web" (every port of 198.18.0.254)`, "modprobe ip_vs"}, []string{`dataplane = "userspace"`}},
		{"auto with a kernel error that is not a missing IPVS", "auto", nat, broken, "", []string{"permission denied"}, nil},
		{"kernel without kernel IPVS", "kernel", nat, noKernel, "", []string{"dataplane kernel", "load the ip_vs module"}, nil},
		{"userspace asked for, DR proxied", "userspace", dr, noKernel, "userspace", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table, got, err := openTable(dataplaneConfig(t, tc.dataplane, tc.vs), slog.New(slog.DiscardHandler), tc.open)
			if table != nil {
				defer table.Close()
			}
			if got != tc.want {
				t.Fatalf("opened %q (err %v), want %q", got, err, tc.want)
			}
			if tc.want != "" {
				if err != nil || table == nil {
					t.Fatalf("err %v, table %v", err, table)
				}
				return
			}
			for _, s := range tc.errHas {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("err = %v, want it to contain %q", err, s)
				}
			}
			for _, s := range tc.errHasNot {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("err = %v, want no %q", err, s)
				}
			}
		})
	}
}

// TestExamplesDataplane: which shipped examples the userspace proxy can serve when auto
// finds no kernel IPVS (only the NAT one).
func TestExamplesDataplane(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("examples: %v %v", files, err)
	}
	ha, _ := filepath.Glob("../../examples/ha-pair/*.hcl")
	for _, f := range append(files, ha...) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, diags := conf.Load(f)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			err := userspaceCanServe(cfg, errNoIPVS)
			if servable := filepath.Base(f) == "nat-web.hcl"; servable != (err == nil) {
				t.Errorf("userspaceCanServe = %v; want servable %v", err, servable)
			}
		})
	}
}

func TestReloadKeepsTheFallbackRule(t *testing.T) {
	d := &runner{autoUserspace: true}
	if err := d.reloadDataplaneError(dataplaneConfig(t, "auto", `address = "198.18.0.254:80"`+"\n  forwarding = \"dr\"")); err == nil || !strings.Contains(err.Error(), "when vigil started") {
		t.Errorf("reload to DR on a fallen-back director: %v, want an error", err)
	}
	if err := d.reloadDataplaneError(dataplaneConfig(t, "auto", `address = "198.18.0.254:80"`)); err != nil {
		t.Errorf("reload to NAT: %v", err)
	}
	if err := d.reloadDataplaneError(dataplaneConfig(t, "userspace", `address = "198.18.0.254:80"`+"\n  forwarding = \"dr\"")); err != nil {
		t.Errorf("reload that asks for userspace itself: %v", err)
	}
	if err := (&runner{}).reloadDataplaneError(dataplaneConfig(t, "auto", `address = "198.18.0.254:80"`+"\n  forwarding = \"dr\"")); err != nil {
		t.Errorf("reload on a kernel director: %v", err)
	}
}
