// Package mariadbtest runs throw-away MariaDB servers (mariadbd) for tests that need a real
// MySQL peer.
//
// A datadir is made once by mariadb-install-db (Install, 2-5 s) and copied for every
// server (0.2 s, docs/reference.md); a server runs with --no-defaults, as root, with an
// init file that creates the users the test needs before the first connection is
// accepted. Options.Command and Options.Dial let a server run inside a network
// namespace (netlab's Host.Command and Host.Dial), as the VM tests do.
package mariadbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testing/testenv"
)

// Require skips (or fails under CI) a test on a machine without MariaDB, and skips it
// under -short.
func Require(t testing.TB) {
	t.Helper()
	testenv.RequireBinary(t, "mariadbd")
	testenv.RequireBinary(t, "mariadb-install-db")
	testenv.Short(t, "starts MariaDB")
}

// Install makes a fresh datadir in dir with mariadb-install-db. InnoDB's files are kept
// small (a 20 MB datadir instead of 80 MB) so that copies of it are cheap, also inside a
// VM's initramfs.
func Install(dir string) error {
	cmd := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+dir, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
		"--innodb-log-file-size=4M", "--innodb-data-file-path=ibdata1:4M:autoextend",
		"--innodb-autoextend-increment=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb-install-db --datadir=%s: %w\n%s", dir, err, out)
	}
	return nil
}

// Options configure a Server.
type Options struct {
	// Dir is the server's own directory: its datadir copy, socket, pid file and log.
	Dir string
	// Template is a datadir made by Install, copied into Dir/data.
	Template string
	// Addr is where mariadbd listens (--bind-address, --port) and what Start dials to
	// know it is ready. Bind 0.0.0.0 to accept connections to every local address, as a
	// DR real server must (the VIP on lo).
	Addr netip.AddrPort
	// ReadyAddr, when valid, is dialled instead of Addr to wait for readiness.
	ReadyAddr netip.AddrPort
	// InitSQL runs at every start before the first connection is accepted.
	InitSQL string
	// Args are extra mariadbd arguments, e.g. --server-id=21.
	Args []string
	// Command builds the mariadbd command (default exec.Command).
	Command func(name string, args ...string) *exec.Cmd
	// Dial connects to the server to test readiness (default net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// StartTimeout bounds a start (default 60 s).
	StartTimeout time.Duration
}

// Server is one mariadbd process, stopped and started at will over the same datadir.
type Server struct {
	opts Options
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// New copies the template into opts.Dir, writes the init file and starts the server.
func New(opts Options) (*Server, error) {
	if opts.Command == nil {
		opts.Command = exec.Command
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if !opts.ReadyAddr.IsValid() {
		opts.ReadyAddr = opts.Addr
	}
	if err := copyDir(filepath.Join(opts.Dir, "data"), opts.Template); err != nil {
		return nil, fmt.Errorf("copy MariaDB datadir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, "init.sql"), []byte(opts.InitSQL), 0o600); err != nil {
		return nil, err
	}
	s := &Server{opts: opts}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() netip.AddrPort { return s.opts.Addr }

// Start runs mariadbd and waits until it accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.opts.Dir
	args := append([]string{"--no-defaults", "--user=root", "--datadir=" + d + "/data",
		"--port=" + strconv.Itoa(int(s.opts.Addr.Port())), "--bind-address=" + s.opts.Addr.Addr().String(),
		"--socket=" + d + "/mysqld.sock", "--pid-file=" + d + "/mysqld.pid", "--log-error=" + d + "/error.log",
		"--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=16M",
		"--innodb-log-file-size=4M", "--innodb-data-file-path=ibdata1:4M:autoextend", "--innodb-autoextend-increment=1",
		"--innodb-flush-log-at-trx-commit=0", "--init-file=" + d + "/init.sql"}, s.opts.Args...)
	cmd := s.opts.Command("mariadbd", args...)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(s.opts.StartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("mariadbd exited during start:\n%s", s.log())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := s.opts.Dial(ctx, "tcp", s.opts.ReadyAddr.String())
		cancel()
		if err == nil {
			// The server greets first: a greeting means it accepts connections.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("mariadbd did not accept connections on %s within %s:\n%s", s.opts.ReadyAddr, s.opts.StartTimeout, s.log())
}

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.opts.Dir, "error.log"))
	return string(b)
}

// Kill ends mariadbd at once (SIGKILL, a crash) and waits until it has exited.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Signal sends sig to the running mariadbd (e.g. SIGSTOP to hang it).
func (s *Server) Signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// copyDir copies the regular files and directories under src into dst.
func copyDir(dst, src string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o700)
		}
		if !d.Type().IsRegular() {
			return errors.New("unexpected non-regular file " + p)
		}
		return copyFile(out, p)
	})
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o660)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// FreeLoopbackAddr returns 127.0.0.1 with a port that was free a moment ago.
func FreeLoopbackAddr() (netip.AddrPort, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort(), nil
}

// StartLoopback installs a datadir under dir and starts a server on 127.0.0.1 at a free
// port: the throw-away MariaDB of a package's tests.
func StartLoopback(dir, initSQL string) (*Server, error) {
	tmpl := filepath.Join(dir, "template")
	if err := Install(tmpl); err != nil {
		return nil, err
	}
	addr, err := FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	return New(Options{Dir: filepath.Join(dir, "server"), Template: tmpl, Addr: addr, InitSQL: initSQL})
}
