package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/state"
	"github.com/vigil-lb/vigil/internal/status"
)

// holdServer is a real server that writes its name to every connection and then holds it
// open until the test closes it: a long download, as far as a drain is concerned.
type holdServer struct {
	name string
	ln   net.Listener
	mu   sync.Mutex
	open []net.Conn
}

func startHoldServer(t *testing.T, name string) *holdServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &holdServer{name: name, ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			fmt.Fprintf(c, "%s\n", name)
		}
	}()
	t.Cleanup(func() { ln.Close(); s.closeAll() })
	return s
}

func (s *holdServer) addr() string { return s.ln.Addr().String() }

// closeAll ends every connection the server holds: the download finishes.
func (s *holdServer) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.open {
		c.Close()
	}
	s.open = nil
}

// dialVS connects through the virtual server and returns the connection and the name of
// the real server that answered.
func dialVS(t *testing.T, vs string) (net.Conn, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", vs, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to the virtual server: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		t.Fatalf("read from the virtual server: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	return c, strings.TrimSpace(line)
}

const adminConfig = `
global {
  router_id      = "admin"
  listen         = %q
  dataplane      = "userspace"
  control_socket = %q
  state_dir      = %q
}

virtual_server "web" {
  address    = %q
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "nat"

  real_server "rs1" {
    address = %q
  }
  real_server "rs2" {
    address = %q
  }
%s}
`

// vigilDaemon is `vigil run` as a child process (TestHelperDaemon).
type vigilDaemon struct {
	t      *testing.T
	cfg    string
	api    string
	socket string
	logs   *syncBuffer
	cmd    *exec.Cmd
	exited chan error
}

func startDaemon(t *testing.T, cfg, api, socket string) *vigilDaemon {
	t.Helper()
	d := &vigilDaemon{t: t, cfg: cfg, api: api, socket: socket, logs: &syncBuffer{}, exited: make(chan error, 1)}
	argv, _ := json.Marshal([]string{"run", "-f", cfg})
	d.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperDaemon$")
	d.cmd.Env = append(os.Environ(), helperArgsEnv+"="+string(argv))
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("vigil run log:\n%s", d.logs.String())
		}
	})
	waitFor(t, "vigil run to answer on its control socket", func() bool {
		_, err := os.Stat(socket)
		return err == nil && d.status(true).Started.Unix() > 0
	})
	return d
}

func (d *vigilDaemon) status(quiet bool) status.Snapshot {
	s, _, err := fetchStatus(d.t.Context(), d.api)
	if err != nil && !quiet {
		d.t.Fatalf("status: %v", err)
	}
	return s
}

func (d *vigilDaemon) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.t.Fatalf("vigil run did not stop")
	}
}

// vigil runs a subcommand in-process and returns its exit status and output.
func vigilCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func adminStates(s status.Snapshot) map[string]string {
	out := map[string]string{}
	for _, vs := range s.VirtualServers {
		for _, rs := range vs.RealServers {
			out[rs.Name] = rs.AdminState
		}
	}
	return out
}

