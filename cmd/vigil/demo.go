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
  listen    = %q
  dataplane = "userspace"
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
			"its weight drop to 0 in `vigil status`.\n\nFlags:\n")
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

func runDemo(vip string, backends []string, listen string, requests int, once bool, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vigil-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var children []*exec.Cmd
	defer func() {
		for _, c := range children {
			c.Process.Signal(syscall.SIGTERM)
			c.Wait()
		}
	}()
	for i, a := range backends {
		name := fmt.Sprintf("rs%d", i+1)
		c := exec.Command(self, "demo-backend", name, a)
		c.Stderr = stderr
		if err := c.Start(); err != nil {
			return fmt.Errorf("start backend %s: %w", name, err)
		}
		children = append(children, c)
		fmt.Fprintf(stdout, "backend %s on %s (pid %d)\n", name, a, c.Process.Pid)
	}

	path := filepath.Join(dir, "vigil.hcl")
	if err := os.WriteFile(path, fmt.Appendf(nil, demoConfig, listen, vip, backends[0], backends[1]), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "vigil.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	director := exec.Command(self, "run", "-f", path)
	director.Stdout, director.Stderr = logf, logf
	if err := director.Start(); err != nil {
		return fmt.Errorf("start vigil: %w", err)
	}
	children = append([]*exec.Cmd{director}, children...) // stopped first
	exited := make(chan error, 1)
	go func() { exited <- director.Wait() }()
	fmt.Fprintf(stdout, "vigil on %s (pid %d), balancing %s with rr; log: %s\n", vip, director.Process.Pid, strings.Join(backends, " "), logPath)

	fmt.Fprintf(stdout, "waiting for both backends to pass their health checks...\n")
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("vigil exited: %v\n%s", err, log)
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
		{fmt.Sprintf("kill %d", children[1].Process.Pid), "stop rs1: within ~3s its weight is 0 in vigil status"},
	} {
		fmt.Fprintf(stdout, "  %-36s # %s\n", l[0], l[1])
	}
	fmt.Fprintf(stdout, "Press Ctrl-C to stop.\n")

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case <-sigs:
	case err := <-exited:
		return fmt.Errorf("vigil exited: %v (log: %s)", err, logPath)
	}
	return nil
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
