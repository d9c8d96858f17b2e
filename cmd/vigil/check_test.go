package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runCheck(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(append([]string{"check"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigil.hcl")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckExamples is the acceptance test: vigil check -f exits 0 on every example.
func TestCheckExamples(t *testing.T) {
	os.Unsetenv("VIGIL_MYSQL_PASSWORD")
	var files []string
	filepath.WalkDir("../../examples", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".hcl") {
			files = append(files, path)
		}
		return err
	})
	if len(files) < 7 {
		t.Fatalf("found %d example files, want at least 7", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			code, _, stderr := runCheck(t, "-f", f)
			if code != 0 {
				t.Errorf("vigil check -f %s = %d, want 0; stderr:\n%s", f, code, stderr)
			}
			if strings.Contains(stderr, "warning") {
				t.Errorf("vigil check -f %s warns:\n%s", f, stderr)
			}
		})
	}
}

func TestCheckExitCodes(t *testing.T) {
	valid := writeFile(t, "virtual_server \"web\" {\n  fwmark = 1\n  real_server \"a\" {\n    address = \"198.18.0.21\"\n  }\n}\n")
	invalid := writeFile(t, "virtual_server \"web\" {\n  address = \"198.18.0.254:80\"\n  scheduler = \"wrc\"\n}\n")
	warns := writeFile(t, "global {\n  manage_sysctls = false\n}\nvirtual_server \"web\" {\n  fwmark = 1\n  on_failure = \"remove\"\n  real_server \"a\" {\n    address = \"198.18.0.21\"\n  }\n}\n")
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr []string
	}{
		{"valid", []string{"-f", valid}, 0, []string{"configuration is valid"}},
		{"valid, long flag", []string{"--f=" + valid}, 0, nil},
		{"warnings do not fail", []string{"-f", warns}, 0, []string{":4:1: warning: Sysctl needed"}},
		{"invalid", []string{"-f", invalid}, 1, []string{
			":1:1: error: Missing required argument",
			`:3:15: error: Invalid value for scheduler: "wrc" is not valid`, `Did you mean "wrr"?`,
			"    3 |   scheduler = \"wrc\"\n      |               ^^^^^\n",
			"2 error(s)",
		}},
		{"missing file", []string{"-f", filepath.Join(t.TempDir(), "nope.hcl")}, 1, []string{"Cannot read configuration file"}},
		{"no -f", nil, 2, []string{"-f FILE is required"}},
		{"unknown flag", []string{"-x", valid}, 2, []string{"flag provided but not defined: -x", "Usage: vigil check"}},
		{"stray argument", []string{"-f", valid, "extra"}, 2, []string{`unexpected argument "extra"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCheck(t, tt.args...)
			if code != tt.want {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.want, stderr)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestCheckHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"help", "check"}, &out, &errb); code != 0 {
		t.Fatalf("vigil help check = %d, want 0; stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "Usage: vigil check -f FILE [--print]") {
		t.Errorf("help output:\n%s", out.String())
	}
}

func TestCheckPrintRedactsSecrets(t *testing.T) {
	const pw = "correct-horse-battery-staple"
	t.Setenv("VIGIL_TEST_PW", pw)
	f := writeFile(t, `
virtual_server "db" {
  address  = "198.18.0.254:3306"
  protocol = "tcp"
  real_server "db1" {
    address = "198.18.0.21"
    check "mysql" {
      user     = "monitor"
      password = env("VIGIL_TEST_PW")
    }
  }
}
`)
	code, stdout, stderr := runCheck(t, "-f", f, "--print")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, pw) {
		t.Fatalf("--print leaks the password:\n%s", stdout)
	}
	var got struct {
		Global struct {
			Listen         string `json:"listen"`
			ResyncInterval string `json:"resync_interval"`
		} `json:"global"`
		VirtualServers []struct {
			Scheduler   string `json:"scheduler"`
			RealServers []struct {
				Address string `json:"address"`
				Checks  []struct {
					Interval string `json:"interval"`
					MySQL    struct {
						Password string `json:"password"`
					} `json:"mysql"`
				} `json:"checks"`
			} `json:"real_servers"`
		} `json:"virtual_servers"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("--print is not JSON: %v\n%s", err, stdout)
	}
	vs := got.VirtualServers[0]
	rs := vs.RealServers[0]
	for _, c := range []struct{ name, got, want string }{
		{"listen", got.Global.Listen, "127.0.0.1:9110"},
		{"resync_interval", got.Global.ResyncInterval, "30s"},
		{"scheduler", vs.Scheduler, "wlc"},
		{"real server address", rs.Address, "198.18.0.21:3306"},
		{"check interval", rs.Checks[0].Interval, "2s"},
		{"password", rs.Checks[0].MySQL.Password, "<redacted>"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// Every invalid file is exit 1 with a short report, whatever it holds; only a usage error
// is 2. On main 120 KB of nested brackets overflowed the parser's stack (exit 2, 1 GB),
// 50 MB of random bytes took 5.7 GB, and 5 MB of garbage printed 100 MB of diagnostics.
func TestCheckHostileInputs(t *testing.T) {
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(14, 14))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	garbage := func(n int) []byte {
		const chars = "abcdefghijklmnopqrstuvwxyz0123456789 \n{}[]()=,.\"#+-*/<>!&|?:$%~"
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[rnd.IntN(len(chars))]
		}
		return b
	}
	file := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sparse := filepath.Join(dir, "sparse-50MiB")
	if f, err := os.Create(sparse); err != nil {
		t.Fatal(err)
	} else {
		f.Truncate(50 << 20)
		f.Close()
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"nested brackets", file("nested", []byte("x = "+strings.Repeat("[", 60_000)+strings.Repeat("]", 60_000))), "Nested too deeply"},
		{"nested braces", file("braces", []byte(strings.Repeat("a {\n", 40_000))), "Nested too deeply"},
		{"nested templates", file("templates", []byte("x = "+strings.Repeat(`"${`, 40_000))), "Nested too deeply"},
		{"negations", file("bangs", []byte("x = "+strings.Repeat("!", 500_000)+"true")), "Nested too deeply"},
		{"random bytes", file("random", randomBytes(5<<20)), "Invalid UTF-8"},
		{"NUL bytes", file("zeros", make([]byte, 1<<20)), "Control character"},
		{"50 MiB", sparse, "is 50 MiB; the limit is 16 MiB"},
		{"20 MiB of garbage", file("garbage20", garbage(20<<20)), "is 20 MiB; the limit is 16 MiB"},
		{"5 MiB of garbage", file("garbage5", garbage(5<<20)), "error"},
		{"1 MiB of tokens on one line", file("tokens", []byte("x = ["+strings.Repeat("1,", 800_000)+"]")), "Too many tokens"},
		{"nested loops", file("loops", loopBomb()), "Loops not supported"},
		{"a million digits", file("digits", []byte("x = "+strings.Repeat("7", 1_000_000))), "Number too long"},
		{"a 15 MiB string", file("string", []byte("x = \""+strings.Repeat("s", 15<<20)+"\"\n")), "Too much text"},
		{"16 MiB of comments", file("comments", bytes.Repeat([]byte("# "+strings.Repeat("c", 61)+"\n"), (16<<20)/64)), "Nothing to run"},
		{"long lines of names", file("names", bytes.Repeat([]byte(strings.Repeat("name ", 200)+"\n"), 1000)), "error"},
		{"empty", file("empty", nil), "Nothing to run"},
		{"directory without *.hcl", dir, "holds no *.hcl file"}, // a directory is a conf.d
		{"FIFO", fifo, "not a regular file (a FIFO)"},
		{"device", "/dev/zero", "not a regular file (a device)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, stdout, stderr := runCheck(t, "-f", tt.path)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%.2000s", tt.want, stderr)
			}
			if n := len(stdout) + len(stderr); n > 64<<10 {
				t.Errorf("%d bytes of output", n)
			}
			// A bound against a blow-up (a walk per diagnostic took minutes), generous
			// for -race on a loaded 2-core host (100 s seen at load 14); the figures
			// are bench/conf/run.sh's.
			if took := time.Since(start); took > 3*time.Minute {
				t.Errorf("took %s", took)
			}
		})
	}
}

