package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// buildVigil builds the command into a directory any user can read.
func buildVigil(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vigil")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startDemo runs `vigil demo` (as nobody when the test runs as root) in a process group of
// its own, as a shell runs a job, and returns it with the pids it printed.
type demo struct {
	cmd              *exec.Cmd
	vip, listen      string
	ports            []int
	lines            chan string
	director, rs1Pid int
	backends         []int
}

func startDemo(t *testing.T, bin string, extra ...string) *demo {
	t.Helper()
	ports := freePorts(t, 4)
	d := &demo{vip: fmt.Sprintf("127.0.0.1:%d", ports[0]), listen: fmt.Sprintf("127.0.0.1:%d", ports[3]), ports: ports, lines: make(chan string, 100)}
	d.cmd = exec.Command(bin, append([]string{"demo", "--vip", d.vip,
		"--backends", fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", ports[1], ports[2]),
		"--listen", d.listen, "--requests", "6"}, extra...)...)
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A TMPDIR of the demo's own, removed by the test: a demo killed with SIGKILL leaves
	// its directory of config and logs behind, as any killed program does.
	tmp, err := os.MkdirTemp("", "vigil-demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if os.Geteuid() == 0 {
		d.cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
		if err := os.Chown(tmp, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	d.cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	d.cmd.Stderr = os.Stderr
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		d.cmd.Wait()
		for _, pid := range append(d.backends, d.director) {
			if pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	return d
}

var (
	backendRE  = regexp.MustCompile(`^backend (rs\d) on \S+ \(pid (\d+)\)`)
	directorRE = regexp.MustCompile(`^vigil on \S+ \(pid (\d+)\)`)
)

// readUntil reads the demo's output up to a line starting with prefix, noting the pids,
// and returns the lines read.
func (d *demo) readUntil(t *testing.T, prefix string) []string {
	t.Helper()
	var got []string
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				t.Fatalf("the demo's output ended before %q: %q", prefix, got)
			}
			t.Log(line)
			got = append(got, line)
			if m := backendRE.FindStringSubmatch(line); m != nil {
				pid, _ := strconv.Atoi(m[2])
				d.backends = append(d.backends, pid)
				if m[1] == "rs1" {
					d.rs1Pid = pid
				}
			}
			if m := directorRE.FindStringSubmatch(line); m != nil {
				d.director, _ = strconv.Atoi(m[1])
			}
			if strings.HasPrefix(line, prefix) {
				return got
			}
		case <-timeout:
			t.Fatalf("no %q from the demo within 60s; got %q", prefix, got)
		}
	}
}

// procState is the state letter of pid in /proc ("Z" for a zombie), "" once it is gone.
func procState(pid int) string {
	st, err := testenv.ProcStatOf(pid)
	if err != nil {
		return ""
	}
	return st.State
}

// waitGone waits until every pid has exited and been reaped.
func waitGone(t *testing.T, what string, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, pid := range pids {
		for procState(pid) != "" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: pid %d is still there (state %s)", what, pid, procState(pid))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// portsFree checks that nothing listens on the demo's ports any more.
func (d *demo) portsFree(t *testing.T) {
	t.Helper()
	for _, p := range d.ports {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Errorf("port %d still taken after the demo ended: %v", p, err)
			continue
		}
		ln.Close()
	}
}

// TestQuickstartUnprivileged runs the README's quickstart as an unprivileged user (nobody
// when the test runs as root): traffic alternates; a stopped backend is reaped (on main it
// stayed a zombie), its weight drops to 0 in /status, and SIGUSR1 brings it back; a
// hangup of the terminal stops everything and frees the ports (on main vigil run took
// the SIGHUP for a reload and kept running, holding them).
func TestQuickstartUnprivileged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildVigil(t)
	d := startDemo(t, bin)
	var answers []string
	for _, line := range d.readUntil(t, "Press Ctrl-C") {
		if _, who, ok := strings.Cut(line, "->  "); ok {
			answers = append(answers, who)
		}
	}
	if len(answers) != 6 {
		t.Fatalf("got %d answers %v, want 6", len(answers), answers)
	}
	for i := 1; i < len(answers); i++ {
		if answers[i] == answers[i-1] {
			t.Fatalf("answers %v do not alternate", answers)
		}
	}
	if d.rs1Pid == 0 || d.director == 0 || len(d.backends) != 2 {
		t.Fatalf("pids: rs1 %d, vigil %d, backends %v", d.rs1Pid, d.director, d.backends)
	}

	if err := syscall.Kill(d.rs1Pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop rs1: %v", err)
	}
	waitGone(t, "the stopped rs1 (a zombie until the demo reaps it)", d.rs1Pid)
	d.readUntil(t, "backend rs1 (pid")
	waitWeight(t, d.listen, 0)

	// SIGUSR1 restarts it, as the demo says.
	if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	d.readUntil(t, "backend rs1 restarted")
	waitWeight(t, d.listen, 1)

	// A hangup ends the demo, its children with it, and frees every port.
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("the demo after SIGHUP: %v", err)
	}
	waitGone(t, "vigil run and the backends after the demo's hangup", append(d.backends, d.director)...)
	d.portsFree(t)
}

// waitWeight polls the demo's /status until rs1 has the applied weight want.
func waitWeight(t *testing.T, listen string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := demoStatus(listen)
		if err == nil && len(s.VirtualServers) == 1 {
			r := s.VirtualServers[0].RealServers[0]
			if r.Name == "rs1" && r.AppliedWeight != nil && *r.AppliedWeight == want {
				if s.Dataplane != "userspace" {
					t.Errorf("dataplane = %q, want userspace", s.Dataplane)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rs1 not at weight %d within 30s: %+v, %v", want, s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A demo interrupted from its terminal (SIGINT to its process group) or killed outright
// takes vigil run and the backends with it.
func TestDemoChildrenDieWithIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildVigil(t)
	for _, tt := range []struct {
		name string
		stop func(d *demo) error
	}{
		{"Ctrl-C", func(d *demo) error { return syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT) }},
		{"SIGKILL", func(d *demo) error { return d.cmd.Process.Kill() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := startDemo(t, bin)
			d.readUntil(t, "waiting for both backends")
			if err := tt.stop(d); err != nil {
				t.Fatal(err)
			}
			d.cmd.Wait()
			waitGone(t, "vigil run and the backends after the demo ended", append(d.backends, d.director)...)
			d.portsFree(t)
		})
	}
}

func demoStatus(addr string) (status.Snapshot, error) {
	var s status.Snapshot
	resp, err := http.Get("http://" + addr + "/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}
