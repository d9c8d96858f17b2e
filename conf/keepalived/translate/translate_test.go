package translate

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/conf/keepalived"
)

// imp imports main.conf (and the other files) of a test file system for config-id lb1,
// and checks what every import must hold: the output passes vigil's parser, every note
// is "FILE:LINE: keyword: text" and is repeated as a comment.
func imp(t *testing.T, files map[string]string) (string, string) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys["k/"+name] = &fstest.MapFile{Data: []byte(data)}
	}
	cfg, err := keepalived.Read("/k/main.conf", keepalived.Options{FS: keepalived.FromFS(fsys), ConfigID: "lb1"})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	res, err := Translate(cfg)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	out := string(res.HCL)
	if _, diags := conf.Parse(res.HCL, "import.hcl"); diags.HasErrors() {
		t.Fatalf("vigil check refuses the output: %s\n%s", diags.Error(), out)
	}
	var notes strings.Builder
	for _, n := range res.Notes {
		s := n.String()
		if !noteRE.MatchString(s) {
			t.Errorf("note %q is not FILE:LINE: keyword: text", s)
		}
		if !strings.Contains(out, "# "+commentSafe(s)+"\n") {
			t.Errorf("note %q is not a comment in the output", s)
		}
		notes.WriteString(s + "\n")
	}
	return out, notes.String()
}

var noteRE = regexp.MustCompile(`^/k/[^:]+:[1-9][0-9]*: [^ :]+: .+$`)