func TestCheckMaxConfigSize(t *testing.T) {
	f := writeFile(t, "virtual_server \"web\" {\n  fwmark = 1\n}\n"+strings.Repeat("# padding\n", 200))
	if code, _, stderr := runCheck(t, "-f", f, "--max-config-size", "1KiB"); code != 1 || !strings.Contains(stderr, "the limit is 1 KiB") {
		t.Errorf("--max-config-size 1KiB: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCheck(t, "-f", f, "--max-config-size=4k"); code != 0 {
		t.Errorf("--max-config-size=4k: exit %d, stderr %q", code, stderr)
	}
	for _, bad := range []string{"lots", "0", "-5MiB", "2TiB"} {
		if code, _, stderr := runCheck(t, "-f", f, "--max-config-size", bad); code != 2 || !strings.Contains(stderr, "max-config-size") {
			t.Errorf("--max-config-size %s: exit %d, stderr %q", bad, code, stderr)
		}
	}
}

// loopBomb is 2 KB whose evaluation is 1.6 billion iterations: four nested %{for}
// directives over 200 items (it ran for minutes, growing, before loops were refused).
func loopBomb() []byte {
	list := "[" + strings.Repeat("1,", 199) + "1]"
	t := strings.Repeat("%{for x in "+list+"}", 4) + "x" + strings.Repeat("%{endfor}", 4)
	return []byte("global {\n  router_id = \"" + t + "\"\n}\n")
}
