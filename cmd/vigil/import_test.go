package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runImport(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"import"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

const importSample = `! a keepalived file
global_defs {
   router_id LB1
   notification_email_from lb1@example.com
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    authentication {
        auth_type PASS
        auth_pass pw1234
    }
    virtual_ipaddress {
        192.0.2.10
    }
}
virtual_server 192.0.2.10 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.0.2.21 80 {
        HTTP_GET {
            url {
                path /
            }
        }
    }
}
`

// TestImportCLI: vigil import FILE -o OUT writes a file that vigil check accepts as
// written, notes every difference on stderr as FILE:LINE: keyword: text, keeps a file
// with a password to its owner, and exits 0; -o naming the input, a missing FILE or an
// extra argument are usage errors (2); an unreadable or empty input is 1.
func TestImportCLI(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(in, []byte(importSample), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "vigil.hcl")
	code, stdout, stderr := runImport(t, in, "-o", out, "--config-id", "lb1")
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{in + ":4: notification_email_from: ", in + ":12: auth_pass: the password is written as the keepalived file has it"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	noteLine := regexp.MustCompile(`^` + regexp.QuoteMeta(in) + `:\d+: \S+: .+$`)
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !noteLine.MatchString(l) && !strings.HasPrefix(l, "vigil import: wrote "+out) {
			t.Errorf("stderr line %q is neither FILE:LINE: keyword: text nor the summary", l)
		}
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v, want 0600 (it holds a password)", fi.Mode().Perm())
	}
	src, _ := os.ReadFile(out)
	for _, want := range []string{`# ` + regexp.QuoteMeta(in) + `:18\nvirtual_server `, `version += 2`, `on_failure += "remove"`, `rise += 1`} {
		if !regexp.MustCompile(want).Match(src) {
			t.Errorf("output lacks %q:\n%s", want, src)
		}
	}
	if code, _, stderr := runCheck(t, "-f", out); code != 0 {
		t.Fatalf("vigil check of the output: exit %d\n%s\n%s", code, stderr, src)
	}
	// Standard output without -o.
	if code, stdout, _ := runImport(t, "--config-id", "lb1", in); code != 0 || stdout != string(src) {
		t.Errorf("to stdout: exit %d, output differs from -o's: %v", code, stdout != string(src))
	}

	empty := filepath.Join(dir, "empty.conf")
	os.WriteFile(empty, []byte("global_defs {\n router_id x\n}\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{filepath.Join(dir, "missing.conf")}, 1, "missing.conf"},
		{[]string{empty}, 1, empty + ": nothing for vigil to run"},
		{[]string{in, "-o", in}, 2, "is the keepalived configuration itself"},
		{nil, 2, "FILE is required"},
		{[]string{in, in}, 2, "unexpected argument"},
		{[]string{"--no-such-flag", in}, 2, ""},
	} {
		code, _, stderr := runImport(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("vigil import %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.msg)
		}
	}
	if b, _ := os.ReadFile(in); string(b) != importSample {
		t.Error("the input was changed")
	}
}
