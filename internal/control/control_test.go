package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serve listens at a fresh path with h and serves until the test ends.
func serve(t *testing.T, h Handler) *Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "vigil.sock")
	s, err := Listen(path, h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the socket is left behind after Serve: %v", err)
		}
	})
	return s
}

func echo(_ context.Context, p Peer, req Request) (any, error) {
	if req.Op == "fail" {
		return nil, errors.New("it failed")
	}
	return map[string]any{"op": req.Op, "selector": req.Selector, "uid": p.UID}, nil
}

func TestRoundTrip(t *testing.T) {
	s := serve(t, echo)
	fi, err := os.Lstat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket of mode 0600", fi.Mode())
	}
	c, err := Dial(s.Path())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Several requests on one connection, as drain --wait asks again and again.
	for range 3 {
		var got struct {
			Op, Selector string
			UID          int
		}
		if err := c.Do(ctx, Request{Op: "admin", Selector: "web/rs1"}, &got); err != nil {
			t.Fatalf("Do: %v", err)
		}
		if got.Op != "admin" || got.Selector != "web/rs1" || got.UID != os.Geteuid() {
			t.Errorf("result %+v, want the request back with uid %d", got, os.Geteuid())
		}
	}
	if err := c.Do(ctx, Request{Op: "fail"}, nil); err == nil || err.Error() != "it failed" {
		t.Errorf("Do of a failing request: %v, want the handler's error", err)
	}
}

// raw sends one line and returns the answer's error.
func raw(t *testing.T, path, line string) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	var resp Response
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return resp.Error
}

func TestBadRequests(t *testing.T) {
	s := serve(t, echo)
	for _, tc := range []struct{ name, line, want string }{
		{"not json", "drain web/rs1\n", "bad request: invalid character"},
		{"unknown field", `{"op":"admin","weight":3}` + "\n", `bad request: json: unknown field "weight"`},
		{"too long", `{"op":"` + strings.Repeat("a", maxRequest) + "\"}\n", "bad request: longer than 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := raw(t, s.Path(), tc.line); !strings.HasPrefix(got, tc.want) {
				t.Errorf("error %q, want it to begin %q", got, tc.want)
			}
		})
	}
}

func TestListenInTheWay(t *testing.T) {
	dir := t.TempDir()

	// A stale socket (a vigil that died) is replaced.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s, err := Listen(stale, echo, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	s.ln.Close()

	// One another vigil serves is not taken over.
	live := serve(t, echo)
	if _, err := Listen(live.Path(), echo, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "another vigil is listening") {
		t.Errorf("Listen over a live socket: %v, want another vigil is listening", err)
	}

	// A file that is not a socket is never removed.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep"), 0o644)
	if _, err := Listen(file, echo, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a file: %v, want not a socket", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Errorf("the file in the way was changed")
	}
}

func TestDialNobodyListening(t *testing.T) {
	_, err := Dial(filepath.Join(t.TempDir(), "none.sock"))
	if err == nil || !strings.Contains(err.Error(), "no vigil is listening") || !strings.Contains(err.Error(), "global.control_socket") {
		t.Errorf("Dial: %v, want no vigil is listening and the fix", err)
	}
}

// TestUnprivileged runs a client as nobody: the socket's mode refuses it with a clear
// error, and when the mode is widened the peer check still does.
func TestUnprivileged(t *testing.T) {
	if path := os.Getenv("VIGIL_CONTROL_HELPER"); path != "" {
		c, err := Dial(path)
		if err == nil {
			err = c.Do(context.Background(), Request{Op: "admin", Selector: "web/rs1", State: "drain"}, nil)
		}
		if errors.Is(err, ErrPermission) {
			os.Stdout.WriteString("ErrPermission: ")
		}
		os.Stdout.WriteString(err.Error())
		os.Exit(0)
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux to run a client as another user")
	}
	// The test binary and the socket's directory must be reachable by nobody.
	bin := filepath.Join(t.TempDir(), "control.test")
	exe, err := os.ReadFile(must(os.Executable()))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, exe, 0o755)
	for d := filepath.Dir(bin); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	s := serve(t, func(ctx context.Context, p Peer, req Request) (any, error) {
		t.Errorf("the handler ran for uid %d", p.UID)
		return nil, nil
	})
	for d := filepath.Dir(s.Path()); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	asNobody := func() string {
		cmd := exec.Command(bin, "-test.run", "^TestUnprivileged$")
		cmd.Env = append(os.Environ(), "VIGIL_CONTROL_HELPER="+s.Path())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper: %v: %s", err, out)
		}
		return string(out)
	}
	if got := asNobody(); !strings.HasPrefix(got, "ErrPermission: ") || !strings.Contains(got, "run this as root") {
		t.Errorf("nobody connecting to the 0600 socket: %q, want ErrPermission saying to run as root", got)
	}
	os.Chmod(s.Path(), 0o666)
	if got := asNobody(); !strings.HasPrefix(got, "ErrPermission: ") || !strings.Contains(got, "uid 65534 may not control vigil") {
		t.Errorf("nobody through a widened socket: %q, want ErrPermission naming uid 65534", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