// attr matches `name = value` as hclwrite aligns it.
func attr(name, value string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s+= ` + regexp.QuoteMeta(value) + `$`)
}

// vsConf is a virtual server 10.0.0.1:80/tcp with the given lines, and one real server
// 10.0.0.11:80 with the given lines.
func vsConf(vsLines, rsLines string) map[string]string {
	return map[string]string{"main.conf": vsText(vsLines, "10.0.0.11", rsLines)}
}

func vsText(vsLines, rs, rsLines string) string {
	return fmt.Sprintf("virtual_server 10.0.0.1 80 {\n protocol TCP\n%s\n real_server %s 80 {\n%s\n }\n}\n", vsLines, rs, rsLines)
}

// TestBehaviourKept: keepalived's defaults, where vigil's differ, are written out, and
// keepalived's timings become vigil's with the arithmetic in a comment; each case is
// what keepalived.conf(5) and keepalived's check code say keepalived does.
func TestBehaviourKept(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []*regexp.Regexp // in the HCL
		not   []*regexp.Regexp
		notes []string // substrings of the notes
	}{
		{
			name:  "VRRP version 2 unless vrrp_version",
			files: map[string]string{"main.conf": "vrrp_instance VI { interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"},
			want:  []*regexp.Regexp{attr("version", "2"), regexp.MustCompile(`keepalived's default VRRP version is 2`)},
		},
		{
			name:  "vrrp_version 3 of global_defs",
			files: map[string]string{"main.conf": "global_defs {\n vrrp_version 3\n}\nvrrp_instance VI { interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"},
			want:  []*regexp.Regexp{attr("version", "3")},
			not:   []*regexp.Regexp{regexp.MustCompile(`default VRRP version is 2`)},
		},
		{
			name:  "a failed real server is removed",
			files: vsConf(" lb_algo rr", "  TCP_CHECK {\n  }"),
			want:  []*regexp.Regexp{attr("on_failure", `"remove"`), attr("rise", "1")},
		},
		{
			name:  "inhibit_on_failure quiesces",
			files: vsConf(" inhibit_on_failure", "  TCP_CHECK {\n  }"),
			want:  []*regexp.Regexp{attr("on_failure", `"quiesce"`)},
		},
		{
			name:  "keepalived's timing defaults: delay_loop 60, connect_timeout 5, retry 1",
			files: vsConf("", "  TCP_CHECK {\n  }"),
			want: []*regexp.Regexp{attr("interval", `"60s"`), attr("timeout", `"5s"`), attr("fall", "2"), attr("rise", "1"),
				regexp.MustCompile(`# interval = delay_loop 60s, timeout = connect_timeout 5s, fall = 1 \+ retry 1, rise = 1`)},
		},
		{
			name:  "delay_loop, retry and connect_timeout inherited from the virtual server",
			files: vsConf(" delay_loop 4\n connect_timeout 2\n retry 3", "  TCP_CHECK {\n  }"),
			want:  []*regexp.Regexp{attr("interval", `"4s"`), attr("timeout", `"2s"`), attr("fall", "4")},
		},
		{
			name:  "a timeout above the interval is the interval, with a note",
			files: vsConf(" delay_loop 3", "  TCP_CHECK {\n   connect_timeout 10\n  }"),
			want:  []*regexp.Regexp{attr("interval", `"3s"`), attr("timeout", `"3s"`)},
			notes: []string{"connect_timeout: connect_timeout 10s is longer than delay_loop 3s"},
		},
		{
			name:  "delay_before_retry: the detection time in a comment and a note",
			files: vsConf(" delay_loop 10", "  HTTP_GET {\n   url {\n    path /\n   }\n   connect_timeout 2\n   retry 2\n   delay_before_retry 1\n  }"),
			want:  []*regexp.Regexp{regexp.MustCompile(`down within about 3 x 10s = 30s instead of 10s \+ 2 x \(1s \+ 2s\) = 16s`), attr("fall", "3")},
			notes: []string{"delay_before_retry: vigil retries at the check's interval (10s), not 1s after a failure"},
		},
		{
			name:  "SSL_GET does not verify the certificate",
			files: vsConf("", "  SSL_GET {\n   url {\n    path /health\n    status_code 200\n   }\n  }"),
			want:  []*regexp.Regexp{regexp.MustCompile(`check "https"`), attr("tls_skip_verify", "true"), attr("path", `"/health"`), attr("expect_status", "[200]")},
		},
		{
			name:  "DR: the real server's port is the service's, noted",
			files: vsConf(" lb_kind DR", "  TCP_CHECK {\n  }"),
			want:  []*regexp.Regexp{attr("forwarding", `"dr"`)},
		},
		{
			name:  "DR with another port: dropped with a note",
			files: map[string]string{"main.conf": "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_kind DR\n real_server 10.0.0.11 8080 {\n  TCP_CHECK {\n  }\n }\n}\n"},
			want:  []*regexp.Regexp{attr("address", `"10.0.0.11"`)},
			notes: []string{`real_server: port 8080 with DR forwarding differs from the service's (80): keepalived resets it`},
		},
		{
			name:  "port 0: a persistent service of every port",
			files: map[string]string{"main.conf": "virtual_server 10.0.0.1 0 {\n protocol TCP\n lb_kind DR\n persistence_timeout 120\n real_server 10.0.0.11 0 {\n  TCP_CHECK {\n   connect_port 22\n  }\n }\n}\n"},
			want:  []*regexp.Regexp{attr("address", `"10.0.0.1"`), attr("timeout", `"120s"`), attr("connect_port", "22")},
		},
		{
			name:  "a bare persistence_timeout is 360 s",
			files: vsConf(" persistence_timeout", "  TCP_CHECK {\n  }"),
			want:  []*regexp.Regexp{attr("timeout", `"360s"`)},
		},
		{
			name:  "aliases lb_algo, lb_kind, nb_get_retry",
			files: vsConf(" lb_algo sh\n lb_kind TUN", "  HTTP_GET {\n   url {\n    path /\n   }\n   nb_get_retry 4\n  }"),
			want:  []*regexp.Regexp{attr("scheduler", `"sh"`), attr("forwarding", `"tun"`), attr("fall", "5")},
		},
		{
			name:  "aliases lvs_sched, lvs_method, retry",
			files: vsConf(" lvs_sched sh\n lvs_method TUN", "  HTTP_GET {\n   url {\n    path /\n   }\n   retry 4\n  }"),
			want:  []*regexp.Regexp{attr("scheduler", `"sh"`), attr("forwarding", `"tun"`), attr("fall", "5")},
		},
		{
			name: "group ranges, prefixes and fwmarks",
			files: map[string]string{"main.conf": "virtual_server_group G {\n 10.0.0.1-3 80\n 10.0.1.0/30 80\n 2001:db8::1-2 80\n fwmark 7\n}\n" +
				"virtual_server group G {\n protocol TCP\n lb_kind DR\n real_server 10.0.0.11 80 {\n  TCP_CHECK {\n  }\n }\n}\n"},
			want: []*regexp.Regexp{regexp.MustCompile(`"10.0.0.1-3:80"`), regexp.MustCompile(`"10.0.1.0/30:80"`), attr("fwmarks", "[7]"), attr("group", `"G"`)},
		},
		{
			name:  "a real server's range is its first address, as inet_stosockaddr reads it",
			files: map[string]string{"main.conf": vsText("", "10.0.0.21-23", "  TCP_CHECK {\n  }")},
			want:  []*regexp.Regexp{attr("address", `"10.0.0.21:80"`)},
			notes: []string{`real_server: "10.0.0.21-23": keepalived reads a real server's address only up to a '-' or '/'`},
		},
		{
			name:  "a password stays the literal, with a note suggesting env()",
			files: map[string]string{"main.conf": "vrrp_instance VI { interface eth0\n virtual_router_id 1\n priority 100\n authentication {\n auth_type PASS\n auth_pass s3cr3t\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"},
			want:  []*regexp.Regexp{attr("password", `"s3cr3t"`), attr("type", `"pass"`)},
			notes: []string{`main.conf:6: auth_pass: the password is written as the keepalived file has it; better: password = env("VRRP_PASSWORD")`},
		},
		{
			name:  "an unknown keyword is a note, not an error",
			files: map[string]string{"main.conf": "global_defs {\n router_id r1\n no_such_keyword 1\n}\n" + vsText("", "10.0.0.11", "")},
			want:  []*regexp.Regexp{attr("router_id", `"r1"`)},
			notes: []string{"main.conf:3: no_such_keyword: not carried over: vigil import does not know `no_such_keyword` in global_defs"},
		},
		{
			name:  "nopreempt with state MASTER is cleared, as keepalived clears it",
			files: map[string]string{"main.conf": "vrrp_instance VI { state MASTER\n nopreempt\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"},
			not:   []*regexp.Regexp{attr("preempt", "false")},
			notes: []string{"main.conf:2: nopreempt: keepalived clears it with state MASTER"},
		},
		{
			name:  "nopreempt with state BACKUP",
			files: map[string]string{"main.conf": "vrrp_instance VI { state BACKUP\n nopreempt\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"},
			want:  []*regexp.Regexp{attr("preempt", "false")},
		},
		{
			name:  "a VIP listed twice is listed once",
			files: map[string]string{"main.conf": "vrrp_instance VI { interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n 10.0.0.1\n 10.0.0.1 label eth0:1\n }\n}\n"},
			want:  []*regexp.Regexp{attr("virtual_ipaddresses", `["10.0.0.1"]`)},
			notes: []string{"main.conf:6: virtual_ipaddress: 10.0.0.1 is listed twice"},
		},
		{
			name: "each block names its source file:line",
			files: map[string]string{"main.conf": "global_defs {\n router_id r1\n}\ninclude vs.conf\n",
				"vs.conf": "\n" + vsText("", "10.0.0.11", "  TCP_CHECK {\n  }")},
			want: []*regexp.Regexp{regexp.MustCompile(`(?m)^# /k/main.conf:1\nglobal \{`), regexp.MustCompile(`(?m)^# /k/vs.conf:2\nvirtual_server "10.0.0.1-80-tcp" \{`),
				regexp.MustCompile(`(?m)^  # /k/vs.conf:5\n  real_server "10.0.0.11-80" \{`)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, notes := imp(t, c.files)
			for _, re := range c.want {
				if !re.MatchString(out) {
					t.Errorf("output lacks %s:\n%s", re, out)
				}
			}
			for _, re := range c.not {
				if re.MatchString(out) {
					t.Errorf("output has %s:\n%s", re, out)
				}
			}
			for _, n := range c.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes lack %q:\n%s", n, notes)
				}
			}
		})
	}
}

// TestNothingToRun: a keepalived configuration of which vigil would run nothing is an
// error (vigil check refuses such a file), with the notes that say why.
func TestNothingToRun(t *testing.T) {
	fsys := fstest.MapFS{"k/main.conf": {Data: []byte("global_defs {\n router_id r1\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n}\n")}}
	cfg, err := keepalived.Read("/k/main.conf", keepalived.Options{FS: keepalived.FromFS(fsys), ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Translate(cfg)
	if err == nil || !strings.Contains(err.Error(), "/k/main.conf: nothing for vigil to run") {
		t.Fatalf("error %v, want nothing to run at /k/main.conf", err)
	}
	if len(res.Notes) == 0 || !strings.Contains(res.Notes[0].String(), "/k/main.conf:4: virtual_server: ") {
		t.Errorf("notes %v, want the virtual server without real servers", res.Notes)
	}
}
