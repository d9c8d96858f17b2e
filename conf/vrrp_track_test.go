package conf

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
)

const trackingSrc = `
vrrp_script "chk_haproxy" {
  command  = ["/usr/bin/pgrep", "-x", "haproxy"]
  interval = "2s"
  timeout  = "1s"
  rise     = 2
  fall     = 2
  weight   = -20
  user     = "nobody"
}
vrrp_script "chk_shell" {
  command = "pgrep -x haproxy || exit 1"
  shell   = true
}
track_process "haproxy" {
  process = "haproxy"
  args    = ["-f", "/etc/haproxy/haproxy.cfg"]
  quorum  = 2
  weight  = -30
  delay   = "500ms"
}
track_process "nginx" {
  process = "/usr/sbin/nginx"
}
track_file "prio" {
  path = "/run/vigil/prio"
}
track_file "drain" {
  path   = "/run/vigil/drain"
  weight = 0
  init   = 0
}
vrrp_instance "VI_1" {
  interface           = "eth0"
  virtual_router_id   = 51
  virtual_ipaddresses = ["198.18.0.254/24", { address = "198.18.1.254/24", dev = "eth1", label = "eth1:vip" }, { address = "198.18.0.253", label = "eth0:x" }]
  track_script "chk_haproxy" {}
  track_script "chk_shell" { weight = -60 }
  track_process "haproxy" { weight = 0 }
  track_file "prio" { weight = 10 }
}
vrrp_instance "VI_2" {
  interface           = "eth1"
  virtual_router_id   = 52
  virtual_ipaddresses = ["198.18.1.253/24"]
}
vrrp_sync_group "G" {
  instances = ["VI_2"]
  track_file "drain" {}
  track_process "nginx" {}
}
`

func TestTracking(t *testing.T) {
	cfg := mustParse(t, trackingSrc, nil)
	ignore := cmpopts.IgnoreTypes(hcl.Range{})
	wantScripts := []*VRRPScript{
		{Name: "chk_haproxy", Command: []string{"/usr/bin/pgrep", "-x", "haproxy"}, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 2, Weight: -20, User: "nobody"},
		// keepalived's defaults: 1 s, timeout = interval, rise 1, fall 1, weight 0.
		{Name: "chk_shell", Command: []string{"/bin/sh", "-c", "pgrep -x haproxy || exit 1"}, Shell: true, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1},
	}
	if d := cmp.Diff(wantScripts, cfg.VRRPScripts, ignore); d != "" {
		t.Errorf("vrrp_script (-want +got):\n%s", d)
	}
	wantProcs := []*TrackProcess{
		{Name: "haproxy", Process: "haproxy", Args: []string{"-f", "/etc/haproxy/haproxy.cfg"}, Quorum: 2, Weight: -30, Delay: 500 * time.Millisecond},
		{Name: "nginx", Process: "/usr/sbin/nginx", Quorum: 1},
	}
	if d := cmp.Diff(wantProcs, cfg.TrackProcesses, ignore); d != "" {
		t.Errorf("track_process (-want +got):\n%s", d)
	}
	zero := 0
	wantFiles := []*TrackFile{{Name: "prio", Path: "/run/vigil/prio", Weight: 1}, {Name: "drain", Path: "/run/vigil/drain", Init: &zero}}
	if d := cmp.Diff(wantFiles, cfg.TrackFiles, ignore); d != "" {
		t.Errorf("track_file (-want +got):\n%s", d)
	}
	opts := []cmp.Option{ignore, cmp.AllowUnexported(TrackRef{}), cmpopts.IgnoreFields(TrackRef{}, "weightSet")}
	// A track takes its block's weight unless it sets its own.
	want := Tracking{
		Scripts:   []TrackRef{{Name: "chk_haproxy", Weight: -20}, {Name: "chk_shell", Weight: -60}},
		Processes: []TrackRef{{Name: "haproxy", Weight: 0}},
		Files:     []TrackRef{{Name: "prio", Weight: 10}},
	}
	if d := cmp.Diff(want, cfg.VRRPInstances[0].Tracking, opts...); d != "" {
		t.Errorf("instance tracking (-want +got):\n%s", d)
	}
	want = Tracking{Processes: []TrackRef{{Name: "nginx"}}, Files: []TrackRef{{Name: "drain"}}}
	if d := cmp.Diff(want, cfg.SyncGroups[0].Tracking, opts...); d != "" {
		t.Errorf("sync group tracking (-want +got):\n%s", d)
	}
	wantVIPs := []netip.Prefix{netip.MustParsePrefix("198.18.0.254/24"), netip.MustParsePrefix("198.18.1.254/24"), netip.MustParsePrefix("198.18.0.253/32")}
	if d := cmp.Diff(wantVIPs, cfg.VRRPInstances[0].VirtualIPAddresses, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("virtual addresses (-want +got):\n%s", d)
	}
	wantDevs := []VIPDevice{{Address: netip.MustParseAddr("198.18.1.254"), Dev: "eth1", Label: "eth1:vip"}, {Address: netip.MustParseAddr("198.18.0.253"), Label: "eth0:x"}}
	if d := cmp.Diff(wantDevs, cfg.VRRPInstances[0].VIPDevices, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("devices (-want +got):\n%s", d)
	}
	b, err := cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"vrrp_scripts"`, `"track_scripts"`, `"virtual_ipaddress_devices"`, `"label": "eth1:vip"`, `"interval": "2s"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("--print output lacks %s", s)
		}
	}
}

