package netlab_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/netlab"
	"github.com/vigil-lb/vigil/internal/testing/testenv"
	"github.com/vishvananda/netns"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// echoOnce accepts one connection on ln and echoes a line back with a prefix.
func echoOnce(t *testing.T, h *netlab.Host, addr string) string {
	t.Helper()
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, h.Name()+":"+line)
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, from *netlab.Host, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := from.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBridgeTCP(t *testing.T) {
	testenv.RequireRoot(t)
	l := netlab.New(t)
	br := l.Bridge("sw")
	a, b := l.Host("a"), l.Host("b")
	l.Link(a, "eth0", br, pfx("198.18.0.1/24"), pfx("2001:db8::1/64"))
	l.Link(b, "eth0", br, pfx("198.18.0.2/24"), pfx("2001:db8::2/64"))

	for _, addr := range []string{"198.18.0.1:7000", "[2001:db8::1]:7000"} {
		got := roundTrip(t, b, echoOnce(t, a, addr))
		if want := "a:hello\n"; got != want {
			t.Errorf("via %s: got %q, want %q", addr, got, want)
		}
	}
}

func TestHTTPClient(t *testing.T) {
	testenv.RequireRoot(t)
	l := netlab.New(t)
	a, b := l.Host("a"), l.Host("b")
	ia, _ := l.Pair(a, "eth0", b, "eth0")
	if err := a.AddAddr("eth0", pfx("198.18.3.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := b.AddAddr("eth0", pfx("198.18.3.2/24")); err != nil {
		t.Fatal(err)
	}
	ln, err := b.Listen("tcp", "198.18.3.2:8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	resp, err := a.HTTPClient().Get("http://198.18.3.2:8080/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := strings.Split(string(body), ":")[0], "198.18.3.1"; got != want {
		t.Errorf("server saw client %q, want %q (iface %s)", got, want, ia.Name)
	}
}

func TestRoutedPair(t *testing.T) {
	testenv.RequireRoot(t)
	l := netlab.New(t)
	a, r, b := l.Host("a"), l.Host("r"), l.Host("b")
	l.Pair(a, "eth0", r, "ra")
	l.Pair(r, "rb", b, "eth0")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.AddAddr("eth0", pfx("198.18.1.2/24")))
	must(r.AddAddr("ra", pfx("198.18.1.1/24")))
	must(r.AddAddr("rb", pfx("198.18.2.1/24")))
	must(b.AddAddr("eth0", pfx("198.18.2.2/24")))
	must(a.AddRoute(pfx("0.0.0.0/0"), netip.MustParseAddr("198.18.1.1")))
	must(b.AddRoute(pfx("198.18.1.0/24"), netip.MustParseAddr("198.18.2.1")))
	must(r.Sysctl("net.ipv4.ip_forward", "1"))

	if got, want := roundTrip(t, a, echoOnce(t, b, "198.18.2.2:7001")), "b:hello\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSysctl(t *testing.T) {
	testenv.RequireRoot(t)
	l := netlab.New(t)
	a, b := l.Host("a"), l.Host("b")
	if err := a.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		h    *netlab.Host
		want string
	}{{a, "1"}, {b, "0"}} {
		got, err := tc.h.SysctlGet("net.ipv4.ip_forward")
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: ip_forward = %q, want %q", tc.h.Name(), got, tc.want)
		}
	}
}

func TestCommandRunsInNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "nsenter")
	l := netlab.New(t)
	a, b := l.Host("a"), l.Host("b")
	l.Pair(a, "only-in-a", b, "only-in-b")
	out, err := a.Command(context.Background(), "cat", "/proc/net/dev").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "only-in-a:") || strings.Contains(string(out), "only-in-b") {
		t.Errorf("/proc/net/dev in a:\n%s\nwant only-in-a and not only-in-b", out)
	}
	if err := a.Command(context.Background(), "no-such-program-vigil").Run(); err == nil {
		t.Error("running a missing program: got nil error")
	}
}

func TestCleanupRemovesNamespaces(t *testing.T) {
	testenv.RequireRoot(t)
	var path string
	t.Run("lab", func(t *testing.T) {
		l := netlab.New(t)
		h := l.Host("x")
		path = h.Path()
		ns, err := netns.GetFromPath(path)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		ns.Close()
	})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after cleanup, stat %s: %v, want not exist", path, err)
	}
}

func TestSweepStale(t *testing.T) {
	testenv.RequireRoot(t)
	// A PID above pid_max cannot be alive.
	stale := filepath.Join(netlab.NetnsDir, "vigil-99999999-0000-x")
	if err := os.MkdirAll(netlab.NetnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(stale) })
	netlab.SweepStale()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stat %s after sweep: %v, want not exist", stale, err)
	}
}

// TestCommandProcessIsTheProgram checks that nsenter execs without forking, so
// cmd.Process (signals, cmd.Cancel) reaches the program itself.
func TestCommandProcessIsTheProgram(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "nsenter")
	l := netlab.New(t)
	h := l.Host("a")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := h.Command(ctx, "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	var comm string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if comm = strings.TrimSpace(string(b)); comm == "sleep" {
			break
		}
	}
	if comm != "sleep" {
		t.Errorf("cmd.Process is %q, want sleep", comm)
	}
}