// TestDaemonAdmin drives a running vigil (userspace data plane, real connections on
// loopback) through its control socket as an operator does: drain with an established
// connection that ends later (--wait follows it down and returns), the timeout, maint
// and ready with wildcards, status, metrics and log, a reload and a restart that keep the
// drain, a corrupt state file, and vigil plan's exit codes.
func TestDaemonAdmin(t *testing.T) {
	dir := t.TempDir()
	rs1, rs2 := startHoldServer(t, "rs1"), startHoldServer(t, "rs2")
	api, vs := closedAddr(t), closedAddr(t)
	socket, stateDir := filepath.Join(dir, "vigil.sock"), filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "vigil.hcl")
	write := func(path, extra string) {
		t.Helper()
		if err := os.WriteFile(path, fmt.Appendf(nil, adminConfig, api, socket, stateDir, vs, rs1.addr(), rs2.addr(), extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg, "")
	d := startDaemon(t, cfg, api, socket)
	fi, err := os.Stat(socket)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket %v, %v: want mode 0600", fi, err)
	}

	// An established connection to one real server, which drain --wait waits for.
	held, who := dialVS(t, vs)
	defer held.Close()
	busy := map[string]*holdServer{"rs1": rs1, "rs2": rs2}[who]
	other := map[string]string{"rs1": "rs2", "rs2": "rs1"}[who]
	type result struct {
		code           int
		stdout, stderr string
		at             time.Time
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := vigilCmd("drain", "web/"+who, "--wait", "--timeout", "60s", "--socket", socket)
		done <- result{code, out, errOut, time.Now()}
	}()
	waitFor(t, who+" drained", func() bool { return adminStates(d.status(false))[who] == "drain" })
	// New connections go to the other real server only, while the held one stays up.
	for range 4 {
		c, got := dialVS(t, vs)
		c.Close()
		if got != other {
			t.Fatalf("a new connection went to %s while it drains; want %s", got, other)
		}
	}
	select {
	case r := <-done:
		t.Fatalf("drain --wait returned with a connection still open: %d\n%s%s", r.code, r.stdout, r.stderr)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := held.Write([]byte("still streaming\n")); err != nil {
		t.Fatalf("the established connection broke when its real server was drained: %v", err)
	}
	// The download ends: the backend closes, the client reads the end and closes.
	busy.closeAll()
	buf := make([]byte, 64)
	held.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := held.Read(buf); err != nil {
			break
		}
	}
	closedAt := time.Now()
	held.Close()
	r := <-done
	t.Logf("vigil drain --wait (returned %s after the client closed):\n%s%s", r.at.Sub(closedAt).Round(time.Millisecond), r.stdout, r.stderr)
	if r.code != 0 || !strings.Contains(r.stdout, "web/"+who) || !strings.Contains(r.stdout, "ready -> drain") ||
		!strings.Contains(r.stdout, "1 left (") || !strings.Contains(r.stdout, "drained: no connection left") {
		t.Errorf("drain --wait: exit %d, output:\n%s%s\nwant 0, the change, the count and drained", r.code, r.stdout, r.stderr)
	}
	if took := r.at.Sub(closedAt); took > 5*time.Second { // generous: a loaded 2-core host
		t.Errorf("drain --wait returned %s after the last connection closed", took)
	}

	// The timeout: a held connection on the other real server outlives it.
	held2, who2 := dialVS(t, vs)
	defer held2.Close()
	if who2 != other {
		t.Fatalf("connection went to %s, want %s", who2, other)
	}
	code, out, errOut := vigilCmd("drain", "--wait", "--timeout", "300ms", "--socket", socket, "web/"+other)
	if code != 1 || !strings.Contains(errOut, "timed out after 300ms") || !strings.Contains(out, " left (1 active") {
		t.Errorf("drain --wait --timeout 300ms with a connection held: exit %d\n%s%s\nwant 1 and timed out", code, out, errOut)
	}

	// What status, vigil status, metrics and the log say.
	code, out, _ = vigilCmd("status", "--addr", api)
	if code != 0 || strings.Count(out, " DRAIN") != 2 {
		t.Errorf("vigil status: exit %d, want both real servers shown DRAIN:\n%s", code, out)
	}
	_, _, metrics := get(t, "http://"+api+"/metrics")
	for _, name := range []string{"rs1", "rs2"} {
		if want := fmt.Sprintf(`vigil_real_server_admin_state{real_server=%q,state="drain",virtual_server="web"} 1`, name); !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if log := d.logs.String(); !strings.Contains(log, "real server administrative state") || !strings.Contains(log, "uid=") {
		t.Errorf("the log does not record the change and who asked:\n%s", log)
	}

	// Wildcards: */ADDRESS, VS/*; maint --remove, ready.
	if code, out, errOut := vigilCmd("maint", "*/"+rs1.addr(), "--remove", "--socket", socket); code != 0 || !strings.Contains(out, "drain -> maint (removed)") {
		t.Errorf("maint */ADDR --remove: exit %d\n%s%s", code, out, errOut)
	}
	s := d.status(false)
	if rs := s.VirtualServers[0].RealServers[0]; rs.AdminState != "maint" || !rs.AdminRemove || rs.InTable {
		t.Errorf("rs1 after maint --remove: admin %q remove %v in table %v; want maint, removed, out of the table", rs.AdminState, rs.AdminRemove, rs.InTable)
	}
	if code, out, errOut := vigilCmd("ready", "web/*", "--socket", socket); code != 0 || strings.Count(out, "-> ready") != 2 {
		t.Errorf("ready web/*: exit %d\n%s%s", code, out, errOut)
	}
	held2.Close()
	if code, _, errOut := vigilCmd("drain", "web/nosuch", "--socket", socket); code != 1 || !strings.Contains(errOut, `no real server is named "nosuch"`) {
		t.Errorf("drain of no real server: exit %d: %s", code, errOut)
	}
	if code, _, errOut := vigilCmd("drain", "--socket", socket); code != 2 || !strings.Contains(errOut, "want one VS/RS argument") {
		t.Errorf("drain without a selector: exit %d: %s", code, errOut)
	}

	// vigil plan: 0 for the running file, 2 with a change, 1 for a broken file.
	if code, out, errOut := vigilCmd("plan", "-f", cfg); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("plan of the running file: exit %d\n%s%s", code, out, errOut)
	}
	changed := filepath.Join(dir, "changed.hcl")
	write(changed, fmt.Sprintf("  real_server \"rs3\" {\n    address = %q\n  }\n", closedAddr(t)))
	if code, out, errOut := vigilCmd("plan", "-f", changed); code != 2 || !strings.Contains(out, "rs3") {
		t.Errorf("plan with a real server added: exit %d\n%s%s\nwant 2 and rs3", code, out, errOut)
	}
	broken := filepath.Join(dir, "broken.hcl")
	os.WriteFile(broken, []byte("global {\n  control_socket = \""+socket+"\"\n}\nvirtual_server \"web\" {\n"), 0o600)
	if code, _, errOut := vigilCmd("plan", "-f", broken); code != 1 || !strings.Contains(errOut, "broken.hcl:4") {
		t.Errorf("plan of a broken file: exit %d\n%s\nwant 1 and its diagnostic", code, errOut)
	}
	if s := d.status(false); s.Config.Generation != 1 {
		t.Errorf("plan changed the running configuration: generation %d", s.Config.Generation)
	}

	// A drain survives a reload and a restart.
	if code, _, errOut := vigilCmd("drain", "web/rs2", "--socket", socket); code != 0 {
		t.Fatalf("drain web/rs2: %s", errOut)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload", func() bool { return d.status(false).Config.Generation == 2 })
	if got := adminStates(d.status(false)); got["rs2"] != "drain" || got["rs1"] != "ready" {
		t.Errorf("after a reload: %v, want rs2 drained", got)
	}
	rs1.closeAll() // the proxy waits for open connections when it stops
	rs2.closeAll()
	d.stop()
	if _, err := os.Stat(socket); err == nil {
		t.Errorf("the control socket is left behind after the stop")
	}
	d = startDaemon(t, cfg, api, socket)
	if got := adminStates(d.status(false)); got["rs2"] != "drain" || got["rs1"] != "ready" {
		t.Errorf("after a restart: %v, want rs2 still drained", got)
	}
	for range 4 {
		c, got := dialVS(t, vs)
		c.Close()
		if got != "rs1" {
			t.Fatalf("after the restart a new connection went to %s, want rs1 only", got)
		}
	}

	// A corrupt state file: a warning, the file kept aside, every real server ready.
	rs1.closeAll()
	d.stop()
	path := state.Path(stateDir)
	os.WriteFile(path, []byte("{\"version\": 1, \"admin_states\": [tru"), 0o600)
	d = startDaemon(t, cfg, api, socket)
	if got := adminStates(d.status(false)); got["rs2"] != "ready" {
		t.Errorf("after a corrupt state file: %v, want every real server ready", got)
	}
	if log := d.logs.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "state file") || !strings.Contains(log, "kept as") {
		t.Errorf("no warning about the corrupt state file:\n%s", log)
	}
	aside, _ := filepath.Glob(path + "*")
	if len(aside) < 2 {
		t.Errorf("state files %v: want the corrupt one kept aside", aside)
	}
	d.stop()
}
