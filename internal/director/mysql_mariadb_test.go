package director

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testing/mariadbtest"
	"github.com/vigil-lb/vigil/ipvs"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

const mysqlTestPassword = "dir-Mq7-s3cret"

// TestMySQLCheckAsConfigured runs mysql checks written the way the README documents them
// through conf, the director's translation and the checker, against a real MariaDB: the
// real server's weight in the table says whether the check passed. Only the timers are
// shortened; query and expect are the documented defaults unless a case sets them.
func TestMySQLCheckAsConfigured(t *testing.T) {
	mariadbtest.Require(t)
	srv, err := mariadbtest.StartLoopback(t.TempDir(), fmt.Sprintf(
		"CREATE OR REPLACE USER 'monitor'@'%%' IDENTIFIED BY '%s';\n", mysqlTestPassword))
	if err != nil {
		t.Fatalf("start MariaDB: %v", err)
	}
	t.Cleanup(srv.Kill)
	t.Setenv("VIGIL_MYSQL_PASSWORD", mysqlTestPassword)

	cases := []struct {
		name   string
		body   string // extra lines of the check block
		up     bool
		reason string // substring of the check's last reason
	}{
		{"documented defaults: SELECT 1, no expect", ``, true, `query "SELECT 1" returned "1"`},
		{"query = \"\" logs in and pings only", `query = ""`, true, `logged in as "monitor" and pinged`},
		{"query without expect passes whatever it returns", `query = "SELECT 0"`, true, `returned "0"`},
		{"expect that matches", `expect = "1"`, true, `returned "1"`},
		{"expect that does not match", `expect = "2"`, false, `returned "1", want "2"`},
		{"failing query", `query = "SELECT nope"`, false, "server error 1054"},
		{"wrong password", `user = "nobody"`, false, "mysql auth failed"},
	}
	user := func(body string) string {
		if strings.Contains(body, "user") {
			return body
		}
		return "user     = \"monitor\"\n      " + body
	}
	var src strings.Builder
	for i, c := range cases {
		// One virtual server per case, each with the one MariaDB as its real server.
		fmt.Fprintf(&src, `
# %s
virtual_server "db%d" {
  address  = "198.18.0.%d:3306"
  protocol = "tcp"
  real_server "db" {
    address = "%s"
    weight  = 5
    check "mysql" {
      password = env("VIGIL_MYSQL_PASSWORD")
      %s
      interval = "500ms"
      timeout  = "500ms"
      rise     = 1
    }
  }
}
`, c.name, i, 100+i, srv.Addr(), user(c.body))
	}
	cfg, diags := conf.Parse([]byte(src.String()), "mysql.hcl")
	if diags.HasErrors() {
		t.Fatalf("config: %v\n%s", diags, src.String())
	}
	table := ipvstest.New()
	d := start(t, table, cfg)

	// Every check has run a few times: its state is settled.
	deadline := time.Now().Add(20 * time.Second) // of probes against the server, in real time
	var snap status.Snapshot
	for {
		snap = d.Snapshot()
		settled := true
		for _, vs := range snap.VirtualServers {
			if c := vs.RealServers[0].Checks[0]; c.Probes < 3 {
				settled = false
			}
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checks did not run 3 times within 20s: %+v", snap.VirtualServers)
		}
		d.step(200 * time.Millisecond)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs := snap.VirtualServers[i].RealServers[0]
			chk := rs.Checks[0]
			wantWeight, wantHealth := 0, "down"
			if c.up {
				wantWeight, wantHealth = 5, "up"
			}
			dests, err := table.Destinations(context.Background(), ipvs.AddrKey(ipvs.TCP, cfg.VirtualServers[i].Address))
			if err != nil || len(dests) != 1 {
				t.Fatalf("table holds %v, %v; want the one real server", dests, err)
			}
			if dests[0].Weight != wantWeight || rs.Health != wantHealth {
				t.Errorf("weight %d, health %s (reason %q); want weight %d, %s", dests[0].Weight, rs.Health, chk.LastReason, wantWeight, wantHealth)
			}
			if !strings.Contains(chk.LastReason, c.reason) {
				t.Errorf("reason %q, want it to contain %q", chk.LastReason, c.reason)
			}
			if strings.Contains(chk.LastReason, mysqlTestPassword) {
				t.Errorf("the password is in the reason %q", chk.LastReason)
			}
		})
	}
}
