package conf

import (
	"fmt"
	"strings"
	"testing"
)

// vs wraps real-server lines in a minimal valid address service at line 1:
// line 1 virtual_server, 2 address, 3 protocol, 4 real_server, 5.. body.
func vs(rsBody string) string {
	return "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n  real_server \"rs1\" {\n" + rsBody + "\n  }\n}\n"
}

// chk wraps check lines: line 5 address, 6 check "KIND" {, 7.. body.
func chk(kind, body string) string {
	return vs("    address = \"198.18.0.21\"\n    check \"" + kind + "\" {\n" + body + "\n    }")
}

// vi wraps vrrp_instance lines: line 1 vrrp_instance, 2 interface, 3 virtual_router_id,
// 4 virtual_ipaddresses, 5.. body.
func vi(body string) string {
	return "vrrp_instance \"VI_1\" {\n  interface = \"eth0\"\n  virtual_router_id = 51\n  virtual_ipaddresses = [\"198.18.0.254/24\"]\n" + body + "\n}\n"
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // substring of "Summary: Detail"
		pos  string // line:col of the diagnostic's subject
	}{
		// Syntax.
		{"unclosed block", "global {\n  listen = \"127.0.0.1:9110\"\n", "Unclosed configuration block", "1:8"},
		{"missing value", "global {\n  listen = \n}\n", "Invalid expression", "2:12"},
		{"unterminated string", "global {\n  router_id = \"lb\n}\n", "Unterminated template string", "2:18"},
		{"attribute at top level", "listen = \"127.0.0.1:9110\"\n", "Unsupported argument", "1:1"},
		{"redefined attribute", "global {\n  listen = \"\"\n  listen = \"\"\n}\n", "Attribute redefined", "3:3"},
		// Names, types and hints.
		{"unknown attribute with hint", "global {\n  log_levl = \"info\"\n}\n", `Did you mean "log_level"?`, "2:3"},
		{"unknown block with hint", "virtual_sever \"web\" {\n}\n", `Did you mean "virtual_server"?`, "1:1"},
		{"log_level typo with hint", "global {\n  log_level = \"warning\"\n}\n", `Did you mean "warn"?`, "2:15"},
		{"dataplane typo with hint", "global {\n  dataplane = \"kernal\"\n}\n", `Did you mean "kernel"?`, "2:15"},
		{"wrong type bool", "global {\n  manage_sysctls = \"maybe\"\n}\n", "Incorrect attribute value type", "2:20"},
		{"wrong type number", vs("    address = \"198.18.0.21\"\n    weight = \"heavy\""), "Incorrect attribute value type", "6:14"},
		{"huge number", vs("    address = \"198.18.0.21\"\n    weight = 1e99999999"), "Number out of range", "6:14"},
		{"tiny number", vs("    address = \"198.18.0.21\"\n    weight = 1e-99999999"), "Number out of range", "6:14"},
		{"huge number from env", vs("    address = \"198.18.0.21\"\n    weight = env(\"HUGE\", \"1e99999999\")"), "magnitude 2^", "6:14"},
		{"arithmetic", vs("    address = \"198.18.0.21\"\n    weight = 2 * 3"), "Arithmetic not supported", "6:14"},
		{"for expression", "global {\n  router_id = [for x in [1]: x]\n}\n", "Loops not supported", "2:15"},
		{"template for", "global {\n  router_id = \"%{for x in [1]}${x}%{endfor}\"\n}\n", "Loops not supported", "2:16"},
		{"huge number in template", "global {\n  router_id = \"${1e99999999}\"\n}\n", "Number out of range", "2:18"},
		{"variables not allowed", "global {\n  router_id = lb\n}\n", "Variables not allowed", "2:15"},
		{"unknown function", "global {\n  router_id = envv(\"X\")\n}\n", "Call to unknown function", "2:15"},
		{"env unset", "global {\n  router_id = env(\"VIGIL_TEST_UNSET\")\n}\n", "VIGIL_TEST_UNSET is not set", "2:20"},
		{"invalid name", "virtual_server \"we b\" {\n  fwmark = 1\n}\n", "Invalid name", "1:16"},
		{"block without name", "virtual_server {\n  fwmark = 1\n}\n", "Missing name for virtual_server", "1:16"},
		{"block with two names", "virtual_server \"a\" \"b\" {\n  fwmark = 1\n}\n", "Extraneous label for virtual_server", "1:20"},
		{"check without kind", vs("    address = \"198.18.0.21\"\n    check {\n    }"), "Missing kind for check", "6:11"},
		{"two global blocks", "global {\n}\nglobal {\n}\n", "Duplicate global block", "3:1"},
		{"listen without port", "global {\n  listen = \"127.0.0.1\"\n}\n", "Missing port", "2:12"},
		{"resync too short", "global {\n  resync_interval = \"10ms\"\n}\n", "Value out of range", "2:21"},
		{"ipvs timeout fraction", "global {\n  ipvs_timeouts {\n    tcp = \"1.5s\"\n  }\n}\n", "whole seconds", "3:11"},
		// virtual_server.
		{"missing protocol", "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n}\n", `"protocol" is required`, "1:1"},
		{"both fwmark and address", "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n  fwmark = 1\n}\n", "Conflicting arguments", "4:3"},
		{"neither fwmark nor address", "virtual_server \"web\" {\n  protocol = \"tcp\"\n}\n", "needs address", "1:1"},
		{"bad address", "virtual_server \"web\" {\n  address = \"198.18.0:80\"\n  protocol = \"tcp\"\n}\n", "Invalid address", "2:13"},
		{"port out of range", "virtual_server \"web\" {\n  address = \"198.18.0.254:70000\"\n  protocol = \"tcp\"\n}\n", "Port out of range", "2:13"},
		{"vs without port", "virtual_server \"web\" {\n  address = \"198.18.0.254\"\n  protocol = \"tcp\"\n}\n", "Missing port", "2:13"},
		{"family on address service", "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n  family = \"inet\"\n}\n", "only for fwmark", "4:3"},
		{"fwmark zero", "virtual_server \"web\" {\n  fwmark = 0\n}\n", "Value out of range", "2:12"},
		{"protocol typo", "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tpc\"\n}\n", `Did you mean "tcp"?`, "3:14"},
		{"scheduler typo with hint", "virtual_server \"web\" {\n  fwmark = 1\n  scheduler = \"wrc\"\n}\n", `Did you mean "wrr"?`, "3:15"},
		{"sh flag without sh", "virtual_server \"web\" {\n  fwmark = 1\n  scheduler = \"rr\"\n  scheduler_flags = [\"sh-port\"]\n}\n", `only applies to scheduler "sh"`, "4:21"},
		{"ops with tcp", "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n  scheduler_flags = [\"ops\"]\n}\n", `only applies to protocol = "udp"`, "4:21"},
		{"unknown flag with hint", "virtual_server \"web\" {\n  fwmark = 1\n  scheduler = \"sh\"\n  scheduler_flags = [\"sh-prot\"]\n}\n", `Did you mean "sh-port"?`, "4:21"},
		{"forwarding typo", "virtual_server \"web\" {\n  fwmark = 1\n  forwarding = \"direct\"\n}\n", "Invalid value for forwarding", "3:16"},
		{"persistence too long", "virtual_server \"web\" {\n  fwmark = 1\n  persistence {\n    timeout = \"32d\"\n  }\n}\n", "Invalid duration", "4:15"},
		{"persistence over 31 days", "virtual_server \"web\" {\n  fwmark = 1\n  persistence {\n    timeout = \"745h\"\n  }\n}\n", "Value out of range", "4:15"},
		{"persistence netmask not contiguous", "virtual_server \"web\" {\n  fwmark = 1\n  persistence {\n    netmask = \"255.0.255.0\"\n  }\n}\n", "Invalid netmask", "4:15"},
		{"persistence netmask v6 dotted", "virtual_server \"web\" {\n  fwmark = 1\n  family = \"inet6\"\n  persistence {\n    netmask = \"255.255.0.0\"\n  }\n}\n", "prefix length", "5:15"},
		{"hysteresis not below quorum", "virtual_server \"web\" {\n  fwmark = 1\n  quorum = 2\n  hysteresis = 2\n}\n", "must be less than quorum", "4:16"},
		{"duplicate virtual server name", "virtual_server \"web\" {\n  fwmark = 1\n}\nvirtual_server \"web\" {\n  fwmark = 2\n}\n", "Duplicate virtual_server", "4:16"},
		{"duplicate service address", "virtual_server \"a\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n}\nvirtual_server \"b\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n}\n", "Duplicate virtual server", "5:1"},
		{"duplicate fwmark", "virtual_server \"a\" {\n  fwmark = 7\n}\nvirtual_server \"b\" {\n  fwmark = 7\n}\n", "Duplicate virtual server", "4:1"},
		{"sorry server is a real server", "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n  sorry_server = \"198.18.0.21\"\n  real_server \"rs1\" {\n    address = \"198.18.0.21\"\n  }\n}\n", "Invalid sorry_server", "4:18"},
		// real_server.
		{"real server missing address", vs("    weight = 1"), "Missing required argument", "4:3"},
		{"weight -1", vs("    address = \"198.18.0.21\"\n    weight = -1"), "Value out of range", "6:14"},
		{"weight 70000", vs("    address = \"198.18.0.21\"\n    weight = 70000"), "Value out of range", "6:14"},
		{"weight fraction", vs("    address = \"198.18.0.21\"\n    weight = 1.5"), "whole number", "6:14"},
		{"duplicate real server", "virtual_server \"web\" {\n  fwmark = 1\n  real_server \"a\" {\n    address = \"198.18.0.21\"\n  }\n  real_server \"b\" {\n    address = \"198.18.0.21\"\n  }\n}\n", "Duplicate real server", "6:3"},
		{"duplicate real server name", "virtual_server \"web\" {\n  fwmark = 1\n  real_server \"a\" {\n    address = \"198.18.0.21\"\n  }\n  real_server \"a\" {\n    address = \"198.18.0.22\"\n  }\n}\n", "Duplicate real_server", "6:15"},
		{"DR with port remap", "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  protocol = \"tcp\"\n  forwarding = \"dr\"\n  real_server \"a\" {\n    address = \"198.18.0.21:8080\"\n  }\n}\n", "Port remap with dr", "6:15"},
		{"TUN with port remap", vs("    address = \"198.18.0.21:8080\"\n    forwarding = \"tun\""), "Port remap with tun", "5:15"},
		{"DR fwmark with port", "virtual_server \"web\" {\n  fwmark = 1\n  forwarding = \"dr\"\n  real_server \"a\" {\n    address = \"198.18.0.21:80\"\n  }\n}\n", "omit the port", "5:15"},
		{"real server family mismatch", vs("    address = \"2001:db8::21\""), "Address family mismatch", "5:15"},
		{"lower above upper threshold", vs("    address = \"198.18.0.21\"\n    upper_threshold = 10\n    lower_threshold = 20"), "lower_threshold (20)", "7:23"},
		// check.
		{"check kind typo with hint", chk("htp", ""), `Did you mean "http"?`, "6:11"},
		{"attribute of another kind", chk("tcp", "      path = \"/\""), "belongs to http checks", "7:7"},
		{"unknown check attribute", chk("http", "      pathh = \"/\""), `Did you mean "path"?`, "7:7"},
		{"duration without unit", chk("tcp", "      interval = 2"), "Invalid duration", "7:18"},
		{"bad duration", chk("tcp", "      interval = \"2 sec\""), "Invalid duration", "7:18"},
		{"timeout over interval", chk("tcp", "      interval = \"1s\"\n      timeout = \"2s\""), "Timeout longer than interval", "8:17"},
		{"rise zero", chk("tcp", "      rise = 0"), "Value out of range", "7:14"},
		{"status out of range", chk("http", "      expect_status = [\"600\"]"), "Invalid expect_status", "7:23"},
		{"bad status range", chk("http", "      expect_status = [\"299-200\"]"), "Invalid expect_status", "7:23"},
		{"bad regexp", chk("http", "      expect_body = \"(\""), "Invalid regular expression", "7:21"},
		{"bad digest", chk("http", "      expect_digest = \"xyz\""), "Invalid digest", "7:23"},
		{"host with newline", chk("http", "      host = \"a\\r\\nX-Evil: 1\""), "Invalid host", "7:14"},
		{"bad path", chk("http", "      path = \"health\""), "Invalid path", "7:14"},
		{"tls file without tls", chk("http", "      tls_ca_file = \"/etc/ca.pem\""), "TLS setting without TLS", "7:7"},
		{"https without tls", chk("https", "      tls = false"), "Conflicting arguments", "7:13"},
		{"client cert without key", chk("https", "      tls_cert_file = \"/etc/c.pem\""), "Incomplete client certificate", "7:7"},
		{"connect port zero", chk("tcp", "      connect_port = 0"), "Value out of range", "7:22"},
		{"mysql without user", chk("mysql", "      password = \"x\""), `"user" is required`, "6:5"},
		{"mysql tls typo", chk("mysql", "      user = \"m\"\n      tls = \"skip-verfy\""), `Did you mean "skip-verify"?`, "8:13"},
		{"exec string without shell", chk("exec", "      command = \"/bin/true\""), "argv list", "7:17"},
		{"exec empty argv", chk("exec", "      command = []"), "Empty command", "7:17"},
		{"exec missing command", chk("exec", ""), `"command" is required`, "6:5"},
		{"exec connect_port", chk("exec", "      command = [\"/bin/true\"]\n      connect_port = 80"), "not an argument of exec checks", "8:7"},
		{"fwmark check without port", "virtual_server \"web\" {\n  fwmark = 1\n  real_server \"a\" {\n    address = \"198.18.0.21\"\n    check \"tcp\" {\n    }\n  }\n}\n", "needs connect_port", "5:5"},
		// vrrp_instance.
		{"missing interface", "vrrp_instance \"VI_1\" {\n  virtual_router_id = 51\n  virtual_ipaddresses = [\"198.18.0.254/24\"]\n}\n", `"interface" is required`, "1:1"},
		{"vrid 0", "vrrp_instance \"VI_1\" {\n  interface = \"eth0\"\n  virtual_router_id = 0\n  virtual_ipaddresses = [\"198.18.0.254\"]\n}\n", "virtual_router_id must be in 1..255", "3:23"},
		{"vrid 256", "vrrp_instance \"VI_1\" {\n  interface = \"eth0\"\n  virtual_router_id = 256\n  virtual_ipaddresses = [\"198.18.0.254\"]\n}\n", "virtual_router_id must be in 1..255", "3:23"},
		{"priority 0", vi("  priority = 0"), "priority must be in 1..255", "5:14"},
		{"accept false", vi("  accept = false"), "accept = false is not supported", "5:12"},
		{"mysql empty expect", chk("mysql", "      user = \"m\"\n      expect = \"\""), "omit it to accept any successful query", "8:16"},
		{"mysql expect without query", chk("mysql", "      user = \"m\"\n      query = \"\"\n      expect = \"1\""), "Expect without a query", "9:16"},
		{"mysql tls preferred", chk("mysql", "      user = \"m\"\n      tls = \"preferred\""), `Invalid value`, "8:13"},
		{"priority 255", vi("  priority = 255"), "address owner", "5:14"},
		{"version 4", vi("  version = 4"), "version must be in 2..3", "5:13"},
		{"half second advert with v2", vi("  version = 2\n  advert_interval = \"0.5s\""), "Invalid advert_interval for VRRP version 2", "6:21"},
		{"v3 advert not centiseconds", vi("  advert_interval = \"15ms\""), "multiple of 10ms", "5:21"},
		{"v3 advert too long", vi("  advert_interval = \"41s\""), "multiple of 10ms in 10ms..40.95s", "5:21"},
		{"IPv6 VIP with v2", "vrrp_instance \"VI_1\" {\n  interface = \"eth0\"\n  virtual_router_id = 51\n  version = 2\n  virtual_ipaddresses = [\"2001:db8::254/64\"]\n}\n", "IPv6 with VRRP version 2", "5:25"},
		{"mixed VIP families", "vrrp_instance \"VI_1\" {\n  interface = \"eth0\"\n  virtual_router_id = 51\n  virtual_ipaddresses = [\"198.18.0.254/24\", \"2001:db8::254/64\"]\n}\n", "Mixed address families", "4:25"},
		{"bad VIP", "vrrp_instance \"VI_1\" {\n  interface = \"eth0\"\n  virtual_router_id = 51\n  virtual_ipaddresses = [\"198.18.0.254/33\"]\n}\n", "Invalid address", "4:25"},
		{"no VIPs", "vrrp_instance \"VI_1\" {\n  interface = \"eth0\"\n  virtual_router_id = 51\n  virtual_ipaddresses = []\n}\n", "No virtual addresses", "4:25"},
		{"interface name too long", "vrrp_instance \"VI_1\" {\n  interface = \"a-very-long-interface-name\"\n  virtual_router_id = 51\n  virtual_ipaddresses = [\"198.18.0.254\"]\n}\n", "Invalid interface name", "2:15"},
		{"preempt delay without preempt", vi("  preempt = false\n  preempt_delay = \"10s\""), "Conflicting arguments", "6:3"},
		{"preempt delay too long", vi("  preempt_delay = \"1001s\""), "Value out of range", "5:19"},
		{"unicast peer family", vi("  unicast_peers = [\"2001:db8::12\"]"), "Address family mismatch", "5:19"},
		{"unicast src without peers", vi("  unicast_src = \"198.18.0.11\""), "Missing unicast_peers", "5:3"},
		{"track weight too big", vi("  track_interface \"eth1\" {\n    weight = 300\n  }"), "Value out of range", "6:14"},
		{"track interface bad name", vi("  track_interface \"eth0:1\" {}"), "Invalid interface name", "5:19"},
		{"track unknown virtual server", vi("  track_virtual_server \"wbe\" {\n    weight = -60\n  }") + "virtual_server \"web\" {\n  fwmark = 1\n}\n", `Did you mean "web"?`, "5:3"},
		{"notify string", vi("  notify_master = \"/bin/true\""), "Incorrect attribute value type", "5:19"},
		{"duplicate vrid on interface", vi("") + "vrrp_instance \"VI_2\" {\n  interface = \"eth0\"\n  virtual_router_id = 51\n  virtual_ipaddresses = [\"198.18.0.253/24\"]\n}\n", "Duplicate virtual_router_id", "7:1"},
		{"ipvs_sync bad interface", vi("  ipvs_sync {\n    interface = \"eth0:1\"\n  }"), "Invalid interface name", "6:17"},
		{"ipvs_sync id 256", vi("  ipvs_sync {\n    sync_id = 256\n  }"), "sync_id must be in 0..255", "6:15"},
		{"ipvs_sync unknown attribute", vi("  ipvs_sync {\n    syncid = 5\n  }"), `Did you mean "sync_id"?`, "6:5"},
		{"two ipvs_sync blocks", vi("  ipvs_sync {}\n  ipvs_sync {}"), "Duplicate ipvs_sync", "6:3"},
		{"ipvs_sync in two instances", vi("  ipvs_sync {}") + "vrrp_instance \"VI_2\" {\n  interface = \"eth1\"\n  virtual_router_id = 52\n  virtual_ipaddresses = [\"198.18.1.254/24\"]\n  ipvs_sync {}\n}\n", "Duplicate ipvs_sync", "11:3"},
		{"ipvs_sync with the userspace data plane", "global {\n  dataplane = \"userspace\"\n}\n" + vi("  ipvs_sync {}"), "ipvs_sync without kernel IPVS", "8:3"},
		{"duplicate VIP across instances", vi("") + "vrrp_instance \"VI_2\" {\n  interface = \"eth0\"\n  virtual_router_id = 52\n  virtual_ipaddresses = [\"198.18.0.254/24\"]\n}\n", "Duplicate virtual address", "7:1"},
		// Loops.
		{"real server is its virtual server", vs("    address = \"198.18.0.254\""), "Real server is its own virtual server", "5:15"},
		{"real server is its virtual server, with the port", vs("    address = \"198.18.0.254:80\""), `"rs1" has the virtual server's own address 198.18.0.254:80`, "5:15"},
		{"real server is its virtual server, IPv4-mapped", vs("    address = \"[::ffff:198.18.0.254]:80\""), "Real server is its own virtual server", "5:15"},
		{"real server is its virtual server, DR", strings.Replace(vs("    address = \"198.18.0.254\""), "protocol = \"tcp\"", "protocol = \"tcp\"\n  forwarding = \"dr\"", 1), "Real server is its own virtual server", "6:15"},
		{"sorry server is its virtual server", strings.Replace(vs("    address = \"198.18.0.21\""), "protocol = \"tcp\"", "protocol = \"tcp\"\n  sorry_server = \"198.18.0.254\"", 1), "Sorry server is its own virtual server", "4:18"},
		{"real server is another virtual server (userspace)", "global {\n  dataplane = \"userspace\"\n}\n" + vs("    address = \"198.18.0.253\"") +
			"virtual_server \"b\" {\n  address = \"198.18.0.253:80\"\n  protocol = \"tcp\"\n}\n", `is virtual server "b" (198.18.0.253:80), which the userspace data plane`, "8:15"},
		{"real server is another virtual server (auto)", vs("    address = \"198.18.0.253\"") +
			"virtual_server \"b\" {\n  address = \"198.18.0.253:80\"\n  protocol = \"tcp\"\n  real_server \"x\" {\n    address = \"198.18.0.254:80\"\n  }\n}\n", `(dataplane = "auto")`, "5:15"},
		{"sorry server is another virtual server", "global {\n  dataplane = \"userspace\"\n}\n" + strings.Replace(vs("    address = \"198.18.0.21\""), "protocol = \"tcp\"", "protocol = \"tcp\"\n  sorry_server = \"198.18.0.253\"", 1) +
			"virtual_server \"b\" {\n  address = \"198.18.0.253:80\"\n  protocol = \"tcp\"\n}\n", "Sorry server is a virtual server", "4:1"},
		// vrrp_sync_group.
		{"sync group unknown instance", vi("") + "vrrp_sync_group \"G\" {\n  instances = [\"VI_2\"]\n}\n", `Did you mean "VI_1"?`, "7:1"},
		{"instance in two sync groups", vi("") + "vrrp_sync_group \"G1\" {\n  instances = [\"VI_1\"]\n}\nvrrp_sync_group \"G2\" {\n  instances = [\"VI_1\"]\n}\n", "Instance in two sync groups", "10:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantDiagnostic(t, tt.src, tt.want, tt.pos) })
	}
	if len(tests) < 40 {
		t.Errorf("only %d invalid configurations; the acceptance needs at least 40", len(tests))
	}
}

// wantDiagnostic fails t unless src is refused with a diagnostic containing want (in
// "Summary: Detail") whose subject starts at pos ("line:col").
func wantDiagnostic(t *testing.T, src, want, pos string) {
	t.Helper()
	cfg, diags := parse([]byte(src), "test.hcl", testOptions(nil))
	if cfg != nil || !diags.HasErrors() {
		t.Fatalf("parse succeeded, want error %q at %s", want, pos)
	}
	var got []string
	for _, d := range diags {
		at := "none"
		if d.Subject != nil {
			at = fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
		}
		msg := d.Summary + ": " + d.Detail
		if at == pos && strings.Contains(msg, want) {
			return
		}
		got = append(got, at+" "+msg)
	}
	t.Errorf("no diagnostic %q at %s; got:\n  %s", want, pos, strings.Join(got, "\n  "))
}
