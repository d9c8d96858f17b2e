package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// demoConfig is the quickstart: one virtual server on loopback balancing two local
// backends with HTTP checks, on the userspace data plane (no root, no IPVS).
const demoConfig = `# vigil quickstart: written by "vigil demo".
global {
  listen         = %q
  dataplane      = "userspace"
  control_socket = %q
  state_dir      = %q
}

virtual_server "demo" {
  address    = %q
  protocol   = "tcp"
  scheduler  = "rr"
  forwarding = "nat"

  real_server "rs1" {
    address = %q
    check "http" {
      path     = "/"
      interval = "1s"
      timeout  = "500ms"
      rise     = 2
      fall     = 2
    }
  }
  real_server "rs2" {
    address = %q
    check "http" {
      path     = "/"
      interval = "1s"
      timeout  = "500ms"
      rise     = 2
      fall     = 2
    }
  }
}
`

// cmdDemo starts two demo backends and vigil in front of them, shows traffic alternating,
// and keeps running until interrupted.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vip := fs.String("vip", "127.0.0.1:18080", "address of the demo virtual server")
	backends := fs.String("backends", "127.0.0.1:18081,127.0.0.1:18082", "addresses of the two demo backends")
	listen := fs.String("listen", "127.0.0.1:9110", "address of /status and /metrics")
	requests := fs.Int("requests", 6, "requests to send through the virtual server once it is up")
	once := fs.Bool("once", false, "exit after showing the requests (for scripts and tests)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vigil demo [flags]\n\n"+
			"Start two demo web backends and vigil in front of them on loopback, with the userspace\n"+
			"data plane: no root and no kernel IPVS needed. Stop a backend (kill its PID) and watch\n"+
			"its weight drop to 0 in `vigil status`; SIGUSR1 to the demo restarts it. Ctrl-C, SIGTERM\n"+
			"or a hangup stops vigil and the backends and frees their ports.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	addrs := strings.Split(*backends, ",")
	if len(addrs) != 2 {
		fmt.Fprintln(stderr, "vigil demo: --backends takes two addresses")
		return 2
	}
	if err := runDemo(*vip, addrs, *listen, *requests, *once, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "vigil demo: %v\n", err)
		return 1
	}
	return 0
}

// demoChild is a process the demo started: vigil run or a backend. Each is waited for by
// its own goroutine, so one that dies is reaped at once (no zombie), and runs in its own
// process group with a parent-death signal, so the terminal's signals reach only the
// demo (which stops its children in order) and a demo killed outright takes its children
// with it.
type demoChild struct {
	name string
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed once reaped; err is then set
	err  error
}

func startChild(self, name string, stdout, stderr io.Writer, exited chan<- *demoChild, args ...string) (*demoChild, error) {
	c := &demoChild{name: name, args: args, done: make(chan struct{})}
	c.cmd = exec.Command(self, args...)
	c.cmd.Stdout, c.cmd.Stderr = stdout, stderr
	c.cmd.SysProcAttr = demoChildAttr()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
		exited <- c
	}()
	return c, nil
}

// alive reports whether c has not exited.
func (c *demoChild) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// stop ends c with SIGTERM, then SIGKILL after grace, and waits until it is reaped.
func (c *demoChild) stop(grace time.Duration) {
	if !c.alive() {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		c.cmd.Process.Kill()
		<-c.done
	}
}

