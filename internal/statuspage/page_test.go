package statuspage

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// snapshot has a real server in every health and admin state, a history, a hostile name
// and a VRRP instance.
func snapshot() status.Snapshot {
	w1, w0 := 1, 0
	return status.Snapshot{
		Version: "1.2.3", RouterID: "lb-a", Dataplane: "kernel", Started: t0.Add(-time.Hour),
		Config: status.ConfigStatus{Path: "/etc/vigil/vigil.hcl", Generation: 3},
		VirtualServers: []status.VirtualServer{{
			Name: "web", Protocol: "tcp", Address: "198.18.0.254:80", Scheduler: "rr", Healthy: 1, Total: 4, QuorumUp: true, Present: true,
			RealServers: []status.RealServer{
				{Name: "rs1", Address: "198.18.0.21:80", Health: "up", AdminState: "ready", ConfiguredWeight: 1, AppliedWeight: &w1, InTable: true, ActiveConns: 17,
					HealthSince: t0.Add(-5 * time.Minute), Checks: []status.Check{{Kind: "http", State: "up", LastOK: true, LastLatency: 1234 * time.Microsecond}}},
				{Name: "rs2", Address: "198.18.0.22:80", Health: "down", AdminState: "ready", ConfiguredWeight: 1, AppliedWeight: &w0, InTable: true, Flaps: 3,
					HealthSince: t0.Add(-90 * time.Second),
					Checks:      []status.Check{{Kind: "http", State: "down", LastReason: "dial tcp 198.18.0.22:80: connect: connection refused"}},
					History: []status.Transition{
						{At: t0.Add(-10 * time.Minute), Kind: "health", From: "unknown", To: "up", Reason: "http: 200 OK"},
						{At: t0.Add(-90 * time.Second), Kind: "health", From: "up", To: "down", Reason: "http: connection refused"},
					}},
				{Name: "rs3", Address: "198.18.0.23:80", Health: "up", AdminState: "drain", ConfiguredWeight: 1, AppliedWeight: &w0, InTable: true, ActiveConns: 2},
				{Name: "<script>alert(1)</script>", Address: "198.18.0.24:80", Health: "unknown", AdminState: "maint", AdminRemove: true, ConfiguredWeight: 1},
			},
		}},
		VRRP: []status.VRRPInstance{{Name: "VI_1", Interface: "eth0", VRID: 51, State: "master", BasePriority: 150, EffectivePriority: 150,
			MasterAddr: "198.18.0.11", VIPs: []string{"198.18.0.254/24"}}},
	}
}

func render(t *testing.T, s status.Snapshot) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, s, t0); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPage(t *testing.T) {
	html := render(t, snapshot())
	for _, want := range []string{
		`<meta http-equiv="refresh" content="1">`,
		"web", "198.18.0.254:80", "rs1", "rs2", "rs3", "VI_1", "MASTER", "198.18.0.11",
		`class="drain"`, `class="maint"`, `class="down"`, `class="up"`,
		"maint (removed)", "1 / 0", "1.23ms", "connection refused", "1m30s", "flaps", "http: connection refused",
		"&lt;script&gt;alert(1)&lt;/script&gt;",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Errorf("a real server's name reached the page unescaped")
	}
	// No external assets: nothing is fetched from anywhere.
	if m := regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`).FindString(html); m != "" {
		t.Errorf("page refers to an external asset: %s", m)
	}
	// The newest transition comes first.
	if i, j := strings.Index(html, "up → down"), strings.Index(html, "unknown → up"); i < 0 || j < 0 || i > j {
		t.Errorf("history not newest first")
	}
}

func TestPageEmpty(t *testing.T) {
	if html := render(t, status.Snapshot{}); !strings.Contains(html, "Virtual servers") {
		t.Errorf("empty snapshot: %s", html)
	}
}

func FuzzPage(f *testing.F) {
	f.Add("web", "rs1", "down", "drain", "connection refused")
	f.Fuzz(func(t *testing.T, vs, rs, health, admin, reason string) {
		s := status.Snapshot{VirtualServers: []status.VirtualServer{{Name: vs, RealServers: []status.RealServer{{Name: rs, Health: health, AdminState: admin,
			Checks: []status.Check{{Kind: "http", LastReason: reason}}, History: []status.Transition{{Reason: reason}}}}}}}
		var b bytes.Buffer
		if err := Render(&b, s, t0); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "<script") && (strings.Contains(vs+rs+health+admin+reason, "<script")) {
			t.Errorf("unescaped input on the page")
		}
	})
}