func TestTrackingWarnings(t *testing.T) {
	cfg := mustParse(t, trackingSrc+`
vrrp_script "unused" {
  command = ["true"]
}
`, nil)
	var got []string
	for _, w := range cfg.Warnings() {
		got = append(got, w.Summary+": "+w.Detail)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`vrrp_script "unused" is tracked by no vrrp_instance`,
		`"drain" has weight 0`, // not warned: it is 0
	} {
		if strings.HasPrefix(want, `"drain"`) {
			if strings.Contains(all, want) {
				t.Errorf("warned about a weight-0 track: %s", all)
			}
			continue
		}
		if !strings.Contains(all, want) {
			t.Errorf("no warning %q in:\n%s", want, all)
		}
	}
	// The default track_file weight (1) in a sync group moves only some priorities.
	cfg = mustParse(t, strings.Replace(trackingSrc, `track_file "drain" {}`, `track_file "prio" {}`, 1), nil)
	found := false
	for _, w := range cfg.Warnings() {
		found = found || w.Summary == "Weighted tracking in a sync group" && strings.Contains(w.Detail, `"prio" has weight 1`)
	}
	if !found {
		t.Error("no warning for a weighted track in a sync group")
	}
}

// viVIPs is an instance whose virtual_ipaddresses value starts at 4:25.
func viVIPs(list string) string {
	return "vrrp_instance \"VI_1\" {\n  interface = \"eth0\"\n  virtual_router_id = 51\n  virtual_ipaddresses = " + list + "\n}\n"
}

// syncGroup wraps sync group lines after vi(""): line 7 vrrp_sync_group, 8 instances, 9.. body.
func syncGroup(body string) string {
	return vi("") + "vrrp_sync_group \"G\" {\n  instances = [\"VI_1\"]\n" + body + "\n}\n"
}