func runDemo(vip string, backends []string, listen string, requests int, once bool, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The demo ends on Ctrl-C, SIGTERM and a hangup of its terminal alike; SIGUSR1
	// restarts the backends that were stopped.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	dir, err := os.MkdirTemp("", "vigil-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	exited := make(chan *demoChild, 8)
	var director *demoChild
	rs := make([]*demoChild, len(backends))
	// Stopped in order: vigil first (no traffic to a backend that is going), then the
	// backends; the deferred stop runs however the demo ends.
	defer func() {
		if director != nil {
			director.stop(10 * time.Second)
		}
		for _, c := range rs {
			if c != nil {
				c.stop(5 * time.Second)
			}
		}
	}()
	for i, a := range backends {
		name := fmt.Sprintf("rs%d", i+1)
		c, err := startChild(self, name, nil, stderr, exited, "demo-backend", name, a)
		if err != nil {
			return err
		}
		rs[i] = c
		fmt.Fprintf(stdout, "backend %s on %s (pid %d)\n", name, a, c.cmd.Process.Pid)
	}

	path := filepath.Join(dir, "vigil.hcl")
	if err := os.WriteFile(path, fmt.Appendf(nil, demoConfig, listen, filepath.Join(dir, "vigil.sock"), filepath.Join(dir, "state"), vip, backends[0], backends[1]), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "vigil.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	if director, err = startChild(self, "vigil", logf, logf, exited, "run", "-f", path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vigil on %s (pid %d), balancing %s with rr; log: %s\n", vip, director.cmd.Process.Pid, strings.Join(backends, " "), logPath)

	// handle answers what arrives while the demo waits: it returns done (and the error)
	// when the demo is to end.
	handle := func(sig os.Signal, c *demoChild) (done bool, err error) {
		switch {
		case sig == syscall.SIGUSR1:
			for i, b := range rs {
				if !b.alive() {
					if rs[i], err = startChild(self, b.name, nil, stderr, exited, b.args...); err != nil {
						return true, err
					}
					fmt.Fprintf(stdout, "backend %s restarted (pid %d)\n", b.name, rs[i].cmd.Process.Pid)
				}
			}
			return false, nil
		case sig != nil:
			fmt.Fprintf(stdout, "%s: stopping vigil and the backends\n", sig)
			return true, nil
		case c == director:
			log, _ := os.ReadFile(logPath)
			return true, fmt.Errorf("vigil exited: %v\n%s", c.err, log)
		default:
			fmt.Fprintf(stdout, "backend %s (pid %d) stopped: %v; restart it with: kill -USR1 %d\n", c.name, c.cmd.Process.Pid, c.err, os.Getpid())
			return false, nil
		}
	}

	fmt.Fprintf(stdout, "waiting for both backends to pass their health checks...\n")
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case sig := <-sigs:
			if done, err := handle(sig, nil); done {
				return err
			}
		case c := <-exited:
			if done, err := handle(nil, c); done {
				return err
			}
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("the backends did not come up within 30s")
		}
		if who, err := demoGet(client, vip); err == nil {
			seen[who] = true
		}
		time.Sleep(200 * time.Millisecond)
	}
	for range requests {
		who, err := demoGet(client, vip)
		if err != nil {
			who = "error: " + err.Error()
		}
		fmt.Fprintf(stdout, "  curl http://%s/  ->  %s\n", vip, who)
	}
	if once {
		return nil
	}
	fmt.Fprintf(stdout, "\nTry it:\n")
	for _, l := range [][2]string{
		{"curl http://" + vip + "/", "alternates between rs1 and rs2"},
		{"vigil status --addr " + listen, "health, weights, connections"},
		{fmt.Sprintf("kill %d", rs[0].cmd.Process.Pid), "stop rs1: within ~3s its weight is 0 in vigil status"},
		{fmt.Sprintf("kill -USR1 %d", os.Getpid()), "restart the stopped backends: rs1 is back within ~3s"},
	} {
		fmt.Fprintf(stdout, "  %-36s # %s\n", l[0], l[1])
	}
	fmt.Fprintf(stdout, "Press Ctrl-C to stop.\n")
	for {
		var done bool
		var err error
		select {
		case sig := <-sigs:
			done, err = handle(sig, nil)
		case c := <-exited:
			done, err = handle(nil, c)
		}
		if done {
			return err
		}
	}
}

func demoGet(c *http.Client, vip string) (string, error) {
	resp, err := c.Get("http://" + vip + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// cmdDemoBackend is one demo backend: a web server that answers its name.
func cmdDemoBackend(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "Usage: vigil demo-backend NAME ADDRESS")
		return 2
	}
	name, addr := args[0], args[1]
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "vigil demo-backend %s: %v\n", name, err)
		return 1
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s\n", name)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "vigil demo-backend %s: %v\n", name, err)
		return 1
	}
	return 0
}
