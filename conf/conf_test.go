package conf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
)

// testOptions pins the environment and host name so tests do not depend on the machine.
func testOptions(env map[string]string) options {
	return options{
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		hostname:  func() (string, error) { return "", errors.New("no host name in tests") },
	}
}

var cmpOpts = cmp.Options{
	cmpopts.IgnoreTypes(hcl.Range{}),
	cmp.Comparer(func(a, b *regexp.Regexp) bool {
		return (a == nil) == (b == nil) && (a == nil || a.String() == b.String())
	}),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func mustParse(t *testing.T, src string, env map[string]string) *Config {
	t.Helper()
	cfg, diags := parse([]byte(src), "test.hcl", testOptions(env))
	if diags.HasErrors() {
		var b strings.Builder
		WriteDiagnostics(&b, diags, map[string][]byte{"test.hcl": []byte(src)})
		t.Fatalf("parse failed:\n%s", b.String())
	}
	return cfg
}

func exampleFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("../examples", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".hcl") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 7 {
		t.Fatalf("found %d example files, want at least 7: %v", len(files), files)
	}
	return files
}

func TestExamplesLoad(t *testing.T) {
	t.Setenv("VIGIL_MYSQL_PASSWORD", "") // the examples must not depend on the environment
	os.Unsetenv("VIGIL_MYSQL_PASSWORD")
	for _, f := range exampleFiles(t) {
		t.Run(f, func(t *testing.T) {
			cfg, diags := Load(f)
			if diags.HasErrors() {
				var b strings.Builder
				WriteDiagnostics(&b, diags, nil)
				t.Fatalf("Load(%s):\n%s", f, b.String())
			}
			if w := cfg.Warnings(); len(w) > 0 {
				t.Errorf("Load(%s) warns: %v", f, w)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	got := mustParse(t, `
virtual_server "web" {
  address  = "198.18.0.254:80"
  protocol = "tcp"
  persistence {}
  real_server "rs1" {
    address = "198.18.0.21"
    check "http" {}
    check "mysql" {
      user = "monitor"
    }
  }
}
vrrp_instance "VI_1" {
  interface           = "eth0"
  virtual_router_id   = 51
  virtual_ipaddresses = ["198.18.0.254"]
}
`, nil)
	want := &Config{
		Global: Global{
			RouterID:       "vigil",
			Listen:         netip.MustParseAddrPort("127.0.0.1:9110"),
			LogLevel:       LogInfo,
			LogFormat:      LogText,
			Dataplane:      DataplaneAuto,
			ResyncInterval: 30 * time.Second,
			ManageSysctls:  true, ControlSocket: DefaultControlSocket, StateDir: DefaultStateDir,
		},
		VirtualServers: []*VirtualServer{{
			Name:        "web",
			Address:     netip.MustParseAddrPort("198.18.0.254:80"),
			Family:      Inet,
			Protocol:    TCP,
			Scheduler:   WeightedLeastConnection,
			Forwarding:  NAT,
			Persistence: &Persistence{Timeout: 300 * time.Second, Netmask: 32},
			OnFailure:   Quiesce,
			Quorum:      1,
			RealServers: []*RealServer{{
				Name:       "rs1",
				Address:    netip.MustParseAddrPort("198.18.0.21:80"),
				Weight:     1,
				Forwarding: NAT,
				Checks: []*Check{{
					Kind: CheckHTTP, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
					Target: netip.MustParseAddrPort("198.18.0.21:80"),
					HTTP:   &HTTPCheck{Method: "GET", Path: "/", ExpectStatus: []StatusRange{{200, 299}}, MaxBodyBytes: 1 << 20},
				}, {
					Kind: CheckMySQL, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
					Target: netip.MustParseAddrPort("198.18.0.21:80"),
					MySQL:  &MySQLCheck{User: "monitor", TLS: MySQLTLSOff, Query: "SELECT 1"},
				}},
			}},
		}},
		VRRPInstances: []*VRRPInstance{{
			Name:               "VI_1",
			Interface:          "eth0",
			VirtualRouterID:    51,
			Priority:           100,
			Version:            3,
			Family:             Inet,
			AdvertInterval:     time.Second,
			Preempt:            true,
			Accept:             true,
			Handover:           true,
			VirtualIPAddresses: []netip.Prefix{netip.MustParsePrefix("198.18.0.254/32")},
			Notify:             Notify{Timeout: 10 * time.Second},
			GARP:               GARP{MasterRepeat: 5, MasterDelay: 5 * time.Second},
		}},
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestEverything(t *testing.T) {
	got := mustParse(t, `
global {
  router_id          = "lb-a"
  listen             = ""
  log_level          = "debug"
  log_format         = "json"
  dataplane          = "kernel"
  resync_interval    = "1m"
  manage_sysctls     = false
  remove_on_shutdown = true
  ipvs_timeouts {
    tcp    = "900s"
    tcpfin = "120s"
    udp    = "300s"
  }
}
virtual_server "dns" {
  address         = "[2001:db8::254]:53"
  protocol        = "udp"
  scheduler       = "sh"
  scheduler_flags = ["sh-port", "sh-fallback", "ops"]
  on_failure      = "remove"
  quorum          = 2
  hysteresis      = 1
  sorry_server    = "2001:db8::99"
  persistence {
    timeout = "1h"
    netmask = 64
  }
  real_server "a" {
    address         = "[2001:db8::21]:5353"
    weight          = 3
    upper_threshold = 100
    lower_threshold = 50
    check "tcp" {
      connect_address = "2001:db8::21"
      connect_port    = 53
      source_address  = "2001:db8::11"
      send            = "ping\n"
      expect          = "^pong"
    }
    check "exec" {
      command        = "dig @2001:db8::21 example.org"
      shell          = true
      user           = "nobody"
      dynamic_weight = true
      env            = { LANG = "C" }
    }
  }
}
virtual_server "web" {
  fwmark     = 6666
  family     = "inet"
  forwarding = "dr"
  persistence {
    netmask = "255.255.255.0"
  }
  real_server "b" {
    address = "198.18.0.22"
    check "https" {
      connect_port    = 443
      method          = "head"
      path            = "/healthz?full=1"
      host            = "www.example.org"
      headers         = { "X-Check" = "vigil" }
      expect_status   = [200, "301-302"]
      expect_body     = "ok|OK"
      expect_digest   = "D41D8CD98F00B204E9800998ECF8427E"
      tls_ca_file     = "/etc/ssl/ca.pem"
      tls_server_name = "www.example.org"
      tls_cert_file   = "/etc/vigil/c.pem"
      tls_key_file    = "/etc/vigil/k.pem"
      max_body_bytes  = 4096
      interval        = "5s"
      timeout         = "5s"
      rise            = 1
      fall            = 5
    }
    check "mysql" {
      connect_port = 3306
      user         = "monitor"
      password     = env("PW")
      database     = "mysql"
      tls          = true
      query        = "SELECT @@read_only"
      expect       = "0"
    }
  }
}
vrrp_instance "VI_6" {
  interface           = "eth0"
  virtual_router_id   = 52
  priority            = 254
  version             = 3
  advert_interval     = "100ms"
  preempt             = true
  preempt_delay       = "30s"
  handover            = false
  accept              = true
  virtual_ipaddresses = ["2001:db8::254/64", "2001:db8::253"]
  unicast_src         = "2001:db8::11"
  unicast_peers       = ["2001:db8::12"]
  notify_master       = ["/etc/vigil/notify", "master"]
  notify_backup       = ["/etc/vigil/notify", "backup"]
  notify_fault        = ["/etc/vigil/notify", "fault"]
  notify              = ["/etc/vigil/notify-any"]
  notify_timeout      = "5s"
  garp_master_repeat  = 3
  garp_master_delay   = "0s"
  garp_master_refresh = "60s"
  track_interface "eth1" {
    weight = -20
  }
  track_interface "eth2" {}
  track_virtual_server "dns" {
    weight = -60
  }
}
vrrp_instance "VI_4" {
  interface           = "eth0"
  virtual_router_id   = 52
  version             = 2
  advert_interval     = "2s"
  virtual_ipaddresses = ["198.18.0.254/24"]
  ipvs_sync {
    sync_id = 7
  }
}
vrrp_sync_group "G" {
  instances = ["VI_6", "VI_4"]
}
`, map[string]string{"PW": "s3cret"})
	want := &Config{
		Global: Global{
			RouterID: "lb-a", LogLevel: LogDebug, LogFormat: LogJSON, Dataplane: DataplaneKernel,
			ResyncInterval: time.Minute, RemoveOnShutdown: true,
			ControlSocket: DefaultControlSocket, StateDir: DefaultStateDir,
			IPVSTimeouts: IPVSTimeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second},
		},
		VirtualServers: []*VirtualServer{{
			Name: "dns", Address: netip.MustParseAddrPort("[2001:db8::254]:53"), Family: Inet6, Protocol: UDP,
			Scheduler: SourceHashing, SchedulerFlags: []SchedulerFlag{SHPort, SHFallback, OnePacket},
			Forwarding: NAT, OnFailure: Remove, Quorum: 2, Hysteresis: 1,
			SorryServer: netip.MustParseAddrPort("[2001:db8::99]:53"),
			Persistence: &Persistence{Timeout: time.Hour, Netmask: 64},
			RealServers: []*RealServer{{
				Name: "a", Address: netip.MustParseAddrPort("[2001:db8::21]:5353"), Weight: 3, Forwarding: NAT,
				UpperThreshold: 100, LowerThreshold: 50,
				Checks: []*Check{{
					Kind: CheckTCP, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
					Target: netip.MustParseAddrPort("[2001:db8::21]:53"), Source: netip.MustParseAddr("2001:db8::11"),
					TCP: &TCPCheck{Send: "ping\n", Expect: regexp.MustCompile("^pong")},
				}, {
					Kind: CheckExec, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
					Exec: &ExecCheck{Command: []string{"/bin/sh", "-c", "dig @2001:db8::21 example.org"}, Shell: true,
						User: "nobody", DynamicWeight: true, Env: map[string]string{"LANG": "C"}},
				}},
			}},
		}, {
			Name: "web", FWMark: 6666, Family: Inet, Scheduler: WeightedLeastConnection, Forwarding: DR,
			OnFailure: Quiesce, Quorum: 1, Persistence: &Persistence{Timeout: 300 * time.Second, Netmask: 24},
			RealServers: []*RealServer{{
				Name: "b", Address: netip.MustParseAddrPort("198.18.0.22:0"), Weight: 1, Forwarding: DR,
				Checks: []*Check{{
					Kind: CheckHTTP, Interval: 5 * time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 5,
					Target: netip.MustParseAddrPort("198.18.0.22:443"),
					HTTP: &HTTPCheck{Method: "HEAD", Path: "/healthz?full=1", Host: "www.example.org",
						Headers:      map[string]string{"X-Check": "vigil"},
						ExpectStatus: []StatusRange{{200, 200}, {301, 302}}, ExpectBody: regexp.MustCompile("ok|OK"),
						ExpectDigest: "d41d8cd98f00b204e9800998ecf8427e", MaxBodyBytes: 4096,
						TLS: &TLS{CAFile: "/etc/ssl/ca.pem", ServerName: "www.example.org", CertFile: "/etc/vigil/c.pem", KeyFile: "/etc/vigil/k.pem"}},
				}, {
					Kind: CheckMySQL, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
					Target: netip.MustParseAddrPort("198.18.0.22:3306"),
					MySQL: &MySQLCheck{User: "monitor", Password: "s3cret", Database: "mysql", TLS: MySQLTLSOn,
						Query: "SELECT @@read_only", Expect: "0"},
				}},
			}},
		}},
		VRRPInstances: []*VRRPInstance{{
			Name: "VI_6", Interface: "eth0", VirtualRouterID: 52, Priority: 254, Version: 3, Family: Inet6,
			AdvertInterval: 100 * time.Millisecond, Preempt: true, PreemptDelay: 30 * time.Second, Accept: true,
			VirtualIPAddresses:  []netip.Prefix{netip.MustParsePrefix("2001:db8::254/64"), netip.MustParsePrefix("2001:db8::253/128")},
			UnicastSource:       netip.MustParseAddr("2001:db8::11"),
			UnicastPeers:        []netip.Addr{netip.MustParseAddr("2001:db8::12")},
			TrackInterfaces:     []TrackInterface{{Name: "eth1", Weight: -20}, {Name: "eth2"}},
			TrackVirtualServers: []TrackVirtualServer{{Name: "dns", Weight: -60}},
			Notify: Notify{Master: []string{"/etc/vigil/notify", "master"}, Backup: []string{"/etc/vigil/notify", "backup"},
				Fault: []string{"/etc/vigil/notify", "fault"}, Any: []string{"/etc/vigil/notify-any"}, Timeout: 5 * time.Second},
			GARP: GARP{MasterRepeat: 3, MasterRefresh: time.Minute},
		}, {
			Name: "VI_4", Interface: "eth0", VirtualRouterID: 52, Priority: 100, Version: 2, Family: Inet,
			AdvertInterval: 2 * time.Second, Preempt: true, Accept: true, Handover: true,
			VirtualIPAddresses: []netip.Prefix{netip.MustParsePrefix("198.18.0.254/24")},
			Notify:             Notify{Timeout: 10 * time.Second},
			GARP:               GARP{MasterRepeat: 5, MasterDelay: 5 * time.Second},
			IPVSSync:           &IPVSSync{Interface: "eth0", SyncID: 7},
		}},
		SyncGroups: []*SyncGroup{{Name: "G", Instances: []string{"VI_6", "VI_4"}}},
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// TestAllErrorsAtOnce: one run reports every problem, not just the first.
func TestAllErrorsAtOnce(t *testing.T) {
	src := "global {\n  log_level = \"loud\"\n}\nvirtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  scheduler = \"x\"\n  real_server \"a\" {\n    weight = 70000\n  }\n}\n"
	_, diags := parse([]byte(src), "test.hcl", testOptions(nil))
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%d:%d %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
	}
	want := []string{
		"2:15 Invalid value for log_level",
		"4:1 Missing required argument", // protocol
		"6:15 Invalid value for scheduler",
		"7:3 Missing required argument", // address
		"8:14 Value out of range",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const pw = "hunter2-very-secret"
	cfg := mustParse(t, `
virtual_server "db" {
  address  = "198.18.0.254:3306"
  protocol = "tcp"
  real_server "db1" {
    address = "198.18.0.21"
    check "mysql" {
      user     = "monitor"
      password = env("PW")
    }
  }
}
`, map[string]string{"PW": pw})
	m := cfg.VirtualServers[0].RealServers[0].Checks[0].MySQL
	if m.Password.Reveal() != pw {
		t.Fatalf("Reveal() = %q, want the password", m.Password.Reveal())
	}
	js, err := cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	std, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("check", "password", m.Password, "mysql", m)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("check", "password", m.Password)
	outputs := map[string]string{
		"JSON()":      string(js),
		"json":        string(std),
		"%v":          fmt.Sprintf("%v", m),
		"%+v":         fmt.Sprintf("%+v", *m),
		"%#v":         fmt.Sprintf("%#v", *m),
		"%s":          fmt.Sprintf("%s", m.Password),
		"%q":          fmt.Sprintf("%q", m.Password),
		"slog":        logged.String(),
		"MarshalText": func() string { b, _ := m.Password.MarshalText(); return string(b) }(),
	}
	for name, out := range outputs {
		if strings.Contains(out, pw) {
			t.Errorf("%s leaks the password: %s", name, out)
		}
		if !strings.Contains(out, "<redacted>") && !strings.Contains(out, `\u003credacted\u003e`) {
			t.Errorf("%s does not say <redacted>: %s", name, out)
		}
	}
	if got := Secret("").String(); got != "" {
		t.Errorf("empty Secret renders %q, want \"\"", got)
	}
}

func TestWarnings(t *testing.T) {
	cfg := mustParse(t, `
global {
  manage_sysctls = false
}
virtual_server "web" {
  address  = "198.18.0.254:80"
  protocol = "tcp"
  quorum   = 5
  persistence {}
  real_server "a" {
    address = "198.18.0.21"
  }
}
virtual_server "empty" {
  fwmark     = 1
  on_failure = "remove"
}
vrrp_instance "VI_1" {
  interface           = "eth0"
  virtual_router_id   = 51
  virtual_ipaddresses = ["198.18.0.253/24"]
}
`, nil)
	var got []string
	for _, d := range cfg.Warnings() {
		if d.Severity != hcl.DiagWarning {
			t.Errorf("severity %v, want warning", d.Severity)
		}
		got = append(got, fmt.Sprintf("%d:%d %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
	}
	want := []string{
		"5:1 Sysctl needed",
		"5:1 Quorum unreachable",
		"5:1 Address not managed by VRRP",
		"14:1 Sysctl needed",
		"14:1 No real servers",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestWriteDiagnostics(t *testing.T) {
	src := "virtual_server \"web\" {\n\tfwmark = 1\n\tscheduler = \"wrc\"\n}\n"
	_, diags := parse([]byte(src), "web.hcl", testOptions(nil))
	var b strings.Builder
	if err := WriteDiagnostics(&b, diags, map[string][]byte{"web.hcl": []byte(src)}); err != nil {
		t.Fatal(err)
	}
	want := "web.hcl:3:14: error: Invalid value for scheduler: \"wrc\" is not valid; use one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh. Did you mean \"wrr\"?\n" +
		"    3 | \tscheduler = \"wrc\"\n" +
		"      | \t            ^^^^^\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestEnvDefault(t *testing.T) {
	src := "global {\n  router_id = env(\"RID\", \"fallback\")\n}\nvirtual_server \"web\" {\n  fwmark = 1\n}\n"
	if got := mustParse(t, src, nil).Global.RouterID; got != "fallback" {
		t.Errorf("unset with default: router_id = %q, want fallback", got)
	}
	if got := mustParse(t, src, map[string]string{"RID": "lb-z"}).Global.RouterID; got != "lb-z" {
		t.Errorf("set: router_id = %q, want lb-z", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	cfg, diags := Load(filepath.Join(t.TempDir(), "nope.hcl"))
	if cfg != nil || !diags.HasErrors() || !strings.Contains(diags.Error(), "no such file") {
		t.Errorf("Load(missing) = %v, %v; want a read error", cfg, diags)
	}
}

// A check's timeout defaults to the smaller of 1s and its interval, so a short interval
// alone is valid; on main interval = "500ms" was an error ("timeout (1s) must not exceed
// its interval (500ms)").
func TestCheckTimeoutDefault(t *testing.T) {
	for _, tt := range []struct {
		body          string
		interval, out time.Duration
	}{
		{`      interval = "500ms"`, 500 * time.Millisecond, 500 * time.Millisecond},
		{`      interval = "10ms"`, 10 * time.Millisecond, 10 * time.Millisecond},
		{`      interval = "1s"`, time.Second, time.Second},
		{`      interval = "5s"`, 5 * time.Second, time.Second},
		{``, 2 * time.Second, time.Second},
		{`      interval = "500ms"` + "\n" + `      timeout = "100ms"`, 500 * time.Millisecond, 100 * time.Millisecond},
	} {
		c := mustParse(t, chk("tcp", tt.body), nil).VirtualServers[0].RealServers[0].Checks[0]
		if c.Interval != tt.interval || c.Timeout != tt.out {
			t.Errorf("%q: interval %s timeout %s, want %s and %s", tt.body, c.Interval, c.Timeout, tt.interval, tt.out)
		}
	}
}

// What is no loop stays valid: a real server that is another virtual server on kernel
// IPVS (which does not proxy), or one of another protocol, or on another port.
func TestNotLoops(t *testing.T) {
	other := "virtual_server \"b\" {\n  address = \"198.18.0.253:80\"\n  protocol = \"%s\"\n}\n"
	for name, src := range map[string]string{
		"kernel":                  "global {\n  dataplane = \"kernel\"\n}\n" + vs("    address = \"198.18.0.253\"") + fmt.Sprintf(other, "tcp"),
		"other protocol":          "global {\n  dataplane = \"userspace\"\n}\n" + vs("    address = \"198.18.0.253\"") + fmt.Sprintf(other, "udp"),
		"other port":              "global {\n  dataplane = \"userspace\"\n}\n" + vs("    address = \"198.18.0.253:81\"") + fmt.Sprintf(other, "tcp"),
		"own address, other port": vs("    address = \"198.18.0.254:8080\""),
	} {
		if _, diags := parse([]byte(src), "test.hcl", testOptions(nil)); diags.HasErrors() {
			t.Errorf("%s: %v", name, diags)
		}
	}
}

// TestMySQLQuery: the query defaults to SELECT 1 without an expect; query = "" means log
// in and ping only (README, check "mysql").
func TestMySQLQuery(t *testing.T) {
	for _, tc := range []struct {
		name, body, query, expect string
	}{
		{"defaults", ``, DefaultMySQLQuery, ""},
		{"ping only", `query = ""`, "", ""},
		{"query and expect", "query = \"SELECT lag FROM replica\"\n      expect = \"0\"", "SELECT lag FROM replica", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, `
virtual_server "db" {
  address  = "198.18.0.254:3306"
  protocol = "tcp"
  real_server "db1" {
    address = "198.18.0.21"
    check "mysql" {
      user = "monitor"
      `+tc.body+`
    }
  }
}
`, nil)
			m := cfg.VirtualServers[0].RealServers[0].Checks[0].MySQL
			if m.Query != tc.query || m.Expect != tc.expect {
				t.Errorf("query %q expect %q, want %q and %q", m.Query, m.Expect, tc.query, tc.expect)
			}
		})
	}
}
