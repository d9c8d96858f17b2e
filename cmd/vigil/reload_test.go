package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// The reload tests make the test process itself stand for `vigil run`: its pid goes in
// the pid file and a SIGHUP handler changes what the fake API serves. The test binary is
// named vigil.test, which passes the "is it vigil" check like the real daemon.
var (
	hupOnce    sync.Once
	hupMu      sync.Mutex
	hupHandler func()
)

// onSIGHUP installs fn as what the fake daemon does on SIGHUP. The signal stays caught for
// the life of the test binary: restoring the default action would let a late signal kill it.
func onSIGHUP(t *testing.T, fn func()) {
	t.Helper()
	hupOnce.Do(func() {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGHUP)
		go func() {
			for range ch {
				hupMu.Lock()
				h := hupHandler
				hupMu.Unlock()
				if h != nil {
					h()
				}
			}
		}()
	})
	hupMu.Lock()
	hupHandler = fn
	hupMu.Unlock()
	t.Cleanup(func() {
		hupMu.Lock()
		hupHandler = nil
		hupMu.Unlock()
	})
}

func writePIDFile(t *testing.T, pid int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vigil.pid")
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func reloadSnapshot() status.Snapshot {
	s := fixedSnapshot()
	s.Config = status.ConfigStatus{Path: "/etc/vigil/vigil.hcl", Generation: 4, LoadedAt: t0, ReloadsOK: 3, ReloadsFailed: 1}
	return s
}

func TestCmdReload(t *testing.T) {
	tests := []struct {
		name         string
		onHUP        func(*status.ConfigStatus)
		shortTimeout bool
		wantCode     int
		wantStdout   string
		wantStderr   []string
	}{
		{
			name: "success with a diff",
			onHUP: func(c *status.ConfigStatus) {
				c.Generation, c.ReloadsOK, c.LastReloadOK = 5, 4, new(true)
				c.LastReloadDuration = 3210 * time.Microsecond
				c.LastReloadDiff = []string{
					"+ real_server web/rs4 198.18.0.24:80 weight 1",
					"~ real_server web/rs1 weight 1 -> 3",
				}
			},
			wantCode:   0,
			wantStdout: "reloaded: generation 5 (applied in 3.21ms)\n  + real_server web/rs4 198.18.0.24:80 weight 1\n  ~ real_server web/rs1 weight 1 -> 3\n",
		},
		{
			name: "success without changes",
			onHUP: func(c *status.ConfigStatus) {
				c.Generation, c.ReloadsOK, c.LastReloadOK = 5, 4, new(true)
			},
			wantCode:   0,
			wantStdout: "reloaded: generation 5\n  no changes\n",
		},
		{
			name: "invalid configuration",
			onHUP: func(c *status.ConfigStatus) {
				c.ReloadsFailed, c.LastReloadOK, c.LastReloadResult = 2, new(false), status.ReloadRejected
				c.LastReloadErr = "vigil.hcl:3:5: error: Unsupported argument: x\n    3 |   x = 1\n      |   ^\nvigil.hcl:9:1: error: Missing name: y\nvigil.hcl: 2 error(s)\n"
			},
			wantCode: 1,
			wantStderr: []string{
				"reload rejected; generation 4 keeps running:\nvigil.hcl:3:5: error: Unsupported argument: x\n    3 |   x = 1\n      |   ^\nvigil.hcl:9:1: error: Missing name: y\nvigil.hcl: 2 error(s)\n",
			},
		},
		{
			name: "applied with errors",
			onHUP: func(c *status.ConfigStatus) {
				c.Generation, c.ReloadsFailed, c.LastReloadOK, c.LastReloadResult = 5, 2, new(false), status.ReloadPartial
				c.LastReloadErr = "add destination 198.18.0.24:80 to TCP 198.18.0.254:80: file exists"
				c.LastReloadDiff = []string{"+ real_server web/rs4 198.18.0.24:80 weight 1"}
			},
			wantCode:   exitAppliedWithErrors,
			wantStdout: "reloaded with errors: generation 5 runs\n  + real_server web/rs4 198.18.0.24:80 weight 1\n",
			wantStderr: []string{"reload applied with errors; the table refused some writes and the next resync retries them:\n  add destination 198.18.0.24:80 to TCP 198.18.0.254:80: file exists\n"},
		},
		{
			name: "applied with errors, by a vigil without last_reload_result",
			onHUP: func(c *status.ConfigStatus) {
				c.Generation, c.ReloadsFailed = 5, 2
				c.LastReloadErr = "add destination: file exists"
			},
			wantCode:   exitAppliedWithErrors,
			wantStdout: "reloaded with errors: generation 5 runs\n  no changes\n",
			wantStderr: []string{"  add destination: file exists\n"},
		},
		{
			name:         "daemon ignores the signal",
			onHUP:        func(*status.ConfigStatus) {},
			shortTimeout: true,
			wantCode:     1,
			wantStderr:   []string{"vigil reload: sent SIGHUP to pid ", "did not report a reload within 2s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDirector{snap: reloadSnapshot()}
			addr := serveFake(t, d)
			// The daemon answers the signal a little later, as a real reload would.
			onSIGHUP(t, func() {
				time.AfterFunc(50*time.Millisecond, func() {
					d.update(func(s *status.Snapshot) { tt.onHUP(&s.Config) })
				})
			})
			pidFile := writePIDFile(t, os.Getpid())

			var stdout, stderr bytes.Buffer
			// Generous for a loaded machine, except where the test waits out the timeout.
			timeout := "30s"
			if tt.shortTimeout {
				timeout = "2s"
			}
			code := cmdReload([]string{"--pid-file", pidFile, "--addr", addr, "--timeout", timeout}, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.wantCode, stderr.String())
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout:\n%q\nwant:\n%q", stdout.String(), tt.wantStdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q lacks %q", stderr.String(), want)
				}
			}
		})
	}
}