func TestInvalidTracking(t *testing.T) {
	script := "vrrp_script \"chk\" {\n  command = [\"true\"]\n}\n" // 3 lines before vi
	for _, tc := range []struct {
		name, src, want, pos string
	}{
		{"script without command", "vrrp_script \"chk\" {\n}\n", `"command" is required for a vrrp_script`, "1:1"},
		{"script string without shell", "vrrp_script \"chk\" {\n  command = \"pgrep haproxy\"\n}\n", "for a shell command line set shell = true", "2:13"},
		{"script empty argv", "vrrp_script \"chk\" {\n  command = []\n}\n", "Empty command", "2:13"},
		{"script interval too short", "vrrp_script \"chk\" {\n  command = [\"true\"]\n  interval = \"10ms\"\n}\n", "Value out of range", "3:14"},
		{"script interval a number", "vrrp_script \"chk\" {\n  command = [\"true\"]\n  interval = 2\n}\n", "write it as a string with a unit", "3:14"},
		{"script fall 0", "vrrp_script \"chk\" {\n  command = [\"true\"]\n  fall = 0\n}\n", "fall must be in 1..1000", "3:10"},
		{"script weight 254", "vrrp_script \"chk\" {\n  command = [\"true\"]\n  weight = 254\n}\n", "weight must be in -253..253", "3:12"},
		{"script unknown attribute", "vrrp_script \"chk\" {\n  command = [\"true\"]\n  script = \"x\"\n}\n", "Unsupported argument", "3:3"},
		{"duplicate script", script + "vrrp_script \"chk\" {\n  command = [\"true\"]\n}\n", "Duplicate vrrp_script", "4:13"},
		{"process without process", "track_process \"p\" {\n}\n", `"process" is required for a track_process`, "1:1"},
		{"process quorum 0", "track_process \"p\" {\n  process = \"haproxy\"\n  quorum = 0\n}\n", "quorum must be in 1..65535", "3:12"},
		{"file relative path", "track_file \"f\" {\n  path = \"prio\"\n}\n", "path must be absolute", "2:10"},
		{"file weight 255", "track_file \"f\" {\n  path = \"/run/p\"\n  weight = 255\n}\n", "weight must be in -254..254", "3:12"},
		{"file init out of range", "track_file \"f\" {\n  path = \"/run/p\"\n  init = 1000\n}\n", "init must be in -254..254", "3:10"},
		{"unknown script with hint", script + vi("  track_script \"chk2\" {}"), `Did you mean "chk"?`, "8:3"},
		{"unknown process", vi("  track_process \"haproxy\" {}"), `"haproxy" names no track_process block`, "5:3"},
		{"unknown file in a group", syncGroup("  track_file \"prio\" {}"), `"prio" names no track_file block`, "9:3"},
		{"track weight out of range", script + vi("  track_script \"chk\" { weight = -300 }"), "weight must be in -253..253", "8:33"},
		{"tracked twice", script + vi("  track_script \"chk\" {}") + "vrrp_sync_group \"G\" {\n  instances = [\"VI_1\"]\n  track_script \"chk\" {}\n}\n", "Tracked twice", "8:3"},
		{"track twice in an instance", script + vi("  track_script \"chk\" {}\n  track_script \"chk\" {}"), "Duplicate track_script", "9:16"},
		{"vip object without address", viVIPs("[{ dev = \"eth1\" }]"), "needs address", "4:25"},
		{"vip object unknown key", viVIPs("[{ address = \"198.18.1.1\", device = \"eth1\" }]"), `Did you mean "dev"?`, "4:25"},
		{"vip bad dev", viVIPs("[{ address = \"198.18.1.1\", dev = \"eth1:0\" }]"), "is not a Linux interface name", "4:25"},
		{"vip label not of its device", viVIPs("[{ address = \"198.18.1.1\", dev = \"eth1\", label = \"eth0:vip\" }]"), `must begin with the device name "eth1"`, "4:25"},
		{"vip label on IPv6", "vrrp_instance \"VI_1\" {\n  interface = \"eth0\"\n  virtual_router_id = 51\n  virtual_ipaddresses = [{ address = \"2001:db8::1/64\", label = \"eth0:v6\" }]\n}\n", "Linux labels IPv4 addresses only", "4:25"},
		{"vip number", viVIPs("[5]"), "each \"ip/len\" or { address", "4:25"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantDiagnostic(t, tc.src, tc.want, tc.pos) })
	}
}
