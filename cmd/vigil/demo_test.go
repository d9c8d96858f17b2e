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

// TestQuickstartUnprivileged runs the README's quickstart as an unprivileged user (nobody
// when the test runs as root): traffic alternates, and a stopped backend's weight drops to
// 0 in /status.
func TestQuickstartUnprivileged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildVigil(t)
	ports := freePorts(t, 4)
	vip := fmt.Sprintf("127.0.0.1:%d", ports[0])
	listen := fmt.Sprintf("127.0.0.1:%d", ports[3])
	cmd := exec.Command(bin, "demo", "--vip", vip,
		"--backends", fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", ports[1], ports[2]),
		"--listen", listen, "--requests", "6")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()

	var answers []string
	rs1 := 0
	pidRE := regexp.MustCompile(`backend rs1 on \S+ \(pid (\d+)\)`)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		if m := pidRE.FindStringSubmatch(line); m != nil {
			rs1, _ = strconv.Atoi(m[1])
		}
		if _, who, ok := strings.Cut(line, "->  "); ok {
			answers = append(answers, who)
		}
		if strings.HasPrefix(line, "Press Ctrl-C") {
			break
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
	go func() {
		for sc.Scan() {
		}
	}()

	if rs1 == 0 {
		t.Fatal("no pid for rs1 in the output")
	}
	if err := syscall.Kill(rs1, syscall.SIGTERM); err != nil {
		t.Fatalf("stop rs1: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := demoStatus(listen)
		if err == nil && len(s.VirtualServers) == 1 {
			r := s.VirtualServers[0].RealServers[0]
			if r.Name == "rs1" && r.Health == "down" && r.AppliedWeight != nil && *r.AppliedWeight == 0 {
				if s.Dataplane != "userspace" {
					t.Errorf("dataplane = %q, want userspace", s.Dataplane)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rs1 not at weight 0 within 20s: %+v, %v", s, err)
		}
		time.Sleep(100 * time.Millisecond)
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
