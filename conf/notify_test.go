package conf

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestNotifyCommands: quorum_up / quorum_down on a virtual server and notify_up /
// notify_down on a real server are argv lists; a real server inherits the virtual
// server's notify_timeout and notify_user unless it sets its own.
func TestNotifyCommands(t *testing.T) {
	cfg := mustParse(t, `
virtual_server "web" {
  address        = "198.18.0.254:80"
  protocol       = "tcp"
  quorum_up      = ["/etc/vigil/quorum", "up"]
  quorum_down    = ["/etc/vigil/quorum", "down"]
  notify_timeout = "3s"
  notify_user    = "nobody:nogroup"
  real_server "rs1" {
    address     = "198.18.0.21"
    notify_up   = ["/etc/vigil/rs", "up"]
    notify_down = ["/etc/vigil/rs", "down"]
  }
  real_server "rs2" {
    address        = "198.18.0.22"
    notify_down    = ["/etc/vigil/rs2-down"]
    notify_timeout = "20s"
    notify_user    = "vigil"
  }
  real_server "rs3" {
    address = "198.18.0.23"
  }
}
`, nil)
	vs := cfg.VirtualServers[0]
	type notify struct {
		Up, Down []string
		Timeout  time.Duration
		User     string
	}
	got := map[string]notify{"web": {vs.QuorumUp, vs.QuorumDown, vs.NotifyTimeout, vs.NotifyUser}}
	for _, rs := range vs.RealServers {
		got[rs.Name] = notify{rs.NotifyUp, rs.NotifyDown, rs.NotifyTimeout, rs.NotifyUser}
	}
	want := map[string]notify{
		"web": {[]string{"/etc/vigil/quorum", "up"}, []string{"/etc/vigil/quorum", "down"}, 3 * time.Second, "nobody:nogroup"},
		"rs1": {[]string{"/etc/vigil/rs", "up"}, []string{"/etc/vigil/rs", "down"}, 3 * time.Second, "nobody:nogroup"},
		"rs2": {nil, []string{"/etc/vigil/rs2-down"}, 20 * time.Second, "vigil"},
		"rs3": {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Without notify_timeout the default is VRRP's notify default.
	cfg = mustParse(t, vs2("  real_server \"rs1\" {\n    address = \"198.18.0.21\"\n    notify_up = [\"/bin/true\"]\n  }"), nil)
	if got := cfg.VirtualServers[0].RealServers[0].NotifyTimeout; got != DefaultNotifyTimeout {
		t.Errorf("default notify_timeout %s, want %s", got, DefaultNotifyTimeout)
	}
}

func vs2(body string) string {
	return "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n" + body + "\n}\n"
}

func TestNotifyCommandsInvalid(t *testing.T) {
	for _, tc := range []struct{ src, want, pos string }{
		{vs2("  quorum_up = \"/bin/true up\""), "Incorrect attribute value type", "4:15"},
		{vs2("  quorum_down = []"), "Empty command", "4:17"},
		{vs2("  notify_timeout = \"100ms\""), "Value out of range", "4:20"},
		{vs2("  notify_user = \"\""), "must not be empty", "4:17"},
		{vs("    address = \"198.18.0.21\"\n    notify_up = [\"\", \"x\"]"), "Empty command", "6:17"},
		{vs("    address = \"198.18.0.21\"\n    notify_timeout = 5"), "Invalid duration", "6:22"},
	} {
		wantError(t, tc.src, tc.want, tc.pos)
	}
}