// With -f FILE, vigil reload finds the API in the file's global.listen and the daemon's
// pid in /status: no pid file, no --addr.
func TestCmdReloadFile(t *testing.T) {
	d := &fakeDirector{snap: reloadSnapshot()}
	addr := serveFake(t, d)
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.hcl")
	// The rest of the file need not validate here: its password is the daemon's secret.
	src := fmt.Sprintf("global {\n  listen = %q\n}\nvirtual_server \"db\" {\n  password = env(\"ONLY_THE_DAEMON_HAS_IT\")\n}\n", addr)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	d.update(func(s *status.Snapshot) { s.PID, s.Config.Path = os.Getpid(), path })
	onSIGHUP(t, func() {
		time.AfterFunc(50*time.Millisecond, func() {
			d.update(func(s *status.Snapshot) {
				s.Config.Generation, s.Config.ReloadsOK, s.Config.LastReloadResult = 5, 4, status.ReloadApplied
			})
		})
	})
	var stdout, stderr bytes.Buffer
	if code := cmdReload([]string{"-f", path, "--timeout", "30s"}, &stdout, &stderr); code != 0 || stdout.String() != "reloaded: generation 5\n  no changes\n" {
		t.Errorf("vigil reload -f: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}

	// A daemon that runs another file is not signalled.
	d.update(func(s *status.Snapshot) { s.Config.Path = "/etc/vigil/other.hcl" })
	stdout.Reset()
	stderr.Reset()
	if code := cmdReload([]string{"-f", path}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "runs /etc/vigil/other.hcl, not "+path) {
		t.Errorf("vigil reload -f for another daemon's file: exit %d, stderr %q", code, stderr.String())
	}

	// A file whose API is off says so.
	off := filepath.Join(dir, "off.hcl")
	os.WriteFile(off, []byte("global {\n  listen = \"\"\n}\n"), 0o600)
	stderr.Reset()
	if code := cmdReload([]string{"-f", off}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), `sets listen = "": the API is off`) {
		t.Errorf("vigil reload -f with listen off: exit %d, stderr %q", code, stderr.String())
	}
}

func TestCmdReloadNoPIDFile(t *testing.T) {
	var stdout, stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "nope.pid")
	code := cmdReload([]string{"--pid-file", missing, "--addr", closedAddr(t)}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "read pid file: open "+missing) || !strings.Contains(stderr.String(), "is `vigil run --pid-file "+missing+"` running?") {
		t.Errorf("got exit %d stderr %q", code, stderr.String())
	}
}

func TestCmdReloadGarbagePIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.pid")
	os.WriteFile(path, []byte("vigil\n"), 0o644)
	var stdout, stderr bytes.Buffer
	code := cmdReload([]string{"--pid-file", path}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), `holds "vigil", not a process id`) {
		t.Errorf("got exit %d stderr %q", code, stderr.String())
	}
}

// A stale pid file naming some other program must not get that program killed by SIGHUP.
func TestCmdReloadRefusesOtherProcess(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	// /proc/<pid>/comm shows the new name only once the child has exec'ed sleep.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
		if strings.TrimSpace(string(b)) == "sleep" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	var stdout, stderr bytes.Buffer
	code := cmdReload([]string{"--pid-file", writePIDFile(t, cmd.Process.Pid), "--addr", closedAddr(t)}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), `is "sleep", not vigil; stale pid file`) {
		t.Errorf("got exit %d stderr %q", code, stderr.String())
	}
	select {
	case err := <-exited:
		t.Errorf("sleep exited (%v): vigil reload signalled a process that is not vigil", err)
	case <-time.After(200 * time.Millisecond):
	}
}

// With the API unreachable the signal still goes out, but the result cannot be confirmed.
func TestCmdReloadUnconfirmed(t *testing.T) {
	got := make(chan struct{}, 1)
	onSIGHUP(t, func() {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	var stdout, stderr bytes.Buffer
	code := cmdReload([]string{"--pid-file", writePIDFile(t, os.Getpid()), "--addr", closedAddr(t), "--timeout", "30s"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "but cannot confirm the result: cannot reach vigil at") {
		t.Errorf("got exit %d stderr %q", code, stderr.String())
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Errorf("SIGHUP never arrived")
	}
}

// The end-to-end test runs the real daemon (`vigil run`, userspace data plane, real HTTP
// and MySQL checks on loopback) as a child process: the test binary re-executed into
// TestHelperDaemon, whose process name vigil.test passes `vigil reload`'s "is it vigil"
// check just as the installed binary would.

const helperArgsEnv = "VIGIL_TEST_HELPER_ARGS"

// TestHelperDaemon is not a test: it is the child process of TestDaemonEndToEnd.
func TestHelperDaemon(t *testing.T) {
	args := os.Getenv(helperArgsEnv)
	if args == "" {
		return // not the child: nothing to do (no Skip, so CI shows no skipped test)
	}
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		t.Fatalf("%s: %v", helperArgsEnv, err)
	}
	os.Exit(run(argv, os.Stdout, os.Stderr))
}

// syncBuffer collects a daemon's log while the test reads it.
type syncBuffer = testenv.Buffer

const e2eConfig = `
global {
  router_id = "e2e"
  listen    = %q
  dataplane = "userspace"
}

virtual_server "web" {
  address    = %q
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "nat"

  real_server "rs1" {
    address = %q
    check "http" {
      path     = "/"
      interval = "200ms"
      timeout  = "200ms"
      rise     = 1
      fall     = 1
    }
  }

  real_server "db" {
    address = %q
    check "mysql" {
      user     = "monitor"
      password = %q
      query    = "SELECT 1"
      interval = "200ms"
      timeout  = "200ms"
    }
  }
%s}
`

func TestDaemonEndToEnd(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	backendAddr := strings.TrimPrefix(backend.URL, "http://")
	apiAddr, vsAddr, dbAddr, rs2Addr := closedAddr(t), closedAddr(t), closedAddr(t), closedAddr(t)

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "vigil.hcl")
	pidFile := filepath.Join(dir, "vigil.pid")
	writeConfig := func(extra string) {
		t.Helper()
		cfg := testenv.PrivateState(fmt.Sprintf(e2eConfig, apiAddr, vsAddr, backendAddr, dbAddr, plantedPassword, extra), dir)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("")

	var logs syncBuffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDaemon$")
	argv, _ := json.Marshal([]string{"run", "-f", cfgPath, "--pid-file", pidFile})
	cmd.Env = append(os.Environ(), helperArgsEnv+"="+string(argv))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vigil run: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("vigil run log:\n%s", logs.String())
		}
	})

	// Up, with rs1's check passed and the mysql check failed at least once.
	waitFor(t, "vigil run to serve /status with rs1 up and db down", func() bool {
		s, _, err := fetchStatus(t.Context(), apiAddr)
		if err != nil || len(s.VirtualServers) != 1 || len(s.VirtualServers[0].RealServers) != 2 {
			return false
		}
		rs := s.VirtualServers[0].RealServers
		return rs[0].Health == "up" && rs[1].Health == "down" && len(rs[1].Checks) > 0 && rs[1].Checks[0].Failures > 0
	})
	if code, _, body := get(t, "http://"+apiAddr+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", code, body)
	}

	// Traffic through the virtual server shows in the IPVS counters of /metrics.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 5 {
		resp, err := client.Get("http://" + vsAddr + "/")
		if err != nil {
			t.Fatalf("request %d through the virtual server: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	waitFor(t, "vigil_ipvs_service_connections_total of web to reach 5", func() bool {
		_, _, text := get(t, "http://"+apiAddr+"/metrics")
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := parser.TextToMetricFamilies(strings.NewReader(text))
		if err != nil || mfs["vigil_ipvs_service_connections_total"] == nil {
			return false
		}
		for _, m := range mfs["vigil_ipvs_service_connections_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "virtual_server" && l.GetValue() == "web" && m.GetCounter().GetValue() >= 5 {
					return true
				}
			}
		}
		return false
	})

	// /status round-trips into its Go type byte for byte.
	_, _, body := get(t, "http://"+apiAddr+"/status")
	var snap status.Snapshot
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		t.Fatalf("decode /status: %v", err)
	}
	again, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if string(again)+"\n" != body {
		t.Errorf("/status does not round-trip through status.Snapshot:\nserved:\n%s\nre-encoded:\n%s", body, again)
	}
	assertNoSecret(t, "/status", body)

	// /metrics parses and passes promlint.
	_, _, metricsText := get(t, "http://"+apiAddr+"/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(metricsText))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, name := range []string{"vigil_real_server_healthy", "vigil_real_server_info", "vigil_check_duration_seconds", "vigil_ipvs_backend_weight", "vigil_ipvs_backend_connections_active", "vigil_reloads_total", "vigil_build_info"} {
		if mfs[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	problems, err := promlint.New(strings.NewReader(metricsText)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	assertNoSecret(t, "/metrics", metricsText)

	// vigil status renders the live daemon.
	var stdout, stderr bytes.Buffer
	if code := cmdStatus([]string{"--addr", apiAddr}, &stdout, &stderr); code != 0 {
		t.Fatalf("vigil status: exit %d: %s", code, stderr.String())
	}
	t.Logf("vigil status:\n%s", stdout.String())
	for _, want := range []string{"TCP  " + vsAddr, "  -> " + backendAddr, "  -> " + dbAddr, "http up", "mysql down"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("vigil status output lacks %q:\n%s", want, stdout.String())
		}
	}
	assertNoSecret(t, "vigil status", stdout.String())
	stdout.Reset()
	if code := cmdStatus([]string{"--addr", apiAddr, "--stats"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "  -> "+backendAddr) {
		t.Errorf("vigil status --stats: exit %d, output:\n%s", code, stdout.String())
	}

	// Reload adding a real server: the new generation and the diff naming it.
	writeConfig(fmt.Sprintf("  real_server \"rs2\" {\n    address = %q\n  }\n", rs2Addr))
	stdout.Reset()
	stderr.Reset()
	if code := cmdReload([]string{"--pid-file", pidFile, "--addr", apiAddr, "--timeout", "30s"}, &stdout, &stderr); code != 0 {
		t.Fatalf("vigil reload: exit %d: %s", code, stderr.String())
	}
	t.Logf("vigil reload:\n%s", stdout.String())
	if !strings.HasPrefix(stdout.String(), "reloaded: generation 2") || !strings.Contains(stdout.String(), "rs2") {
		t.Errorf("vigil reload output:\n%s\nwant generation 2 and a diff naming rs2", stdout.String())
	}

	// Reloads of broken and hostile files: each rejected and reported exactly as `vigil
	// check` reports the file, and generation 2 keeps running. On main the nested
	// brackets killed the daemon (stack overflow) and the empty file deleted everything.
	// vigil reload -f finds the API in the global block of the very file it reloads, even
	// one broken after that block; for a file without one (empty, all garbage), --addr
	// and --pid-file say where the daemon is.
	global := fmt.Sprintf("global {\n  listen = %q\n}\n", apiAddr)
	broken := map[string][]byte{
		"unclosed block":  []byte(global + "virtual_server \"web\" {\n"),
		"empty":           nil,
		"nested brackets": []byte(global + "x = " + strings.Repeat("[", 60_000) + strings.Repeat("]", 60_000) + "\n"),
		"binary":          append([]byte(global), bytes.Repeat([]byte{0xff, 0x00, 0x9b}, 100_000)...),
		"all garbage":     append([]byte("\x7fELF\x02\x01"), bytes.Repeat([]byte{0xff, 0x00, 0x9b}, 100_000)...),
		"many errors":     []byte(global + strings.Repeat("unknown = 1\n", 20_000)),
		"nested loops":    append([]byte(global), loopBomb()...),
		"password":        []byte(strings.Replace(string(cfgBytes(t, cfgPath)), fmt.Sprintf("password = %q", plantedPassword), fmt.Sprintf("password = %q 2", plantedPassword), 1)),
	}
	for _, name := range []string{"unclosed block", "empty", "nested brackets", "binary", "all garbage", "many errors", "nested loops", "password"} {
		if err := os.WriteFile(cfgPath, broken[name], 0o600); err != nil {
			t.Fatal(err)
		}
		var checkOut bytes.Buffer
		if code := cmdCheck([]string{"-f", cfgPath}, io.Discard, &checkOut); code != 1 {
			t.Errorf("%s: vigil check: exit %d, want 1", name, code)
		}
		stdout.Reset()
		stderr.Reset()
		args := []string{"-f", cfgPath, "--timeout", "30s"}
		if !bytes.HasPrefix(broken[name], []byte("global")) && name != "password" {
			args = []string{"--addr", apiAddr, "--pid-file", pidFile, "--timeout", "30s"}
		}
		if code := cmdReload(args, &stdout, &stderr); code != 1 {
			t.Errorf("%s: vigil reload: exit %d, want 1; stdout %q", name, code, stdout.String())
		}
		if want := "reload rejected; generation 2 keeps running:\n" + checkOut.String(); stderr.String() != want {
			t.Errorf("%s: vigil reload stderr:\n%s\nwant (vigil check's report):\n%s", name, stderr.String(), want)
		}
		if n := len(stderr.String()); n > 64<<10 {
			t.Errorf("%s: %d bytes of report", name, n)
		}
		assertNoSecret(t, name+": vigil reload", stderr.String())
		s, _, err := fetchStatus(t.Context(), apiAddr)
		if err != nil {
			t.Fatalf("%s: the daemon is gone: %v", name, err)
		}
		if got := len(s.VirtualServers[0].RealServers); s.Config.Generation != 2 || got != 3 {
			t.Errorf("%s: after the rejected reload: generation %d with %d real servers, want generation 2's 3", name, s.Config.Generation, got)
		}
	}
	if n := strings.Count(logs.String(), "reload rejected"); n != len(broken) {
		t.Errorf("%d rejected reloads logged, want %d", n, len(broken))
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 8<<10 {
			t.Errorf("a log line of %d bytes: %.200s...", len(line), line)
		}
	}

	// vigil status -f finds the API from the file's listen (it reads only the global block).
	os.WriteFile(cfgPath, fmt.Appendf(nil, "global {\n  listen = %q\n}\n", apiAddr), 0o600)
	stdout.Reset()
	if code := cmdStatus([]string{"-f", cfgPath}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "TCP  "+vsAddr) {
		t.Errorf("vigil status -f: exit %d, output:\n%s", code, stdout.String())
	}

	// SIGTERM stops it cleanly.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("vigil run after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("vigil run did not stop within 60s of SIGTERM")
	}
	assertNoSecret(t, "the daemon's log", logs.String())
}

func cfgBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plantedPassword is the MySQL password of the end-to-end config.
const plantedPassword = "s3cr3t-Hunter2"

func assertNoSecret(t *testing.T, where, text string) {
	t.Helper()
	if strings.Contains(text, plantedPassword) {
		t.Errorf("%s contains the configured password", where)
	}
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// waitFor polls cond for up to a minute: generous, for a noisy 2-core machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
